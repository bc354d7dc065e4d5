// test_llama_model.cpp: the CPU forward of tiny Llama/Qwen2/Mistral checkpoints against the
// double-precision reference, and the engine-facing pieces: linear hooks, weight
// overrides, sub-modules, batching.
#include "runtime/llama_model.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "../model/tiny_checkpoint.hpp"
#include "reference_forward.hpp"
#include "runtime/cpu_backend.hpp"
#include "runtime/rope.hpp"

namespace mcomp {
namespace {

using nlohmann::json;
using testing::TempDir;

// fp32 forward vs double reference: logits are O(1), accumulated over ≤ 64-term dots.
constexpr double kLogitTolerance = 2e-5;

std::vector<std::int32_t> sample_tokens(std::int64_t count, std::int64_t vocab,
                                        std::uint32_t seed) {
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(count));
    std::mt19937 rng(seed);
    for (std::int32_t& token : tokens) {
        token = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(vocab));
    }
    return tokens;
}

struct Fixture {
    TempDir dir;
    testing::TinyWeights weights;
    Checkpoint checkpoint;
};

std::unique_ptr<Fixture> open_tiny(const json& config_json, DType dtype = DType::f32) {
    auto fixture = std::make_unique<Fixture>();
    fixture->weights = testing::write_tiny_checkpoint(fixture->dir.str(), config_json, dtype);
    Expected<Checkpoint> checkpoint = Checkpoint::open(fixture->dir.str());
    EXPECT_TRUE(checkpoint) << checkpoint.error().message;
    fixture->checkpoint = std::move(*checkpoint);
    return fixture;
}

double max_logit_error(const Tensor& logits, std::int64_t sequence,
                       const testing::Matrix& expected) {
    const std::int64_t seq = logits.dim(1);
    const std::int64_t vocab = logits.dim(2);
    double worst = 0.0;
    for (std::int64_t t = 0; t < seq; ++t) {
        for (std::int64_t i = 0; i < vocab; ++i) {
            const double got = logits.f32()[(sequence * seq + t) * vocab + i];
            worst = std::max(worst, std::abs(got - expected[t][i]));
        }
    }
    return worst;
}

void expect_matches_reference(const json& config_json, std::int64_t seq_len) {
    auto fx = open_tiny(config_json);
    const ModelConfig& cfg = fx->checkpoint.config();
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    const std::vector<std::int32_t> tokens = sample_tokens(seq_len, cfg.vocab_size, 3);
    Expected<Tensor> logits = model.forward(tokens, 1, seq_len);
    ASSERT_TRUE(logits) << logits.error().message;
    EXPECT_EQ(logits->shape(), (std::vector<std::int64_t>{1, seq_len, cfg.vocab_size}));
    const testing::ReferenceLlama reference(cfg, fx->weights, testing::default_inv_freq(cfg));
    EXPECT_LT(max_logit_error(*logits, 0, reference.logits(tokens)), kLogitTolerance);
}

TEST(LlamaModel, LlamaMatchesReference) {
    expect_matches_reference(testing::tiny_config_json(), 23);
}

TEST(LlamaModel, SingleTokenMatchesReference) {
    expect_matches_reference(testing::tiny_config_json(), 1);
}

TEST(LlamaModel, MultiHeadAttentionWithoutGqaMatchesReference) {
    json j = testing::tiny_config_json();
    j["num_key_value_heads"] = 4;
    expect_matches_reference(j, 19);
}

TEST(LlamaModel, Qwen2WithQkvBiasMatchesReference) {
    json j = testing::tiny_config_json();
    j["model_type"] = "qwen2";
    j["tie_word_embeddings"] = true;
    expect_matches_reference(j, 17);
}

TEST(LlamaModel, LlamaWithAllBiasesAndHeadDimMatchesReference) {
    json j = testing::tiny_config_json();
    j["attention_bias"] = true;
    j["mlp_bias"] = true;
    j["head_dim"] = 6;  // q_size 24 != hidden 16
    expect_matches_reference(j, 9);
}

TEST(LlamaModel, MistralSlidingWindowMatchesReference) {
    json j = testing::tiny_config_json();
    j["model_type"] = "mistral";
    j["sliding_window"] = 5;
    expect_matches_reference(j, 21);
}

TEST(LlamaModel, Llama3RopeScalingMatchesReference) {
    json j = testing::tiny_config_json();
    j["rope_theta"] = 500000.0;
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 8}};
    auto fx = open_tiny(j);
    const ModelConfig& cfg = fx->checkpoint.config();
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    const std::vector<std::int32_t> tokens = sample_tokens(30, cfg.vocab_size, 5);
    Expected<Tensor> logits = model.forward(tokens, 1, 30);
    ASSERT_TRUE(logits) << logits.error().message;
    const std::vector<float> scaled = rope_inv_freq(cfg);  // checked on its own in test_rope
    const testing::ReferenceLlama reference(cfg, fx->weights,
                                            std::vector<double>(scaled.begin(), scaled.end()));
    EXPECT_LT(max_logit_error(*logits, 0, reference.logits(tokens)), kLogitTolerance);
    // The scaling changes the result: the unscaled frequencies give other logits.
    const testing::ReferenceLlama unscaled(cfg, fx->weights, testing::default_inv_freq(cfg));
    EXPECT_GT(max_logit_error(*logits, 0, unscaled.logits(tokens)), 1e-3);
}

TEST(LlamaModel, BatchEqualsSequencesRunAlone) {
    auto fx = open_tiny(testing::tiny_config_json());
    const ModelConfig& cfg = fx->checkpoint.config();
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    const std::int64_t seq = 13;
    const std::vector<std::int32_t> tokens = sample_tokens(3 * seq, cfg.vocab_size, 11);
    Expected<Tensor> batched = model.forward(tokens, 3, seq);
    ASSERT_TRUE(batched) << batched.error().message;
    const testing::ReferenceLlama reference(cfg, fx->weights, testing::default_inv_freq(cfg));
    for (std::int64_t b = 0; b < 3; ++b) {
        const std::vector<std::int32_t> one(tokens.begin() + b * seq,
                                            tokens.begin() + (b + 1) * seq);
        EXPECT_LT(max_logit_error(*batched, b, reference.logits(one)), kLogitTolerance) << b;
    }
}

TEST(LlamaModel, HalfPrecisionCheckpointsMatchTheirRoundedValues) {
    for (const DType dtype : {DType::bf16, DType::f16}) {
        auto fx = open_tiny(testing::tiny_config_json(), dtype);
        const ModelConfig& cfg = fx->checkpoint.config();
        // The reference sees the values the file holds: rounded to 16 bits.
        testing::TinyWeights rounded = fx->weights;
        for (auto& [name, values] : rounded.values) {
            for (float& value : values) {
                value = dtype == DType::bf16 ? bf16_to_f32(f32_to_bf16(value))
                                             : f16_to_f32(f32_to_f16(value));
            }
        }
        CpuBackend backend;
        LlamaModel model(fx->checkpoint, backend);
        const std::vector<std::int32_t> tokens = sample_tokens(11, cfg.vocab_size, 2);
        Expected<Tensor> logits = model.forward(tokens, 1, 11);
        ASSERT_TRUE(logits) << logits.error().message;
        const testing::ReferenceLlama reference(cfg, rounded, testing::default_inv_freq(cfg));
        EXPECT_LT(max_logit_error(*logits, 0, reference.logits(tokens)), kLogitTolerance)
            << dtype_name(dtype);
    }
}

// Records every linear input the block shows it.
class RecordingHook final : public LinearHook {
  public:
    Status on_linear_input(std::int64_t block, LinearId id, const Tensor& src) override {
        std::vector<float> copy(src.f32(), src.f32() + src.numel());
        seen[{block, id}] = {src.shape(), copy};
        order.push_back(id);
        return {};
    }
    std::map<std::pair<std::int64_t, LinearId>,
             std::pair<std::vector<std::int64_t>, std::vector<float>>>
        seen;
    std::vector<LinearId> order;
};

TEST(LlamaModel, HookSeesEveryLinearInputInOrder) {
    auto fx = open_tiny(testing::tiny_config_json());
    const ModelConfig& cfg = fx->checkpoint.config();
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    const std::vector<std::int32_t> tokens = sample_tokens(2 * 7, cfg.vocab_size, 9);
    Expected<Tensor> hidden = model.embed(tokens, 2, 7);
    ASSERT_TRUE(hidden);
    Expected<BlockWeights> weights = model.load_block(1);
    ASSERT_TRUE(weights);
    RecordingHook hook;
    Tensor out = backend.alloc(DType::f32, hidden->shape());
    ASSERT_TRUE(model.run_block(1, *hidden, out, *weights, &hook));
    EXPECT_EQ(hook.order, std::vector<LinearId>(kAllLinears.begin(), kAllLinears.end()));
    // q/k/v see input_layernorm(x); down_proj sees silu(gate)·up of post-attention norm.
    const testing::ReferenceLlama reference(cfg, fx->weights, testing::default_inv_freq(cfg));
    const std::vector<std::int32_t> second(tokens.begin() + 7, tokens.end());
    const testing::Matrix normed =
        reference.rms_norm(reference.embed(second), "model.layers.1.input_layernorm.weight");
    const auto& [shape, values] = hook.seen.at({1, LinearId::k_proj});
    EXPECT_EQ(shape, (std::vector<std::int64_t>{2, 7, cfg.hidden_size}));
    for (std::int64_t t = 0; t < 7; ++t) {
        for (std::int64_t i = 0; i < cfg.hidden_size; ++i) {
            EXPECT_NEAR(values[(7 + t) * cfg.hidden_size + i], normed[t][i], 1e-5);
        }
    }
    EXPECT_EQ(hook.seen.at({1, LinearId::down_proj}).first,
              (std::vector<std::int64_t>{2, 7, cfg.intermediate_size}));
    EXPECT_EQ(hook.seen.at({1, LinearId::o_proj}).first,
              (std::vector<std::int64_t>{2, 7, cfg.q_size()}));
}

TEST(LlamaModel, HookErrorStopsTheBlock) {
    class FailingHook final : public LinearHook {
      public:
        Status on_linear_input(std::int64_t, LinearId id, const Tensor&) override {
            if (id == LinearId::up_proj) {
                return make_error(ErrorKind::cancelled, "stop at up_proj");
            }
            return {};
        }
    };
    auto fx = open_tiny(testing::tiny_config_json());
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    Expected<Tensor> hidden = model.embed(sample_tokens(5, 40, 1), 1, 5);
    ASSERT_TRUE(hidden);
    Expected<BlockWeights> weights = model.load_block(0);
    ASSERT_TRUE(weights);
    FailingHook hook;
    const Status status = model.run_block(0, *hidden, *hidden, *weights, &hook);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().message, "stop at up_proj");
}

TEST(LlamaModel, OverriddenWeightsAreUsed) {
    auto fx = open_tiny(testing::tiny_config_json());
    const ModelConfig& cfg = fx->checkpoint.config();
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    Expected<Tensor> hidden = model.embed(sample_tokens(6, cfg.vocab_size, 4), 1, 6);
    ASSERT_TRUE(hidden);
    Expected<BlockWeights> weights = model.load_block(0);
    ASSERT_TRUE(weights);
    // Zero o_proj and down_proj: both residual branches vanish and the block is the identity.
    weights->linear(LinearId::o_proj).weight = Tensor::zeros_cpu(DType::f32, {16, 16});
    weights->linear(LinearId::down_proj).weight = Tensor::zeros_cpu(DType::f32, {16, 24});
    Tensor out = backend.alloc(DType::f32, hidden->shape());
    ASSERT_TRUE(model.run_block(0, *hidden, out, *weights));
    for (std::int64_t i = 0; i < out.numel(); ++i) {
        ASSERT_EQ(out.f32()[i], hidden->f32()[i]) << i;
    }
    // A replacement of the wrong shape is refused with a message naming it.
    weights->linear(LinearId::up_proj).weight = Tensor::zeros_cpu(DType::f32, {24, 15});
    const Status status = model.run_block(0, *hidden, out, *weights);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().message,
              "up_proj weight must be an fp32 cpu tensor of shape [24, 16], got F32 cpu [24, 15]");
}

TEST(LlamaModel, SubModulesComposeToTheBlock) {
    auto fx = open_tiny(testing::tiny_config_json());
    const ModelConfig& cfg = fx->checkpoint.config();
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    Expected<Tensor> hidden = model.embed(sample_tokens(8, cfg.vocab_size, 6), 1, 8);
    ASSERT_TRUE(hidden);
    Expected<BlockWeights> weights = model.load_block(1);
    ASSERT_TRUE(weights);
    const testing::ReferenceLlama reference(cfg, fx->weights, testing::default_inv_freq(cfg));
    testing::Matrix x(8, std::vector<double>(16));
    for (std::int64_t t = 0; t < 8; ++t) {
        for (std::int64_t i = 0; i < 16; ++i) {
            x[t][i] = hidden->f32()[t * 16 + i];
        }
    }
    const testing::Matrix expected = reference.attention(1, x);
    Tensor out = backend.alloc(DType::f32, hidden->shape());
    ASSERT_TRUE(model.attention(1, *hidden, out, *weights));
    for (std::int64_t t = 0; t < 8; ++t) {
        for (std::int64_t i = 0; i < 16; ++i) {
            EXPECT_NEAR(out.f32()[t * 16 + i], expected[t][i], 1e-5);
        }
    }
    ASSERT_TRUE(model.mlp(1, *hidden, out, *weights));
}

TEST(LlamaModel, RejectsTokensOutsideTheVocabulary) {
    auto fx = open_tiny(testing::tiny_config_json());
    CpuBackend backend;
    LlamaModel model(fx->checkpoint, backend);
    const std::vector<std::int32_t> tokens = {1, 2, 40};
    const Expected<Tensor> logits = model.forward(tokens, 1, 3);
    ASSERT_FALSE(logits);
    EXPECT_EQ(logits.error().message,
              "token id 40 at position 2 is outside the vocabulary of 40; the tokenizer does not "
              "belong to this model");
}

}  // namespace
}  // namespace mcomp
