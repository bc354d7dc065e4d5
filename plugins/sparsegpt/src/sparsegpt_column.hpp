// sparsegpt_column.hpp: the arithmetic of SparseGPT's mask selection (sparsegpt.py fasterprune;
// SparseGPT Alg. 1), shared verbatim by the CPU and CUDA kernels so that, given the same
// weights and H^-1, both choose the same masks:
//
//   score = W1 ** 2 / diag(Hinv1) ** 2        the saliency of pruning w (OBS's w^2 / [H^-1]_cc
//                                             with the factor's diagonal, SparseGPT Sec. 3.2)
//
// The column step itself (prune, quantize, feed back) is plugins/common masked_step.hpp.
#pragma once

#include <cstdint>

#include "plugin_common/masked_step.hpp"

namespace mcomp::sparsegpt {

// w^2 / d^2, one IEEE operation each; non-negative (+0 for w = +-0), so its bits order like it.
MCOMP_COMMON_HD inline float prune_score(float w, float d) {
    return common::div_rn(common::mul_rn(w, w), common::mul_rn(d, d));
}

// N:M: whether member j of a group of m scores is among its n lowest (topk(largest=False)).
// Equal scores go to the lower column first, so exactly n of every group are pruned.
MCOMP_COMMON_HD inline bool n_of_m_pruned(const float* scores, int32_t m, int32_t n, int32_t j) {
    const float key = scores[j];
    int32_t rank = 0;
    for (int32_t k = 0; k < m; ++k) {
        rank += (scores[k] < key || (scores[k] == key && k < j)) ? 1 : 0;
    }
    return rank < n;
}

}  // namespace mcomp::sparsegpt
