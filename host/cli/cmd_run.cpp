// cmd_run.cpp: `mcomp run <pipeline.toml>` — validates the pipeline and runs it with the
// compression engine (compress/run_pipeline.hpp): calibration, the block-sequential stages,
// the output formats, perplexity before and after, report.json + report.md. An interrupted
// run (Ctrl-C, a kill) continues where it stopped when started again.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "compress/report.hpp"
#include "compress/run_pipeline.hpp"

namespace mcomp::cli {

namespace {

struct RunArgs {
    std::string path;
    std::string output;
    bool force = false;
    bool fresh = false;
    bool no_true_sequential = false;
    std::string dtype;
    std::vector<std::string> formats;
    std::int64_t max_windows = 0;
    double max_shard_gb = 5.0;
    bool keep_work = false;
    bool technique_weights = false;
    bool quiet = false;
    bool json = false;
};

int run_pipeline(Context& context, const RunArgs& args) {
    Expected<Pipeline> pipeline = load_pipeline(context, args.path);
    if (!pipeline) {
        return report(pipeline.error());
    }
    if (!args.output.empty()) {
        pipeline->output.dir = std::filesystem::absolute(args.output).lexically_normal();
    }
    compress::RunOptions options;
    options.force = args.force;
    options.fresh = args.fresh;
    options.true_sequential = pipeline->calibration.true_sequential && !args.no_true_sequential;
    options.formats = args.formats;
    options.keep_work = args.keep_work;
    options.technique_weights_downstream = args.technique_weights;
    options.max_shard_bytes = static_cast<std::size_t>(args.max_shard_gb * 1e9);
    if (args.max_windows > 0) {
        options.eval_max_windows = args.max_windows;
    }
    if (!args.dtype.empty()) {
        Expected<DType> dtype = compress::parse_dense_dtype(args.dtype);
        if (!dtype) {
            return report(dtype.error());
        }
        options.dtype = *dtype;
    }
    if (args.quiet) {
        spdlog::set_level(spdlog::level::warn);
    }
    options.progress =
        compress::detect_progress_mode(args.quiet || spdlog::get_level() > spdlog::level::info);
    Expected<nlohmann::json> result =
        compress::run_pipeline(*pipeline, context.registry(), options);
    if (!result) {
        return report(result.error());
    }
    if (args.json) {
        fmt::print("{}\n", result->dump(2));
    } else if (!args.quiet) {
        fmt::print("{}", compress::summarize_report(*result));
    }
    return kExitOk;
}

}  // namespace

void register_command_run(CLI::App& app, Context& context) {
    auto args = std::make_shared<RunArgs>();
    CLI::App* run = app.add_subcommand("run", "Run a compression pipeline");
    run->add_option("pipeline", args->path, "pipeline.toml")->required();
    run->add_option("-o,--output", args->output, "Output folder, overriding [output] dir");
    run->add_flag("--force", args->force, "Replace an existing output folder");
    run->add_flag("--fresh", args->fresh, "Ignore the saved state of an interrupted run");
    run->add_flag("--no-true-sequential", args->no_true_sequential,
                  "Compress all linears of a block from the same inputs");
    run->add_option("--dtype", args->dtype,
                    "Dense tensors: f32 | f16 | bf16 (default: the model's)")
        ->check(CLI::IsMember({"f32", "f16", "bf16", "float32", "float16", "bfloat16"}));
    run->add_option("--format", args->formats,
                    "Output format(s), overriding [output] formats: dense, gptq, gptq_v2, awq, "
                    "compressed-tensors, sparse-24-bitmask");
    run->add_option("--max-windows", args->max_windows,
                    "Evaluate only the first K windows of each [eval] text")
        ->check(CLI::PositiveNumber);
    run->add_option("--max-shard-gb", args->max_shard_gb, "Shard size limit of the weights in GB")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    run->add_flag("--keep-work", args->keep_work, "Keep the work folder after success");
    run->add_flag("--technique-weights-downstream", args->technique_weights,
                  "Later layers see the technique's weights (fp32 scales, as the reference "
                  "scripts), not the fp16-scale weights a packed format stores");
    run->add_flag("--quiet", args->quiet, "No progress, only warnings and errors");
    run->add_flag("--json", args->json, "Print report.json on stdout");
    run->callback([&context, args] {
        context.action = [&context, args] { return run_pipeline(context, *args); };
    });
}

}  // namespace mcomp::cli
