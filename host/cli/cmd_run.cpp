// cmd_run.cpp: `mcomp run <pipeline.toml>` — validates the pipeline; running it is the
// compression engine's job, which is not part of this build yet.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "cli.hpp"

namespace mcomp::cli {

namespace {

int run_pipeline(Context& context, const std::string& path) {
    Expected<Pipeline> pipeline = load_pipeline(context, path);
    if (!pipeline) {
        return report(pipeline.error());
    }
    fmt::print(stderr, "{} is valid ({} stage(s)):\n{}", pipeline->path.string(),
               pipeline->stages.size(), describe_stages(*pipeline));
    return report(make_error(ErrorKind::unsupported,
                             "the compression engine is not available in this build yet; "
                             "'mcomp run' only validates the pipeline for now"));
}

}  // namespace

void register_command_run(CLI::App& app, Context& context) {
    auto path = std::make_shared<std::string>();
    CLI::App* run = app.add_subcommand("run", "Run a compression pipeline");
    run->add_option("pipeline", *path, "pipeline.toml")->required();
    run->callback([&context, path] {
        context.action = [&context, path] { return run_pipeline(context, *path); };
    });
}

}  // namespace mcomp::cli
