// matrix_ops_cuda.hpp: the small device passes around the Hessian and the weight (scaling,
// mirroring, diagonals, dead columns, permutations, the finished factor), each one kernel on
// `stream`. Matrices are row-major.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mcomp::common::cuda_ops {

// dst = scale * src over `count` elements.
void scale_copy(const float* src, float* dst, int64_t count, float scale, cudaStream_t stream);

// a[i, j] = a[j, i] for i > j: the full matrix from its upper triangle.
void mirror_upper(float* a, int64_t n, cudaStream_t stream);

// diag[i] = a[i, i].
void gather_diagonal(const float* a, int64_t n, float* diag, cudaStream_t stream);

// dead[i] = (h[i, i] == 0), and such diagonals become 1.
void fix_dead_columns(float* h, int64_t n, uint8_t* dead, cudaStream_t stream);

// w[:, j] = 0 for the dead columns j.
void zero_dead_columns(float* w, int64_t rows, int64_t cols, const uint8_t* dead,
                       cudaStream_t stream);

// dst[:, c] = src[:, perm[c]].
void permute_columns(const float* src, float* dst, int64_t rows, int64_t cols, const int32_t* perm,
                     cudaStream_t stream);

// dst = src[perm][:, perm].
void permute_symmetric(const float* src, float* dst, int64_t n, const int32_t* perm,
                       cudaStream_t stream);

// dst = src + value * I.
void copy_add_diagonal(const float* src, float* dst, int64_t n, float value, cudaStream_t stream);

// Zeroes the strict lower triangle of u and sets *not_finite (device int, cleared first by the
// caller) when the upper triangle has a NaN or infinity.
void finish_upper_factor(float* u, int64_t n, int* not_finite, cudaStream_t stream);

}  // namespace mcomp::common::cuda_ops
