// test_perplexity.cpp: the llama_eval perplexity protocol on a tiny checkpoint (against the
// double-precision reference), its window arithmetic, its refusals, and the end-to-end
// acceptance number on TinyStories-656K.
#include "runtime/perplexity.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../model/tiny_checkpoint.hpp"
#include "reference_forward.hpp"
#include "runtime/cpu_backend.hpp"
#include "tokenizer/tokenizer.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

using testing::TempDir;

// llama_eval on the reference: mean over windows of the window's mean shifted NLL.
double reference_ppl(const testing::ReferenceLlama& reference,
                     const std::vector<std::int32_t>& tokens, std::int64_t seq_len,
                     std::int64_t windows) {
    double loss_sum = 0.0;
    for (std::int64_t w = 0; w < windows; ++w) {
        const std::vector<std::int32_t> window(tokens.begin() + w * seq_len,
                                               tokens.begin() + (w + 1) * seq_len);
        const testing::Matrix logits = reference.logits(window);
        double nll = 0.0;
        for (std::int64_t t = 0; t + 1 < seq_len; ++t) {
            double max_value = -1e300, sum = 0.0;
            for (const double x : logits[t]) {
                max_value = std::max(max_value, x);
            }
            for (const double x : logits[t]) {
                sum += std::exp(x - max_value);
            }
            nll += max_value + std::log(sum) - logits[t][window[t + 1]];
        }
        loss_sum += nll / static_cast<double>(seq_len - 1);
    }
    return std::exp(loss_sum / static_cast<double>(windows));
}

class PerplexityTest : public ::testing::Test {
  protected:
    void SetUp() override {
        weights_ = testing::write_tiny_checkpoint(dir_.str(), testing::tiny_config_json());
        Expected<Checkpoint> checkpoint = Checkpoint::open(dir_.str());
        ASSERT_TRUE(checkpoint) << checkpoint.error().message;
        checkpoint_ = std::move(*checkpoint);
        std::mt19937 rng(21);
        tokens_.resize(3 * 16 + 5);  // three windows of 16 and a remainder of 5
        for (std::int32_t& token : tokens_) {
            token = static_cast<std::int32_t>(rng() % 40);
        }
    }

    TempDir dir_;
    testing::TinyWeights weights_;
    Checkpoint checkpoint_;
    std::vector<std::int32_t> tokens_;
};

TEST_F(PerplexityTest, MatchesReferenceAndDropsTheRemainder) {
    CpuBackend backend;
    LlamaModel model(checkpoint_, backend);
    PerplexityOptions options;
    options.seq_len = 16;
    Expected<PerplexityResult> result = perplexity(model, tokens_, options);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->windows, 3);
    EXPECT_EQ(result->tokens, 48);
    const testing::ReferenceLlama reference(checkpoint_.config(), weights_,
                                            testing::default_inv_freq(checkpoint_.config()));
    EXPECT_NEAR(result->ppl, reference_ppl(reference, tokens_, 16, 3), 1e-5 * result->ppl);
    EXPECT_NEAR(std::log(result->ppl), result->mean_nll, 1e-12);
    EXPECT_GE(result->seconds, 0.0);
}

TEST_F(PerplexityTest, BatchingAndChunkingDoNotChangeTheNumber) {
    CpuBackend backend;
    LlamaModel model(checkpoint_, backend);
    PerplexityOptions options;
    options.seq_len = 16;
    const Expected<PerplexityResult> whole = perplexity(model, tokens_, options);
    ASSERT_TRUE(whole);
    options.batch_budget_bytes = 1;  // one window per batch, one logits row per chunk
    const Expected<PerplexityResult> pieces = perplexity(model, tokens_, options);
    ASSERT_TRUE(pieces);
    EXPECT_NEAR(pieces->ppl, whole->ppl, 1e-6 * whole->ppl);
}

TEST_F(PerplexityTest, MaxWindows) {
    CpuBackend backend;
    LlamaModel model(checkpoint_, backend);
    PerplexityOptions options;
    options.seq_len = 16;
    options.max_windows = 2;
    Expected<PerplexityResult> result = perplexity(model, tokens_, options);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->windows, 2);
    const testing::ReferenceLlama reference(checkpoint_.config(), weights_,
                                            testing::default_inv_freq(checkpoint_.config()));
    EXPECT_NEAR(result->ppl, reference_ppl(reference, tokens_, 16, 2), 1e-5 * result->ppl);
}

TEST_F(PerplexityTest, Refusals) {
    CpuBackend backend;
    LlamaModel model(checkpoint_, backend);
    PerplexityOptions options;
    options.seq_len = 1;
    Expected<PerplexityResult> result = perplexity(model, tokens_, options);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message,
              "perplexity: seq_len 1 leaves nothing to predict; use at least 2");
    options.seq_len = 64;
    result = perplexity(model, tokens_, options);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message,
              "perplexity: 53 tokens do not fill one window of 64; use more text or a shorter "
              "seq_len");
}

// THE acceptance number: transformers' fp32 LlamaForCausalLM on ts_dev.txt, tokenized whole
// with one BOS, seqlen 512, llama_eval protocol: 60,799 tokens, 118 windows, ppl 39.6444.
TEST(PerplexityTinyStories, MatchesTransformersReference) {
    const std::string model_dir = test_data_dir() + "/models/TinyStories-656K";
    const std::string text_path = test_data_dir() + "/data/tinystories/ts_dev.txt";
    std::string text;
    if (!std::filesystem::exists(model_dir + "/model.safetensors") || !read_file(text_path, text)) {
        GTEST_SKIP() << "shared test material not found under " << test_data_dir()
                     << " (set MCOMP_TEST_DATA)";
    }
    Expected<Tokenizer> tokenizer = Tokenizer::load(model_dir);
    ASSERT_TRUE(tokenizer) << tokenizer.error().message;
    const std::vector<std::int32_t> tokens = tokenizer->encode(text, true);
    EXPECT_EQ(tokens.size(), 60799u);
    EXPECT_EQ(tokens.front(), 1);
    Expected<Checkpoint> checkpoint = Checkpoint::open(model_dir);
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    CpuBackend backend;
    LlamaModel model(*checkpoint, backend);
    PerplexityOptions options;
    options.seq_len = 512;
    const Expected<PerplexityResult> result = perplexity(model, tokens, options);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->windows, 118);
    EXPECT_EQ(result->tokens, 118 * 512);
    // Four significant digits: 39.6444 ± 0.0005 (printed in full for the record).
    EXPECT_NEAR(result->ppl, 39.6444, 5e-4);
    std::printf("TinyStories-656K ts_dev seqlen 512: ppl %.6f over %lld windows in %.3f s\n",
                result->ppl, static_cast<long long>(result->windows), result->seconds);
}

}  // namespace
}  // namespace mcomp
