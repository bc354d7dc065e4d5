// llama_layout.hpp: the tensor names and shapes of a Hugging Face Llama-family checkpoint
// (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM), derived from config.json.
// Linear weights are stored [out_features, in_features]: y = x·Wᵀ + b.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.hpp"

namespace mcomp {

// The seven linears of a decoder block, in the order the block runs them.
enum class LinearId {
    q_proj = 0,
    k_proj,
    v_proj,
    o_proj,
    gate_proj,
    up_proj,
    down_proj,
};
inline constexpr int kNumLinears = 7;
inline constexpr std::array<LinearId, kNumLinears> kAllLinears = {
    LinearId::q_proj,    LinearId::k_proj,  LinearId::v_proj,   LinearId::o_proj,
    LinearId::gate_proj, LinearId::up_proj, LinearId::down_proj};

// "q_proj", "gate_proj", ...
std::string_view linear_name(LinearId id);

// "self_attn.q_proj", "mlp.gate_proj", ...: the module path inside a block.
std::string linear_module_path(LinearId id);

// "model.layers.<block>.self_attn.q_proj" (append ".weight" or ".bias").
std::string linear_prefix(std::int64_t block, LinearId id);

// Whether the linear carries a bias under this config.
bool linear_has_bias(const ModelConfig& config, LinearId id);

// [out_features, in_features] of the linear's weight.
std::array<std::int64_t, 2> linear_shape(const ModelConfig& config, LinearId id);

std::string input_norm_name(std::int64_t block);      // model.layers.<i>.input_layernorm.weight
std::string post_attn_norm_name(std::int64_t block);  // ...post_attention_layernorm.weight
inline constexpr std::string_view kEmbedTokensName = "model.embed_tokens.weight";
inline constexpr std::string_view kFinalNormName = "model.norm.weight";
inline constexpr std::string_view kLmHeadName = "lm_head.weight";

// One tensor a checkpoint must hold, and the config keys its shape comes from.
struct ExpectedTensor {
    std::string name;
    std::vector<std::int64_t> shape;
    std::string because;  // e.g. "num_attention_heads*head_dim, hidden_size"
};

// Every tensor of the dense layout except the embedding and lm_head, whose presence
// depends on tie_word_embeddings (see Checkpoint).
std::vector<ExpectedTensor> expected_block_tensors(const ModelConfig& config);

}  // namespace mcomp
