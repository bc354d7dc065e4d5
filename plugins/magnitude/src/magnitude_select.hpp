// magnitude_select.hpp: which weights magnitude pruning removes, shared verbatim by the CPU
// and CUDA kernels so both produce identical masks.
//
// Magnitudes are compared as the bit patterns of |w| (sign bit cleared): for non-negative
// IEEE floats the unsigned order of the bits is the numeric order, +0 and -0 are equal, and a
// NaN sorts above +inf (as in torch.sort). Integer keys make the order total and identical on
// every device.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define MCOMP_MAGNITUDE_HD __host__ __device__
#else
#define MCOMP_MAGNITUDE_HD
#endif

namespace mcomp::magnitude {

MCOMP_MAGNITUDE_HD inline uint32_t magnitude_key(float weight) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(weight) & 0x7fffffffu;
#else
    uint32_t bits = 0;
    std::memcpy(&bits, &weight, sizeof(bits));
    return bits & 0x7fffffffu;
#endif
}

// Unstructured (Wanda's prune_magnitude): the threshold is the |w| at position
// int(numel * sparsity) of all |w| sorted ascending; every |w| <= threshold is pruned, so ties
// at the threshold can prune more than the target. The product is taken in double and
// truncated, as Python's int(W.numel() * sparsity_ratio) does.
inline int64_t threshold_rank(int64_t numel, double sparsity) {
    const auto rank = static_cast<int64_t>(static_cast<double>(numel) * sparsity);
    return rank < numel ? rank : numel - 1;
}

// N:M: whether column `j` of a group of `m` consecutive weights is among the `n` smallest |w|.
// Ties go to the lower index: an element's rank counts the smaller keys and the equal keys
// before it, so exactly n elements of every group are pruned.
MCOMP_MAGNITUDE_HD inline bool n_of_m_pruned(const float* group, int32_t m, int32_t n, int32_t j) {
    const uint32_t key = magnitude_key(group[j]);
    int32_t rank = 0;
    for (int32_t k = 0; k < m; ++k) {
        const uint32_t other = magnitude_key(group[k]);
        rank += (other < key || (other == key && k < j)) ? 1 : 0;
    }
    return rank < n;
}

}  // namespace mcomp::magnitude
