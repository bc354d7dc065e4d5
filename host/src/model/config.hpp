// config.hpp: the parts of a Hugging Face config.json that decide a Llama-family decoder's
// shapes and numerics, with the defaults transformers applies for each model_type
// (LlamaConfig, MistralConfig, Qwen2Config).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/expected.hpp"

namespace mcomp {

// Decoder families that share the Llama block (SmolLM is model_type "llama").
enum class ModelFamily {
    llama = 1,
    mistral,
    qwen2,
};

enum class RopeScalingType {
    none = 1,  // rope_scaling null or rope_type "default"
    linear,    // positions divided by factor
    llama3,    // Llama 3.1 frequency-dependent scaling
};

struct RopeScaling {
    RopeScalingType type = RopeScalingType::none;
    double factor = 1.0;
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    std::int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
    std::string model_type;  // as config.json spells it
    ModelFamily family = ModelFamily::llama;
    std::int64_t vocab_size = 0;
    std::int64_t hidden_size = 0;
    std::int64_t intermediate_size = 0;
    std::int64_t num_hidden_layers = 0;
    std::int64_t num_attention_heads = 0;
    std::int64_t num_key_value_heads = 0;  // config value, else num_attention_heads
    std::int64_t head_dim = 0;             // config value, else hidden_size / heads
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    bool tie_word_embeddings = false;
    // Which linears carry a bias: llama's attention_bias covers q/k/v/o; qwen2 always has
    // q/k/v bias and no o bias; llama's mlp_bias covers gate/up/down.
    bool qkv_bias = false;
    bool o_bias = false;
    bool mlp_bias = false;
    std::int64_t max_position_embeddings = 0;
    std::optional<std::int64_t> sliding_window;  // attention window when one applies
    std::optional<std::int64_t> bos_token_id;
    std::vector<std::int64_t> eos_token_ids;  // config.json allows one id or a list
    std::string torch_dtype;                  // "float32", "bfloat16", ... or ""
    std::string quant_method;                 // quantization_config.quant_method, or ""

    std::int64_t q_size() const { return num_attention_heads * head_dim; }
    std::int64_t kv_size() const { return num_key_value_heads * head_dim; }
};

// Parses config.json text; `source` names it in messages (usually its path).
Expected<ModelConfig> parse_model_config(std::string_view json_text, const std::string& source);

// Reads and parses the config.json at `path`.
Expected<ModelConfig> load_model_config(const std::string& path);

}  // namespace mcomp
