// cmd_generate.cpp: `mcomp generate --model <path|id> --prompt <text>` — greedy text
// generation with the runtime's forward, on any model folder mcomp reads (dense, or the GPTQ /
// AWQ / compressed-tensors checkpoints it writes, dequantized as `mcomp eval` reads them). It
// exists so that a user (and the course's Lab 3.1) can see what quantization does to the text a
// model writes, not only to its perplexity.
//
// Greedy decoding (argmax at every step) is deterministic, so a dense and a compressed model can
// be compared token by token. There is no KV cache: every step reruns the whole sequence, which
// costs O(n^2) in the length and is meant for short continuations of small models.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "compress/evaluate.hpp"
#include "compress/model_reader.hpp"
#include "core/host_services.hpp"
#include "runtime/llama_model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp::cli {

namespace {

struct GenerateArgs {
    std::string model;
    std::string prompt;
    std::int64_t max_new_tokens = 64;
    std::string device = "cpu";
    bool no_stop_at_eos = false;
    bool json = false;
};

struct Generation {
    std::vector<std::int32_t> prompt_ids;
    std::vector<std::int32_t> new_ids;
    std::string stop_reason;  // "eos", "max_new_tokens" or "context"
    double seconds = 0.0;
};

// The id with the largest logit (the first one on a tie, as torch.argmax).
std::int32_t argmax(const std::vector<float>& logits) {
    const auto best = std::max_element(logits.begin(), logits.end());
    return static_cast<std::int32_t>(best - logits.begin());
}

// Logits of the last position of `ids` (one sequence from position 0), on the host.
Expected<std::vector<float>> last_logits(LlamaModel& model, const std::vector<std::int32_t>& ids) {
    const auto length = static_cast<std::int64_t>(ids.size());
    Expected<Tensor> hidden = model.embed(ids, 1, length);
    if (!hidden) {
        return hidden.error();
    }
    for (std::int64_t block = 0; block < model.config().num_hidden_layers; ++block) {
        Expected<BlockWeights> weights = model.load_block(block);
        if (!weights) {
            return weights.error();
        }
        MCOMP_TRY(model.run_block(block, *hidden, *hidden, *weights));
    }
    // Only the last row goes through the head: a step needs one distribution, not `length`.
    const Tensor last =
        hidden->reshaped({length, model.config().hidden_size}).slice_rows(length - 1, 1);
    Tensor logits = model.backend().alloc(DType::f32, {1, model.config().vocab_size});
    MCOMP_TRY(model.logits(last, logits));
    std::vector<float> host(static_cast<std::size_t>(model.config().vocab_size), 0.0f);
    model.backend().download(logits, host.data());
    return host;
}

Expected<Generation> generate(LlamaModel& model, const Tokenizer& tokenizer,
                              const GenerateArgs& args) {
    Generation out;
    out.prompt_ids = tokenizer.encode(args.prompt, true);
    if (out.prompt_ids.empty()) {
        return make_error(ErrorKind::bad_input,
                          "--prompt: the prompt gives no tokens and the model adds no BOS; "
                          "give a non-empty prompt");
    }
    const std::int64_t context = model.config().max_position_embeddings;
    const auto prompt_length = static_cast<std::int64_t>(out.prompt_ids.size());
    if (context > 0 && prompt_length >= context) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("--prompt: the prompt has {} tokens, the model's context "
                                      "is {} (max_position_embeddings); give a shorter prompt",
                                      prompt_length, context));
    }
    std::vector<std::int32_t> ids = out.prompt_ids;
    const auto start = std::chrono::steady_clock::now();
    out.stop_reason = "max_new_tokens";
    while (static_cast<std::int64_t>(out.new_ids.size()) < args.max_new_tokens) {
        if (context > 0 && static_cast<std::int64_t>(ids.size()) >= context) {
            out.stop_reason = "context";
            break;
        }
        if (cancel_requested()) {
            return make_error(ErrorKind::cancelled, "generation cancelled");
        }
        Expected<std::vector<float>> logits = last_logits(model, ids);
        if (!logits) {
            return logits.error();
        }
        const std::int32_t next = argmax(*logits);
        ids.push_back(next);
        out.new_ids.push_back(next);
        if (next == tokenizer.eos_id() && !args.no_stop_at_eos) {
            out.stop_reason = "eos";
            break;
        }
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

// The continuation as text: the decoded whole minus the decoded prompt when that is a prefix
// (metaspace decoders drop the leading space of a text, so decoding the new ids alone would
// lose the space between prompt and continuation).
std::string continuation_text(const Tokenizer& tokenizer, const Generation& generation,
                              const std::string& full) {
    const std::string prompt = tokenizer.decode(generation.prompt_ids, true);
    if (full.starts_with(prompt)) {
        return full.substr(prompt.size());
    }
    return tokenizer.decode(generation.new_ids, true);
}

int run_generate(const GenerateArgs& args) {
    Expected<DeviceRequest> device = parse_device_request(args.device);
    if (!device) {
        return report(device.error());
    }
    Expected<CommandLineModel> loaded = open_command_line_model(args.model);
    if (!loaded) {
        return report(loaded.error());
    }
    const std::string& dir = loaded->dir;
    const compress::OpenedModel& opened = loaded->opened;
    const Tokenizer& tokenizer = loaded->tokenizer;
    std::string chosen;
    Expected<std::unique_ptr<Backend>> backend = compress::make_backend(*device, chosen);
    if (!backend) {
        return report(backend.error());
    }
    LlamaModel model(*opened.checkpoint, **backend);
    Expected<Generation> generation = generate(model, tokenizer, args);
    if (!generation) {
        return report(generation.error());
    }
    std::vector<std::int32_t> all = generation->prompt_ids;
    all.insert(all.end(), generation->new_ids.begin(), generation->new_ids.end());
    const std::string full = tokenizer.decode(all, true);
    const std::string continuation = continuation_text(tokenizer, *generation, full);
    const auto new_tokens = static_cast<double>(generation->new_ids.size());
    const double tokens_per_s = generation->seconds > 0.0 ? new_tokens / generation->seconds : 0.0;
    if (args.json) {
        const nlohmann::json out = {{"model", dir},
                                    {"format", opened.format},
                                    {"device", chosen},
                                    {"prompt", args.prompt},
                                    {"prompt_ids", generation->prompt_ids},
                                    {"new_ids", generation->new_ids},
                                    {"continuation", continuation},
                                    {"text", full},
                                    {"stop_reason", generation->stop_reason},
                                    {"seconds", generation->seconds},
                                    {"tokens_per_s", tokens_per_s}};
        fmt::print("{}\n", out.dump(2));
        return kExitOk;
    }
    fmt::print("{}\n", full);
    spdlog::info("{} new token(s) in {:.3f} s ({:.1f} tokens/s, {}, greedy on {}); stopped: {}",
                 generation->new_ids.size(), generation->seconds, tokens_per_s, opened.format,
                 chosen, generation->stop_reason);
    return kExitOk;
}

}  // namespace

void register_command_generate(CLI::App& app, Context& context) {
    (void)context;
    auto args = std::make_shared<GenerateArgs>();
    CLI::App* generate = app.add_subcommand(
        "generate", "Continue a prompt with greedy decoding (dense or quantized model)");
    generate->add_option("--model", args->model, "Model folder or Hugging Face id")->required();
    generate
        ->add_option("--prompt", args->prompt,
                     "Text to continue (BOS is added as the tokenizer's configuration asks)")
        ->required();
    generate->add_option("--max-new-tokens", args->max_new_tokens, "Tokens to generate at most")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
    generate->add_option("--device", args->device, "auto | cpu | cuda")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    generate->add_flag("--no-stop-at-eos", args->no_stop_at_eos,
                       "Keep generating after the end-of-sequence token");
    generate->add_flag("--json", args->json,
                       "Print the prompt and new token ids, the text and the speed as JSON");
    generate->callback(
        [&context, args] { context.action = [args] { return run_generate(*args); }; });
}

}  // namespace mcomp::cli
