// masked_step.hpp: one column step of the OBS-style column loops (GPTQ, SparseGPT) for a weight
// that may be forced to zero, on the host and on the device. SparseGPT's fasterprune
// (IST-DASLab/sparsegpt sparsegpt.py) does, for column c of a row:
//
//   q = w; q[mask] = 0; q = quantize(q)          (quantize only with a quantizer)
//   err = (w - q) / d                            d = Hinv[c, c]
//   W1[:, j] -= err * Hinv[c, j]                 for the later columns j of the block
//
// so a pruned weight is exactly 0 — quantized, it sits at the zero point, whose dequantized
// value is exactly 0 because the grid always spans 0 — and its whole value is fed back. A
// quantizer that must keep an earlier stage's zeros (e.g. GPTQ after a pruner) runs the same
// step with the zeros as the mask.
//
// Every float operation is one IEEE round-to-nearest operation (explicit intrinsics on the
// device; the host side needs -ffp-contract=off, which mcomp_plugin_common_cpu exports): torch
// evaluates each of these expressions as its own kernel.
#pragma once

#include <cstdint>

#include "plugin_common/quant_grid.hpp"

namespace mcomp::common {

MCOMP_COMMON_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

MCOMP_COMMON_HD inline float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

MCOMP_COMMON_HD inline float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

struct MaskedStep {
    uint8_t code = 0;   // with a grid
    float q = 0.0f;     // the weight kept: 0 where masked, quantized where a grid is given
    float err = 0.0f;   // (w - q) / d
    float diff = 0.0f;  // w - q (its square over d^2 is the references' loss)
};

// `grid` and `maxq` are read only when `quantize` is set.
MCOMP_COMMON_HD inline MaskedStep masked_step(float w, bool masked, bool quantize, const Grid& grid,
                                              int32_t maxq, float d) {
    MaskedStep s;
    s.q = masked ? 0.0f : w;
    if (quantize) {
        s.code = quantize_code(s.q, grid, maxq);
        s.q = dequantize(s.code, grid);
    }
    s.diff = sub_rn(w, s.q);
    s.err = div_rn(s.diff, d);
    return s;
}

// W1[:, j] -= err * Hinv[c, j]: the product rounded, then the difference.
MCOMP_COMMON_HD inline float feed_back_rn(float w, float err, float hinv) {
    return sub_rn(w, mul_rn(err, hinv));
}

}  // namespace mcomp::common
