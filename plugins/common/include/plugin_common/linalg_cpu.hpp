// linalg_cpu.hpp: blocked dense factorizations on the CPU, fp32, row-major n x n, built on
// CpuGemm (oneDNN has no Cholesky, and mcomp uses no LAPACK). They follow LAPACK's blocked
// algorithms (potrf, trtri, lauum): the O(n^3) work is matmuls, the O(n^2 nb) rest is plain
// loops over rows in parallel.
#pragma once

#include <cstdint>

#include "plugin_common/gemm_cpu.hpp"

namespace mcomp::common {

// Columns per block of the blocked algorithms.
inline constexpr int64_t kFactorBlock = 128;

// Cholesky A = L L^T in place: reads the lower triangle of `a` and overwrites it with L; the
// strict upper triangle is scratch. Returns -1 on success, else the first column whose pivot
// was not positive (or NaN), like LAPACK's info - 1; `a` is then partly overwritten.
int64_t cholesky_lower(CpuGemm& gemm, float* a, int64_t n);

// Replaces the lower-triangular, non-singular L (lower triangle of `a`) by L^-1 in place and
// zeroes the strict upper triangle.
void invert_lower(CpuGemm& gemm, float* a, int64_t n);

// The lower triangle of X^T X into `dst` for the lower-triangular X (strict upper triangle
// of `x` must be zero, as invert_lower() leaves it); dst's strict upper triangle is scratch.
void lower_gram(CpuGemm& gemm, const float* x, float* dst, int64_t n);

// dst[j, i] = src[i, j] for the lower triangle of src (i >= j), zero below dst's diagonal:
// the upper factor U = L^T of a lower Cholesky factor L.
void transpose_lower_to_upper(const float* src, float* dst, int64_t n);

}  // namespace mcomp::common
