// gptq_column.hpp: one step of GPTQ's column loop (gptq.py fasterquant, inner loop; GPTQ
// Alg. 1 lines 6-9), shared verbatim by the CPU and CUDA kernels so that, given the same
// weights and H^-1, both produce identical codes:
//
//   q = quantize(w)                 code and dequantized value on the current grid
//   err = (w - q) / d               d = Hinv[i, i], the diagonal of the upper factor
//   W1[:, j] -= err * Hinv[i, j]    for the later columns j of the block
//
// With keep_zeros a weight that was exactly 0 on entry is `masked`: q = quantize(0) = 0 (every
// grid spans 0) and its whole current value is fed back — SparseGPT's joint-quantization step
// (plugin_common/masked_step.hpp), so a pruner's zeros survive. Unmasked, the step is the
// plain GPTQ step above, operation for operation.
//
// torch evaluates the update as an outer product (one rounded product) followed by a
// subtraction; the plugins compile without FMA contraction to round the same way.
#pragma once

#include <cstdint>

#include "plugin_common/masked_step.hpp"
#include "plugin_common/quant_grid.hpp"

namespace mcomp::gptq {

struct ColumnStep {
    uint8_t code = 0;
    float q = 0.0f;     // the dequantized weight
    float err = 0.0f;   // (w - q) / d
    float diff = 0.0f;  // w - q (its square over d^2 is the reference's loss)
};

MCOMP_COMMON_HD inline ColumnStep quantize_step(float w, bool masked, const common::Grid& grid,
                                                int32_t maxq, float d) {
    const common::MaskedStep m = common::masked_step(w, masked, true, grid, maxq, d);
    ColumnStep s;
    s.code = m.code;
    s.q = m.q;
    s.err = m.err;
    s.diff = m.diff;
    return s;
}

// W1[:, j] -= err * Hinv[i, j]: the product rounded, then the difference.
MCOMP_COMMON_HD inline float feed_back(float w, float err, float hinv) {
    return common::feed_back_rn(w, err, hinv);
}

}  // namespace mcomp::gptq
