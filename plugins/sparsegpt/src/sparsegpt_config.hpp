// sparsegpt_config.hpp: the parameters of a `sparsegpt` instance, read from the validated params,
// and the checks a layer's shape must pass for them.
#pragma once

#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"
#include "plugin_common/inverse_factor.hpp"
#include "plugin_common/quant_grid.hpp"

namespace mcomp::sparsegpt {

// Largest block: the CUDA column loop keeps a block of H^-1 in shared memory and a row's block
// in the registers of one warp.
inline constexpr int32_t kMaxBlockSize = 128;
// Widest N:M group (the CUDA column loop's per-warp scratch).
inline constexpr int32_t kMaxGroupWidth = 64;
// bits = 16 turns the joint quantization off (the reference's --wbits 16).
inline constexpr int32_t kNoQuantBits = 16;

struct Config {
    double sparsity = 0.5;  // unstructured, used when n == 0
    int32_t n = 0;          // N:M: pruned per group of m; 0 = unstructured
    int32_t m = 0;
    int32_t block_size = 128;
    common::DampingPolicy damping;  // damp, damp_auto_increment
    int32_t bits = kNoQuantBits;
    int32_t group_size = -1;  // with quantization: -1 = one grid per row
    bool sym = false;

    bool structured() const { return n > 0; }
    bool quantized() const { return bits < kNoQuantBits; }
    bool grouped() const { return group_size > 0; }
    int32_t maxq() const { return common::max_code(bits); }
};

// Reads the parameters; throws sdk::Error for what the schema cannot express.
Config parse_config(const sdk::Params& params);

// Throws sdk::Error(MC_ERR_UNSUPPORTED) when a layer of `cols` inputs cannot be pruned N:M.
void check_layer_shape(const Config& config, int64_t cols, const std::string& layer_name);

// The number of the `numel` scores of an unstructured block that sit below the threshold's
// position: int(numel * sparsity) as Python computes it (a double product, truncated).
inline int64_t threshold_rank(int64_t numel, double sparsity) {
    const auto rank = static_cast<int64_t>(static_cast<double>(numel) * sparsity);
    return rank < numel ? rank : numel - 1;
}

}  // namespace mcomp::sparsegpt
