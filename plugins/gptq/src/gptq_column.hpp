// gptq_column.hpp: one step of GPTQ's column loop (gptq.py fasterquant, inner loop; GPTQ
// Alg. 1 lines 6-9), shared verbatim by the CPU and CUDA kernels so that, given the same
// weights and H^-1, both produce identical codes:
//
//   q = quantize(w)                 code and dequantized value on the current grid
//   err = (w - q) / d               d = Hinv[i, i], the diagonal of the upper factor
//   W1[:, j] -= err * Hinv[i, j]    for the later columns j of the block
//
// torch evaluates the update as an outer product (one rounded product) followed by a
// subtraction; the plugins compile without FMA contraction to round the same way.
#pragma once

#include <cstdint>

#include "plugin_common/quant_grid.hpp"

namespace mcomp::gptq {

struct ColumnStep {
    uint8_t code = 0;
    float q = 0.0f;     // the dequantized weight
    float err = 0.0f;   // (w - q) / d
    float diff = 0.0f;  // w - q (its square over d^2 is the reference's loss)
};

MCOMP_COMMON_HD inline ColumnStep quantize_step(float w, const common::Grid& grid, int32_t maxq,
                                                float d) {
    ColumnStep s;
    s.code = common::quantize_code(w, grid, maxq);
    s.q = common::dequantize(s.code, grid);
    s.diff = w - s.q;
    s.err = s.diff / d;
    return s;
}

// W1[:, j] -= err * Hinv[i, j]: the product rounded, then the difference.
MCOMP_COMMON_HD inline float feed_back(float w, float err, float hinv) {
    const float product = err * hinv;
    return w - product;
}

}  // namespace mcomp::gptq
