// cmd_plugins.cpp: `mcomp plugins list | show <id> | test <id>` — what is installed, what a
// plugin offers, and a smoke test that runs each technique once on a small random layer.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli.hpp"
#include "core/layer_runner.hpp"
#include "core/params.hpp"
#include "core/registry.hpp"

namespace mcomp::cli {

namespace {

// ---- shared ---------------------------------------------------------------------------------

std::string backends_line(const Registry& registry, const PluginManifest& plugin) {
    std::vector<std::string> parts;
    for (const BackendManifest& backend : plugin.backends) {
        parts.push_back(
            describe_backend(backend.device, registry.backend_state(plugin, backend.device)));
    }
    std::string out;
    for (const std::string& part : parts) {
        out += (out.empty() ? "" : ", ") + part;
    }
    return out;
}

// The plugin, or the error naming why it is not usable (broken, unknown).
Expected<const PluginManifest*> find_plugin(const Registry& registry, const std::string& id) {
    if (const PluginManifest* plugin = registry.find_plugin(id)) {
        return plugin;
    }
    if (const BrokenPlugin* broken = registry.find_broken(id)) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("plugin '{}' is broken: {}", id, broken->error));
    }
    return make_error(ErrorKind::not_found, registry.unknown_plugin_message(id));
}

// ---- list -----------------------------------------------------------------------------------

int run_list(Context& context) {
    const Registry& registry = context.registry();
    if (registry.plugins().empty() && registry.broken().empty()) {
        std::vector<std::string> dirs;
        for (const auto& dir : registry.search_dirs()) {
            dirs.push_back(dir.string());
        }
        fmt::print("no plugins found; searched: {}\n(set MCOMP_PLUGIN_PATH to add folders)\n",
                   dirs.empty() ? "(nothing)" : fmt::format("{}", fmt::join(dirs, ", ")));
        return kExitOk;
    }
    for (const PluginManifest& plugin : registry.plugins()) {
        std::vector<std::string> techniques;
        for (const TechniqueManifest& technique : plugin.techniques) {
            techniques.push_back(fmt::format("{} ({}, {})", technique.id,
                                             technique_kind_name(technique.kind),
                                             granularity_name(technique.granularity)));
        }
        fmt::print("{} {}\n", plugin.id, plugin.version);
        fmt::print("  techniques: {}\n", fmt::join(techniques, ", "));
        fmt::print("  backends:   {}\n", backends_line(registry, plugin));
        fmt::print("  manifest:   {}\n", plugin.path.string());
    }
    if (!registry.broken().empty()) {
        fmt::print("{}broken plugins ({}):\n", registry.plugins().empty() ? "" : "\n",
                   registry.broken().size());
        for (const BrokenPlugin& broken : registry.broken()) {
            const std::string name = broken.plugin_id.empty()
                                         ? broken.manifest_path.parent_path().filename().string()
                                         : broken.plugin_id;
            fmt::print("{} (broken)\n  error: {}\n", name, broken.error);
        }
    }
    return kExitOk;
}

// ---- show -----------------------------------------------------------------------------------

std::string describe_param(const ParamSpec& spec) {
    std::string line = fmt::format("{:<16} {:<6} default {}", spec.name, param_type_name(spec.type),
                                   format_param_value(spec.default_value));
    const auto bound = [&](double value) {
        return spec.type == ParamType::integer ? std::to_string(static_cast<int64_t>(value))
                                               : format_param_value(ParamValue(value));
    };
    if (spec.min) {
        line += ", min " + bound(*spec.min);
    }
    if (spec.max) {
        line += ", max " + bound(*spec.max);
    }
    if (!spec.allowed.empty()) {
        std::vector<std::string> values;
        for (const ParamValue& value : spec.allowed) {
            values.push_back(format_param_value(value));
        }
        line += fmt::format(", allowed {}", fmt::join(values, " | "));
    }
    if (!spec.description.empty()) {
        line += "  -- " + spec.description;
    }
    return line;
}

int run_show(Context& context, const std::string& id) {
    const Registry& registry = context.registry();
    Expected<const PluginManifest*> found = find_plugin(registry, id);
    if (!found) {
        return report(found.error());
    }
    const PluginManifest& plugin = **found;
    fmt::print("plugin {} {}\n", plugin.id, plugin.version);
    fmt::print("  manifest:     {}\n", plugin.path.string());
    fmt::print("  min host ABI: {}\n", format_abi_version(plugin.min_host_abi));
    fmt::print("  backends:     {}\n", backends_line(registry, plugin));
    for (const TechniqueManifest& technique : plugin.techniques) {
        fmt::print("\ntechnique {} ({}, {} granularity)\n", technique.id,
                   technique_kind_name(technique.kind), granularity_name(technique.granularity));
        fmt::print("  {}\n", technique.description);
        if (technique.params.empty()) {
            fmt::print("  params: none\n");
            continue;
        }
        fmt::print("  params:\n");
        for (const ParamSpec& spec : technique.params) {
            fmt::print("    {}\n", describe_param(spec));
        }
    }
    return kExitOk;
}

// ---- test -----------------------------------------------------------------------------------

struct TestOptions {
    std::string plugin;
    std::string technique;
    std::string device = "auto";
    std::vector<std::string> params;
    int64_t out_features = 64;
    int64_t in_features = 256;
};

// A seeded random layer: N(0, 1) weights and 4 calibration batches of 16 rows.
struct RandomLayer {
    std::vector<float> weight;
    std::vector<std::vector<float>> batches;
    LayerInput input;
};

std::unique_ptr<RandomLayer> make_random_layer(int64_t out_features, int64_t in_features) {
    auto layer = std::make_unique<RandomLayer>();
    std::mt19937 rng(0);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    layer->weight.resize(static_cast<size_t>(out_features * in_features));
    for (float& w : layer->weight) {
        w = normal(rng);
    }
    layer->batches.assign(4, std::vector<float>(static_cast<size_t>(16 * in_features)));
    for (auto& batch : layer->batches) {
        for (float& x : batch) {
            x = normal(rng);
        }
    }
    layer->input.name = "test.layer";
    layer->input.out_features = out_features;
    layer->input.in_features = in_features;
    layer->input.weight = layer->weight;
    for (const auto& batch : layer->batches) {
        layer->input.batches.emplace_back(batch);
    }
    return layer;
}

void print_result(const LayerResult& result, const RandomLayer& layer) {
    double diff_sq = 0.0;
    double ref_sq = 0.0;
    bool finite = true;
    for (size_t i = 0; i < result.weight.size(); ++i) {
        const double d = double(result.weight[i]) - double(layer.weight[i]);
        diff_sq += d * d;
        ref_sq += double(layer.weight[i]) * double(layer.weight[i]);
        finite = finite && std::isfinite(result.weight[i]);
    }
    fmt::print("    weight: relative error {:.4f} (||W' - W|| / ||W||){}\n",
               std::sqrt(diff_sq / std::max(ref_sq, 1e-30)), finite ? "" : ", NON-FINITE VALUES");
    if (result.has_mask()) {
        size_t kept = 0;
        for (const uint8_t m : result.mask) {
            kept += m != 0 ? 1 : 0;
        }
        fmt::print("    mask:   {:.2f}% kept ({} of {})\n",
                   100.0 * double(kept) / double(result.mask.size()), kept, result.mask.size());
    }
    if (result.has_quant()) {
        int max_code = 0;
        for (const uint8_t c : result.codes) {
            max_code = std::max<int>(max_code, c);
        }
        fmt::print(
            "    quant:  bits {}, group_size {}, num_groups {}, sym {}, desc_act {}, "
            "largest code {}\n",
            result.bits, result.group_size, result.num_groups, result.sym, result.desc_act,
            max_code);
    }
}

Expected<OwnedParams> test_params(const TechniqueManifest& technique,
                                  const std::vector<std::string>& assignments) {
    std::vector<ParamArg> args;
    for (const std::string& assignment : assignments) {
        Expected<ParamArg> arg = parse_param_assignment(technique, assignment);
        if (!arg) {
            return arg.error();
        }
        args.push_back(std::move(*arg));
    }
    return bind_params(technique, args);
}

// Runs one technique; returns an Error when it fails.
Status test_technique(const LoadedBackend& backend, const TechniqueManifest& technique,
                      const TestOptions& options) {
    if (technique.granularity != Granularity::layer) {
        fmt::print(
            "{}: skipped ({} granularity needs a model; only layer techniques run on a "
            "random layer)\n",
            technique.id, granularity_name(technique.granularity));
        return {};
    }
    Expected<OwnedParams> params = test_params(technique, options.params);
    if (!params) {
        return params.error();
    }
    Expected<LoadedTechnique> loaded = find_loaded_technique(backend, technique.id);
    if (!loaded) {
        return loaded.error();
    }
    std::vector<std::string> shown;
    for (const auto& [name, value] : params->values()) {
        shown.push_back(name + "=" + format_param_value(value));
    }
    fmt::print("{} ({}, layer) on {}; params: {}\n", technique.id,
               technique_kind_name(technique.kind), device_kind_name(loaded->device()),
               shown.empty() ? "none" : fmt::format("{}", fmt::join(shown, ", ")));
    const auto layer = make_random_layer(options.out_features, options.in_features);
    const auto start = std::chrono::steady_clock::now();
    Expected<LayerResult> result = run_layer(*loaded, *params, layer->input);
    const auto elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!result) {
        fmt::print("    FAILED after {:.1f} ms\n", elapsed_ms);
        return result.error();
    }
    fmt::print("    layer {}x{}, {} calibration batches of 16 rows\n", options.out_features,
               options.in_features, layer->batches.size());
    print_result(*result, *layer);
    for (const float w : result->weight) {
        if (!std::isfinite(w)) {
            return make_error(
                ErrorKind::internal,
                fmt::format("technique '{}' returned non-finite weights", technique.id));
        }
    }
    fmt::print("    ok ({:.1f} ms)\n", elapsed_ms);
    return {};
}

int run_test(Context& context, const TestOptions& options) {
    const Registry& registry = context.registry();
    Expected<const PluginManifest*> found = find_plugin(registry, options.plugin);
    if (!found) {
        return report(found.error());
    }
    const PluginManifest& plugin = **found;
    const DeviceRequest request = *parse_device_request(options.device);
    std::vector<const TechniqueManifest*> techniques;
    if (!options.technique.empty()) {
        const TechniqueManifest* technique = plugin.find_technique(options.technique);
        if (technique == nullptr) {
            std::vector<std::string> ids;
            for (const TechniqueManifest& t : plugin.techniques) {
                ids.push_back(t.id);
            }
            return report(
                make_error(ErrorKind::bad_input,
                           fmt::format("plugin '{}' has no technique '{}'; it has: {}", plugin.id,
                                       options.technique, fmt::join(ids, ", "))));
        }
        techniques.push_back(technique);
    } else {
        for (const TechniqueManifest& technique : plugin.techniques) {
            techniques.push_back(&technique);
        }
    }
    // One backend for all techniques: a library that is refused is reported once.
    Expected<const LoadedBackend*> backend = registry.load_plugin(plugin.id, request);
    if (!backend) {
        return report(backend.error());
    }
    int code = kExitOk;
    for (const TechniqueManifest* technique : techniques) {
        const Status tested = test_technique(**backend, *technique, options);
        if (!tested) {
            const int failed = report(tested.error());
            code = code == kExitOk ? failed : code;
        }
    }
    return code;
}

}  // namespace

void register_command_plugins(CLI::App& app, Context& context) {
    CLI::App* plugins = app.add_subcommand("plugins", "List, inspect and smoke-test plugins");
    plugins->require_subcommand(1);

    plugins->add_subcommand("list", "Installed plugins, their techniques and backends")
        ->callback([&context] { context.action = [&context] { return run_list(context); }; });

    auto show_id = std::make_shared<std::string>();
    CLI::App* show = plugins->add_subcommand("show", "A plugin's techniques and parameters");
    show->add_option("id", *show_id, "Plugin id")->required();
    show->callback([&context, show_id] {
        context.action = [&context, show_id] { return run_show(context, *show_id); };
    });

    auto options = std::make_shared<TestOptions>();
    CLI::App* test = plugins->add_subcommand(
        "test", "Load a plugin and run each technique once on a small random layer");
    test->add_option("id", options->plugin, "Plugin id")->required();
    test->add_option("-t,--technique", options->technique, "Only this technique");
    test->add_option("-d,--device", options->device, "auto, cpu or cuda (default auto)")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    test->add_option("-p,--param", options->params,
                     "NAME=VALUE for the technique (needs --technique); repeatable");
    test->add_option("--out-features", options->out_features, "Rows of the random layer")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
    test->add_option("--in-features", options->in_features, "Columns of the random layer")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
    test->callback([&context, options] {
        if (!options->params.empty() && options->technique.empty()) {
            throw CLI::ValidationError("--param", "--param needs --technique");
        }
        context.action = [&context, options] { return run_test(context, *options); };
    });
}

}  // namespace mcomp::cli
