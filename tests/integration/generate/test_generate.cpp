// test_generate.cpp: `mcomp generate` on the shared TinyStories-656K. Every new token of a
// greedy continuation must be the argmax of the runtime's logits at the position before it when
// the whole sequence (prompt + continuation) runs through one forward pass — on the dense model
// and on a packed GPTQ checkpoint written by `mcomp run` (read back as `mcomp eval` reads it).
// Also: determinism, the stop at the model's context, and the messages of bad command lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compress/model_reader.hpp"
#include "compress_test_util.hpp"
#include "process_util.hpp"
#include "runtime/cpu_backend.hpp"
#include "runtime/llama_model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp::test {
namespace {

using nlohmann::json;

constexpr const char* kPrompt = "Once upon a time, there was a little girl named Lily.";

json generate_json(const std::vector<std::string>& extra, const ScratchDir& scratch) {
    std::vector<std::string> args = {"generate", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const ProcessResult run = run_mcomp(args, scratch / "generate.log");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    const std::size_t start = run.output.find('{');
    if (run.exit_code != 0 || start == std::string::npos) {
        return json::object();
    }
    // The log goes to the same file as the JSON; the JSON is the last thing printed.
    return json::parse(run.output.substr(start));
}

// Runs prompt + continuation through one forward pass of `model_dir` and checks that every new
// token is the argmax at the position before it (up to a tie margin: the step-by-step forward
// sees shorter sequences, whose sums may round differently).
void expect_greedy(const std::string& model_dir, const json& out) {
    const auto prompt = out["prompt_ids"].get<std::vector<std::int32_t>>();
    const auto fresh = out["new_ids"].get<std::vector<std::int32_t>>();
    ASSERT_FALSE(prompt.empty());
    ASSERT_FALSE(fresh.empty());
    std::vector<std::int32_t> ids = prompt;
    ids.insert(ids.end(), fresh.begin(), fresh.end() - 1);
    Expected<compress::OpenedModel> opened = compress::open_model(model_dir);
    ASSERT_TRUE(opened) << opened.error().message;
    CpuBackend backend;
    LlamaModel model(*opened->checkpoint, backend);
    const auto length = static_cast<std::int64_t>(ids.size());
    Expected<Tensor> logits = model.forward(ids, 1, length);
    ASSERT_TRUE(logits) << logits.error().message;
    const std::int64_t vocab = model.config().vocab_size;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
        const float* row = logits->f32() + (prompt.size() - 1 + i) * vocab;
        const float best = *std::max_element(row, row + vocab);
        EXPECT_GE(row[fresh[i]], best - 1e-4f)
            << "new token " << i << " (id " << fresh[i] << ") is not the argmax";
    }
}

TEST(Generate, DenseContinuationIsGreedyAndDeterministic) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("generate-dense");
    const std::vector<std::string> args = {"--model", shared_model_dir(), "--prompt",
                                           kPrompt,   "--max-new-tokens", "40"};
    const json out = generate_json(args, scratch);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out["format"], "dense");
    EXPECT_EQ(out["device"], "cpu");
    EXPECT_EQ(out["prompt_ids"][0], 1) << "BOS first";
    const std::size_t count = out["new_ids"].size();
    EXPECT_TRUE(count == 40 || out["stop_reason"] == "eos") << out.dump();
    const std::string text = out["text"].get<std::string>();
    EXPECT_EQ(text.rfind(kPrompt, 0), 0u) << text;
    EXPECT_EQ(text, std::string(kPrompt) + out["continuation"].get<std::string>());
    expect_greedy(shared_model_dir(), out);
    EXPECT_EQ(generate_json(args, scratch)["new_ids"], out["new_ids"]);
}

TEST(Generate, PackedGptqCheckpoint) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("generate-gptq");
    // RTN needs no calibration, so the packed checkpoint takes a fraction of a second.
    write_text(scratch / "rtn.toml",
               "[model]\npath = \"" + shared_model_dir() +
                   "\"\n[[stage]]\nuse = \"rtn\"\nparams = { bits = 4, group_size = 64 }\n"
                   "[output]\ndir = \"out\"\nformats = [\"gptq\"]\n");
    const ProcessResult run =
        run_mcomp({"run", (scratch / "rtn.toml").string(), "--quiet"}, scratch / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const std::string packed = (scratch / "out").string();
    const json out =
        generate_json({"--model", packed, "--prompt", kPrompt, "--max-new-tokens", "24"}, scratch);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out["format"], "gptq");
    expect_greedy(packed, out);
}

TEST(Generate, StopsAtTheContext) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("generate-context");
    Expected<Tokenizer> tokenizer = Tokenizer::load(shared_model_dir());
    ASSERT_TRUE(tokenizer) << tokenizer.error().message;
    // A prompt of about 500 tokens from ts_dev.txt, so that 512 is reached in a few steps.
    const std::string dev = read_text(test_data_dir() + "/data/tinystories/ts_dev.txt");
    std::string prompt;
    for (std::size_t chars = 1500; chars < dev.size(); chars += 20) {
        prompt = dev.substr(0, chars);
        if (tokenizer->encode(prompt, true).size() >= 500) {
            break;
        }
    }
    const std::size_t prompt_tokens = tokenizer->encode(prompt, true).size();
    ASSERT_GE(prompt_tokens, 500u);
    ASSERT_LT(prompt_tokens, 512u);
    const json out = generate_json({"--model", shared_model_dir(), "--prompt", prompt,
                                    "--max-new-tokens", "100", "--no-stop-at-eos"},
                                   scratch);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out["stop_reason"], "context");
    EXPECT_EQ(out["prompt_ids"].size() + out["new_ids"].size(), 512u);
}

struct BadCase {
    const char* name;
    std::vector<std::string> args;  // after "generate"; "MODEL" is the shared model
    int exit_code;
    std::string message;  // a whole line of the output
};

TEST(Generate, BadCommandLines) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("generate-bad");
    const std::string long_prompt = [] {
        std::string text;
        for (int i = 0; i < 600; ++i) {
            text += "Lily ";
        }
        return text;
    }();
    const std::vector<BadCase> cases = {
        {"zero tokens",
         {"--model", "MODEL", "--prompt", "Hi", "--max-new-tokens", "0"},
         2,
         "--max-new-tokens: Value 0 not in range 1 to 1048576"},
        {"no prompt", {"--model", "MODEL"}, 2, "--prompt is required"},
        {"missing model",
         {"--model", "/nonexistent/model", "--prompt", "Hi"},
         3,
         "mcomp: error: /nonexistent/model: no such model directory: give a directory with "
         "config.json, or a Hugging Face id 'org/name[@revision]'"},
        {"prompt longer than the context",
         {"--model", "MODEL", "--prompt", long_prompt},
         3,
         "mcomp: error: --prompt: the prompt has 602 tokens, the model's context is 512 "
         "(max_position_embeddings); give a shorter prompt"},
    };
    for (const BadCase& c : cases) {
        std::vector<std::string> args = {"generate"};
        for (const std::string& arg : c.args) {
            args.push_back(arg == "MODEL" ? shared_model_dir() : arg);
        }
        const ProcessResult run = run_mcomp(args, scratch / "bad.log");
        EXPECT_EQ(run.exit_code, c.exit_code) << c.name << ": " << run.output;
        EXPECT_NE(run.output.find(c.message + "\n"), std::string::npos)
            << c.name << ": " << run.output;
    }
}

}  // namespace
}  // namespace mcomp::test
