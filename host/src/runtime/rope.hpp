// rope.hpp: rotary position embedding frequencies and cos/sin tables, computed on the host
// in fp32 exactly as transformers' rotary embeddings do (modeling_rope_utils.py:
// _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
// _compute_llama3_parameters; LlamaRotaryEmbedding.forward).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.hpp"

namespace mcomp {

// inv_freq[i] = 1 / theta^(2i / head_dim), i < head_dim/2, then scaled per rope_scaling.
std::vector<float> rope_inv_freq(const ModelConfig& config);

// cos and sin of position·inv_freq for positions 0..num_positions-1, each
// [num_positions, head_dim/2] row-major.
struct RopeTables {
    std::vector<float> cos;
    std::vector<float> sin;
};
RopeTables rope_tables(const std::vector<float>& inv_freq, std::int64_t num_positions);

}  // namespace mcomp
