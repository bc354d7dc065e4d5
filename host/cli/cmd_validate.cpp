// cmd_validate.cpp: `mcomp validate <file>` — checks a plugin manifest or a pipeline, deciding
// by content (core/manifest.hpp is_plugin_manifest_file).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "cli.hpp"
#include "core/manifest.hpp"
#include "core/pipeline.hpp"

namespace mcomp::cli {

Expected<Pipeline> load_pipeline(Context& context, const std::string& path) {
    const Registry& registry = context.registry();
    Expected<Pipeline> pipeline =
        parse_pipeline(path, registry.plugins(), registry.broken().size());
    if (!pipeline) {
        return pipeline.error();
    }
    const Status inputs = check_pipeline_inputs(*pipeline);
    if (!inputs) {
        return inputs.error();
    }
    return pipeline;
}

std::string describe_stages(const Pipeline& pipeline) {
    std::string out;
    for (std::size_t i = 0; i < pipeline.stages.size(); ++i) {
        const PipelineStage& stage = pipeline.stages[i];
        std::string params;
        for (const auto& [name, value] : stage.params.values()) {
            params += (params.empty() ? "" : ", ") + name + "=" + format_param_value(value);
        }
        out += fmt::format("  stage {}: {} (plugin '{}'; {}) on {}\n", i + 1, stage.use,
                           stage.plugin_id, params.empty() ? "no params" : params,
                           device_request_name(stage.device));
    }
    return out;
}

namespace {

int validate_plugin(const std::string& path) {
    Expected<PluginManifest> manifest = parse_plugin_manifest(path);
    if (!manifest) {
        return report(manifest.error());
    }
    fmt::print("ok: {} is a valid plugin manifest\n", manifest->path.string());
    fmt::print("  plugin {} {} (min host ABI {})\n", manifest->id, manifest->version,
               format_abi_version(manifest->min_host_abi));
    for (const TechniqueManifest& technique : manifest->techniques) {
        fmt::print("  technique {} ({}, {}), {} param(s)\n", technique.id,
                   technique_kind_name(technique.kind), granularity_name(technique.granularity),
                   technique.params.size());
    }
    for (const BackendManifest& backend : manifest->backends) {
        std::error_code ec;
        const bool built = std::filesystem::exists(backend.library_path, ec);
        fmt::print("  backend {}: {}{}\n", device_kind_name(backend.device),
                   backend.library_path.string(), built ? "" : " (not built)");
    }
    return kExitOk;
}

int validate_pipeline(Context& context, const std::string& path) {
    Expected<Pipeline> pipeline = load_pipeline(context, path);
    if (!pipeline) {
        return report(pipeline.error());
    }
    fmt::print("ok: {} is a valid pipeline\n", pipeline->path.string());
    fmt::print("  model: {}\n",
               pipeline->model.id.empty() ? pipeline->model.path.string() : pipeline->model.id);
    fmt::print("{}", describe_stages(*pipeline));
    fmt::print("  output: {} ({})\n", pipeline->output.dir.string(),
               fmt::join(pipeline->output.formats, ", "));
    return kExitOk;
}

int run_validate(Context& context, const std::string& path) {
    Expected<bool> is_plugin = is_plugin_manifest_file(path);
    if (!is_plugin) {
        return report(is_plugin.error());
    }
    return *is_plugin ? validate_plugin(path) : validate_pipeline(context, path);
}

}  // namespace

void register_command_validate(CLI::App& app, Context& context) {
    auto path = std::make_shared<std::string>();
    CLI::App* validate = app.add_subcommand(
        "validate",
        "Check a pipeline or a plugin manifest (a file with [plugin], [[technique]] or "
        "[[backend]], or named plugin.toml, is a plugin manifest)");
    validate->add_option("file", *path, "pipeline.toml or plugin.toml")->required();
    validate->callback([&context, path] {
        context.action = [&context, path] { return run_validate(context, *path); };
    });
}

}  // namespace mcomp::cli
