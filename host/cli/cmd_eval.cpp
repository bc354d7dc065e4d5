// cmd_eval.cpp: `mcomp eval --model <path|id> --text <file>` — perplexity of any model folder
// mcomp reads (dense, or the GPTQ / AWQ / compressed-tensors checkpoints it writes), with the
// standard protocol (compress/evaluate.hpp).
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

#include "cli.hpp"
#include "compress/evaluate.hpp"
#include "compress/model_reader.hpp"
#include "compress/progress.hpp"
#include "core/host_services.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp::cli {

namespace {

struct EvalArgs {
    std::string model;
    std::string text;
    std::int64_t seqlen = 2048;
    std::string device = "cpu";
    std::int64_t max_windows = 0;  // 0: all
    bool json = false;
};

int run_eval(const EvalArgs& args) {
    Expected<DeviceRequest> device = parse_device_request(args.device);
    if (!device) {
        return report(device.error());
    }
    Expected<CommandLineModel> loaded = open_command_line_model(args.model);
    if (!loaded) {
        return report(loaded.error());
    }
    const std::string& dir = loaded->dir;
    const compress::OpenedModel& model = loaded->opened;
    const Tokenizer& tokenizer = loaded->tokenizer;
    compress::EvalOptions options;
    options.seqlen = args.seqlen;
    options.device = *device;
    if (args.max_windows > 0) {
        options.max_windows = args.max_windows;
    }
    compress::Progress progress(compress::detect_progress_mode(args.json));
    Expected<PerplexityResult> result =
        compress::evaluate_text(*model.checkpoint, tokenizer, args.text, options, &progress);
    if (!result) {
        return report(result.error());
    }
    const double tokens_per_s =
        result->seconds > 0.0 ? static_cast<double>(result->tokens) / result->seconds : 0.0;
    if (args.json) {
        const nlohmann::json out = {{"model", dir},
                                    {"format", model.format},
                                    {"text", args.text},
                                    {"seqlen", args.seqlen},
                                    {"ppl", result->ppl},
                                    {"mean_nll", result->mean_nll},
                                    {"tokens", result->tokens},
                                    {"windows", result->windows},
                                    {"seconds", result->seconds},
                                    {"tokens_per_s", tokens_per_s}};
        fmt::print("{}\n", out.dump(2));
        return kExitOk;
    }
    fmt::print(
        "model    {} ({})\ntext     {}\nppl      {:.4f}\ntokens   {} ({} windows of {})\n"
        "speed    {:.0f} tokens/s ({:.2f} s)\n",
        dir, model.format, args.text, result->ppl, result->tokens, result->windows, args.seqlen,
        tokens_per_s, result->seconds);
    return kExitOk;
}

}  // namespace

void register_command_eval(CLI::App& app, Context& context) {
    (void)context;
    auto args = std::make_shared<EvalArgs>();
    CLI::App* eval = app.add_subcommand(
        "eval", "Perplexity of a model (dense or quantized) on a text, standard protocol");
    eval->add_option("--model", args->model, "Model folder or Hugging Face id")->required();
    eval->add_option("--text", args->text, "Text file (tokenized whole, BOS once)")
        ->required()
        ->check(CLI::ExistingFile);
    eval->add_option("--seqlen", args->seqlen, "Window length in tokens")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{2}, std::int64_t{1} << 20));
    eval->add_option("--device", args->device, "auto | cpu | cuda")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    eval->add_option("--max-windows", args->max_windows, "Evaluate only the first K windows")
        ->check(CLI::PositiveNumber);
    eval->add_flag("--json", args->json, "Print the result as JSON");
    eval->callback([&context, args] { context.action = [args] { return run_eval(*args); }; });
}

}  // namespace mcomp::cli
