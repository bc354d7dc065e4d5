// wanda_score.hpp: the arithmetic of Wanda that the CPU and CUDA kernels share verbatim, so
// both produce bit-identical norms, scores and masks.
//
// Reference: locuslab/wanda, lib/layerwrapper.py (WrappedGPT.add_batch) and lib/prune.py
// (prune_wanda). Per linear layer, with X the calibration inputs [tokens, in]:
//
//   add_batch (once per calibration sample, tmp = 1 sample per call):
//       scaler_row *= nsamples / (nsamples + tmp);  nsamples += tmp
//       scaler_row += torch.norm(X.float(), p=2, dim=tokens) ** 2 / nsamples
//   W_metric = |W| * sqrt(scaler_row)                      (broadcast over output rows)
//   unstructured: per row, prune the int(in * sparsity) lowest W_metric
//                 (torch.sort(stable=True): equal scores go in column order)
//   N:M: in every m consecutive columns of a row, prune the n lowest W_metric
//        (torch.topk(largest=False); on CUDA, ties at the boundary go to the lower column)
//
// Every float operation below is one IEEE round-to-nearest operation, written with explicit
// intrinsics on the device (no FMA contraction) and compiled with -ffp-contract=off on the
// host. The sum of squares of a column is accumulated in double (x² of a float is exact in
// double, so FMA or not gives the same bits) in a fixed order: tokens in chunks of
// kTokensPerChunk, each chunk summed in token order, then the chunk sums in chunk order. Both
// backends follow that order, so they agree bit for bit. torch.norm accumulates in fp32 in
// its own order; the double sum is at least as accurate, and differs from it only in the
// last bits of the norm.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define MCOMP_WANDA_HD __host__ __device__
#else
#define MCOMP_WANDA_HD
#endif

namespace mcomp::wanda {

// Tokens per partial sum of squares (see above); both backends use the same chunks.
inline constexpr int64_t kTokensPerChunk = 64;

// ---- single IEEE operations -------------------------------------------------------------------

MCOMP_WANDA_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

MCOMP_WANDA_HD inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

MCOMP_WANDA_HD inline float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

MCOMP_WANDA_HD inline float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
    return __fsqrt_rn(a);
#else
    return std::sqrt(a);
#endif
}

MCOMP_WANDA_HD inline uint32_t float_bits(float value) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(value);
#else
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits;
#endif
}

// ---- the running mean of ‖X_j‖² (WrappedGPT.add_batch) ---------------------------------------

// The factor nsamples / (nsamples + 1) that add_batch() scales scaler_row by: a Python float
// (double), rounded to fp32 when torch multiplies the fp32 tensor by it.
inline float running_mean_decay(int64_t samples_before) {
    const double ratio =
        static_cast<double>(samples_before) / static_cast<double>(samples_before + 1);
    return static_cast<float>(ratio);
}

// One column's add_batch() update: scaler * decay + (‖x‖₂)² / nsamples, where ‖x‖₂ is the fp32
// norm of the column's sum of squares and `samples_after` the count including this sample.
// The first sample stores the new term alone (the reference multiplies zeros by 0).
MCOMP_WANDA_HD inline float running_mean_update(float scaler, float decay, double sum_squares,
                                                float samples_after, bool first_sample) {
    const float norm = sqrt_rn(static_cast<float>(sum_squares));
    const float term = div_rn(mul_rn(norm, norm), samples_after);
    return first_sample ? term : add_rn(mul_rn(scaler, decay), term);
}

// ---- scores and their order -------------------------------------------------------------------

// W_metric = |W| * sqrt(scaler_row); `sqrt_scaler` is sqrt_rn(scaler_row[j]).
MCOMP_WANDA_HD inline float wanda_score(float weight, float sqrt_scaler) {
#if defined(__CUDA_ARCH__)
    return mul_rn(fabsf(weight), sqrt_scaler);
#else
    return mul_rn(std::fabs(weight), sqrt_scaler);
#endif
}

// An integer key with the order of torch.sort on scores: scores are >= 0 (or NaN), and the
// unsigned order of the bits of a non-negative float is its numeric order (-0 counts as +0).
// Every NaN maps to one key above +inf, since torch sorts NaN last and a stable sort keeps
// NaNs in column order.
MCOMP_WANDA_HD inline uint32_t score_key(float score) {
    const uint32_t bits = float_bits(score) & 0x7fffffffu;
    return bits > 0x7f800000u ? 0x7fc00000u : bits;
}

MCOMP_WANDA_HD inline uint32_t weight_key(float weight, float sqrt_scaler) {
    return score_key(wanda_score(weight, sqrt_scaler));
}

// Unstructured: weights pruned in every row, Python's int(W_metric.shape[1] * sparsity_ratio)
// (the product in double, truncated).
inline int64_t prune_count_per_row(int64_t cols, double sparsity) {
    const auto count = static_cast<int64_t>(static_cast<double>(cols) * sparsity);
    return count < cols ? count : cols;
}

// N:M: whether column `j` of a group of `m` consecutive weights is among the `n` lowest scores.
// An element's rank counts the lower keys and the equal keys at lower columns, so exactly n
// of every group are pruned and ties go to the lower column (as CUDA's topk does).
MCOMP_WANDA_HD inline bool n_of_m_key_pruned(const uint32_t* keys, int32_t m, int32_t n,
                                             int32_t j) {
    int32_t rank = 0;
    for (int32_t k = 0; k < m; ++k) {
        rank += (keys[k] < keys[j] || (keys[k] == keys[j] && k < j)) ? 1 : 0;
    }
    return rank < n;
}

// The same rule with the keys computed on the fly (one CUDA thread per weight).
MCOMP_WANDA_HD inline bool n_of_m_pruned(const float* weight, const float* sqrt_scaler, int32_t m,
                                         int32_t n, int32_t j) {
    const uint32_t key = weight_key(weight[j], sqrt_scaler[j]);
    int32_t rank = 0;
    for (int32_t k = 0; k < m; ++k) {
        const uint32_t other = weight_key(weight[k], sqrt_scaler[k]);
        rank += (other < key || (other == key && k < j)) ? 1 : 0;
    }
    return rank < n;
}

}  // namespace mcomp::wanda
