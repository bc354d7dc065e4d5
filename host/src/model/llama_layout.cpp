// llama_layout.cpp: see llama_layout.hpp.
#include "model/llama_layout.hpp"

namespace mcomp {

std::string_view linear_name(LinearId id) {
    switch (id) {
        case LinearId::q_proj:
            return "q_proj";
        case LinearId::k_proj:
            return "k_proj";
        case LinearId::v_proj:
            return "v_proj";
        case LinearId::o_proj:
            return "o_proj";
        case LinearId::gate_proj:
            return "gate_proj";
        case LinearId::up_proj:
            return "up_proj";
        case LinearId::down_proj:
            return "down_proj";
    }
    return "?";
}

namespace {

bool is_attention(LinearId id) {
    return static_cast<int>(id) <= static_cast<int>(LinearId::o_proj);
}

}  // namespace

std::string linear_module_path(LinearId id) {
    return std::string(is_attention(id) ? "self_attn." : "mlp.") + std::string(linear_name(id));
}

std::string linear_prefix(std::int64_t block, LinearId id) {
    return "model.layers." + std::to_string(block) + "." + linear_module_path(id);
}

bool linear_has_bias(const ModelConfig& config, LinearId id) {
    switch (id) {
        case LinearId::q_proj:
        case LinearId::k_proj:
        case LinearId::v_proj:
            return config.qkv_bias;
        case LinearId::o_proj:
            return config.o_bias;
        default:
            return config.mlp_bias;
    }
}

std::array<std::int64_t, 2> linear_shape(const ModelConfig& config, LinearId id) {
    const std::int64_t hidden = config.hidden_size;
    switch (id) {
        case LinearId::q_proj:
            return {config.q_size(), hidden};
        case LinearId::k_proj:
        case LinearId::v_proj:
            return {config.kv_size(), hidden};
        case LinearId::o_proj:
            return {hidden, config.q_size()};
        case LinearId::gate_proj:
        case LinearId::up_proj:
            return {config.intermediate_size, hidden};
        case LinearId::down_proj:
            return {hidden, config.intermediate_size};
    }
    return {0, 0};
}

std::string input_norm_name(std::int64_t block) {
    return "model.layers." + std::to_string(block) + ".input_layernorm.weight";
}

std::string post_attn_norm_name(std::int64_t block) {
    return "model.layers." + std::to_string(block) + ".post_attention_layernorm.weight";
}

namespace {

std::string linear_because(LinearId id) {
    switch (id) {
        case LinearId::q_proj:
            return "num_attention_heads*head_dim, hidden_size";
        case LinearId::k_proj:
        case LinearId::v_proj:
            return "num_key_value_heads*head_dim, hidden_size";
        case LinearId::o_proj:
            return "hidden_size, num_attention_heads*head_dim";
        case LinearId::gate_proj:
        case LinearId::up_proj:
            return "intermediate_size, hidden_size";
        case LinearId::down_proj:
            return "hidden_size, intermediate_size";
    }
    return "";
}

}  // namespace

std::vector<ExpectedTensor> expected_block_tensors(const ModelConfig& config) {
    std::vector<ExpectedTensor> tensors;
    for (std::int64_t block = 0; block < config.num_hidden_layers; ++block) {
        tensors.push_back({input_norm_name(block), {config.hidden_size}, "hidden_size"});
        tensors.push_back({post_attn_norm_name(block), {config.hidden_size}, "hidden_size"});
        for (const LinearId id : kAllLinears) {
            const std::array<std::int64_t, 2> shape = linear_shape(config, id);
            const std::string prefix = linear_prefix(block, id);
            tensors.push_back({prefix + ".weight", {shape[0], shape[1]}, linear_because(id)});
            if (linear_has_bias(config, id)) {
                const std::string because = linear_because(id);
                tensors.push_back(
                    {prefix + ".bias", {shape[0]}, because.substr(0, because.find(','))});
            }
        }
    }
    tensors.push_back({std::string(kFinalNormName), {config.hidden_size}, "hidden_size"});
    return tensors;
}

}  // namespace mcomp
