// cmd_synth.cpp: `mcomp synth --config <config.json|preset> --out DIR` — a model with random
// weights in Hugging Face layout, for benchmarks and tests at real sizes (compress/synth.hpp).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "cli.hpp"
#include "compress/report.hpp"
#include "compress/run_pipeline.hpp"
#include "compress/synth.hpp"

namespace mcomp::cli {

namespace {

struct SynthArgs {
    std::string config;
    std::string out;
    std::string dtype = "bf16";
    std::uint64_t seed = 0;
    bool force = false;
    double max_shard_gb = 5.0;
};

int run_synth(const SynthArgs& args) {
    Expected<DType> dtype = compress::parse_dense_dtype(args.dtype);
    if (!dtype) {
        return report(dtype.error());
    }
    compress::SynthOptions options;
    options.config = args.config;
    options.out = args.out;
    options.dtype = *dtype;
    options.seed = args.seed;
    options.force = args.force;
    options.max_shard_bytes = static_cast<std::size_t>(args.max_shard_gb * 1e9);
    Expected<compress::SynthResult> result = compress::synthesize_model(options);
    if (!result) {
        return report(result.error());
    }
    fmt::print("wrote {}: {} parameters, {} of weights in {:.1f} s\n", args.out, result->params,
               compress::format_bytes(static_cast<double>(result->weight_bytes)), result->seconds);
    return kExitOk;
}

}  // namespace

void register_command_synth(CLI::App& app, Context& context) {
    auto args = std::make_shared<SynthArgs>();
    std::string presets;
    for (const std::string& name : compress::synth_preset_names()) {
        if (!presets.empty()) {
            presets += ", ";
        }
        presets += name;
    }
    CLI::App* synth = app.add_subcommand(
        "synth", "Write a Llama-family model with random weights (Hugging Face layout)");
    synth->add_option("--config", args->config, "config.json file or preset: " + presets)
        ->required();
    synth->add_option("--out", args->out, "Output folder")->required();
    synth->add_option("--dtype", args->dtype, "f32 | f16 | bf16")
        ->capture_default_str()
        ->check(CLI::IsMember({"f32", "f16", "bf16", "float32", "float16", "bfloat16"}));
    synth->add_option("--seed", args->seed, "Seed of the weights")->capture_default_str();
    synth->add_option("--max-shard-gb", args->max_shard_gb, "Shard size limit in GB")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    synth->add_flag("--force", args->force, "Replace an existing output folder");
    synth->callback([&context, args] { context.action = [args] { return run_synth(*args); }; });
}

}  // namespace mcomp::cli
