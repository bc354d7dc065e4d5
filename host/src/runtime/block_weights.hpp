// block_weights.hpp: the weights of one decoder block as device tensors. The engine loads
// a block from the checkpoint, lets techniques replace any linear's weight (a compressed
// or dequantized one), and runs the block with the result.
#pragma once

#include <array>

#include "model/llama_layout.hpp"
#include "runtime/tensor.hpp"

namespace mcomp {

// y = x·weightᵀ + bias; weight [out, in] fp32; bias [out] or undefined.
struct LinearWeights {
    Tensor weight;
    Tensor bias;
};

struct BlockWeights {
    Tensor input_norm;                               // input_layernorm.weight [hidden]
    Tensor post_attn_norm;                           // post_attention_layernorm.weight [hidden]
    std::array<LinearWeights, kNumLinears> linears;  // indexed by LinearId

    LinearWeights& linear(LinearId id) { return linears[static_cast<std::size_t>(id)]; }
    const LinearWeights& linear(LinearId id) const { return linears[static_cast<std::size_t>(id)]; }
};

}  // namespace mcomp
