// linalg_cpu.cpp: see linalg_cpu.hpp.
#include "plugin_common/linalg_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "plugin_common/parallel.hpp"

namespace mcomp::common {

namespace {

// Rows of the output handled by one matmul where a triangular operand lets each chunk skip
// the zero part of the inner dimension.
constexpr int64_t kRowChunk = 512;

// Unblocked Cholesky of the kb x kb diagonal block at `a` (leading dimension ld); -1 or the
// failing column.
int64_t cholesky_block(float* a, int64_t kb, int64_t ld) {
    for (int64_t j = 0; j < kb; ++j) {
        const float pivot = a[j * ld + j];
        if (!(pivot > 0.0f)) {
            return j;
        }
        const float d = std::sqrt(pivot);
        a[j * ld + j] = d;
        for (int64_t i = j + 1; i < kb; ++i) {
            a[i * ld + j] /= d;
        }
        for (int64_t i = j + 1; i < kb; ++i) {
            const float lij = a[i * ld + j];
            for (int64_t m = j + 1; m <= i; ++m) {
                a[i * ld + m] -= lij * a[m * ld + j];
            }
        }
    }
    return -1;
}

// The panel below a factored diagonal block: solve X L^T = P for each of the `rows` rows of
// P (at `p`, leading dimension ld) in place; L is the kb x kb block at `l`.
void solve_panel(const float* l, float* p, int64_t rows, int64_t kb, int64_t ld) {
    // L transposed into a dense copy, so each elimination step is a contiguous row update.
    std::vector<float> lt(static_cast<size_t>(kb * kb), 0.0f);
    for (int64_t i = 0; i < kb; ++i) {
        for (int64_t j = 0; j <= i; ++j) {
            lt[j * kb + i] = l[i * ld + j];
        }
    }
#pragma omp parallel for schedule(static) if (parallel_worth(rows * kb * kb))
    for (int64_t r = 0; r < rows; ++r) {
        float* x = p + r * ld;
        for (int64_t j = 0; j < kb; ++j) {
            const float xj = x[j] / lt[j * kb + j];
            x[j] = xj;
            const float* col = lt.data() + j * kb;
            for (int64_t t = j + 1; t < kb; ++t) {
                x[t] -= xj * col[t];
            }
        }
    }
}

// Unblocked inverse of the lower-triangular kb x kb block at `a` in place.
void invert_block(float* a, int64_t kb, int64_t ld) {
    std::vector<float> l(static_cast<size_t>(kb * kb), 0.0f);
    for (int64_t i = 0; i < kb; ++i) {
        for (int64_t j = 0; j <= i; ++j) {
            l[i * kb + j] = a[i * ld + j];
        }
    }
    for (int64_t j = 0; j < kb; ++j) {
        a[j * ld + j] = 1.0f / l[j * kb + j];
        for (int64_t i = j + 1; i < kb; ++i) {
            float sum = 0.0f;
            for (int64_t t = j; t < i; ++t) {
                sum += l[i * kb + t] * a[t * ld + j];
            }
            a[i * ld + j] = -sum / l[i * kb + i];
        }
    }
}

}  // namespace

int64_t cholesky_lower(CpuGemm& gemm, float* a, int64_t n) {
    // Left-looking: each block column is brought up to date with one matmul, then factored.
    for (int64_t k0 = 0; k0 < n; k0 += kFactorBlock) {
        const int64_t kb = std::min(kFactorBlock, n - k0);
        // A[k0:, k0:k0+kb] -= L[k0:, :k0] L[k0:k0+kb, :k0]^T
        gemm.run(n - k0, kb, k0, -1.0f, {a + k0 * n, n, Op::none}, {a + k0 * n, n, Op::transpose},
                 1.0f, a + k0 * n + k0, n);
        const int64_t info = cholesky_block(a + k0 * n + k0, kb, n);
        if (info >= 0) {
            return k0 + info;
        }
        solve_panel(a + k0 * n + k0, a + (k0 + kb) * n + k0, n - k0 - kb, kb, n);
    }
    return -1;
}

void invert_lower(CpuGemm& gemm, float* a, int64_t n) {
#pragma omp parallel for schedule(static) if (parallel_worth(n * n))
    for (int64_t i = 0; i < n; ++i) {
        std::fill(a + i * n + i + 1, a + (i + 1) * n, 0.0f);
    }
    // LAPACK trtri, right to left: with X = L^-1 known below block column j,
    // X[s:, j] = -X[s:, s:] L[s:, j] X[j, j], s = end of block j.
    const int64_t num_blocks = (n + kFactorBlock - 1) / kFactorBlock;
    std::vector<float> t;
    for (int64_t jb = num_blocks - 1; jb >= 0; --jb) {
        const int64_t j0 = jb * kFactorBlock;
        const int64_t kb = std::min(kFactorBlock, n - j0);
        const int64_t s = j0 + kb;
        invert_block(a + j0 * n + j0, kb, n);
        const int64_t m = n - s;
        if (m == 0) {
            continue;
        }
        // T = X[s:, s:] L[s:, j]; X is lower triangular, so rows [r0, r1) need columns < r1.
        t.assign(static_cast<size_t>(m * kb), 0.0f);
        for (int64_t r0 = 0; r0 < m; r0 += kRowChunk) {
            const int64_t r1 = std::min(m, r0 + kRowChunk);
            gemm.run(r1 - r0, kb, r1, 1.0f, {a + (s + r0) * n + s, n, Op::none},
                     {a + s * n + j0, n, Op::none}, 0.0f, t.data() + r0 * kb, kb);
        }
        // X[s:, j] = -T X[j, j] (the strict upper part of X[j, j] is zero).
        gemm.run(m, kb, kb, -1.0f, {t.data(), kb, Op::none}, {a + j0 * n + j0, n, Op::none}, 0.0f,
                 a + s * n + j0, n);
    }
}

void lower_gram(CpuGemm& gemm, const float* x, float* dst, int64_t n) {
    // dst[i, j] = sum_{t >= i} X[t, i] X[t, j] for i >= j: block column j of the lower
    // triangle is X[j0:, j0:]^T X[j0:, j]; rows [r0, r1) of it need only t >= r0.
    for (int64_t j0 = 0; j0 < n; j0 += kFactorBlock) {
        const int64_t kb = std::min(kFactorBlock, n - j0);
        for (int64_t r0 = j0; r0 < n; r0 += kRowChunk) {
            const int64_t r1 = std::min(n, r0 + kRowChunk);
            gemm.run(r1 - r0, kb, n - r0, 1.0f, {x + r0 * n + r0, n, Op::transpose},
                     {x + r0 * n + j0, n, Op::none}, 0.0f, dst + r0 * n + j0, n);
        }
    }
}

void transpose_lower_to_upper(const float* src, float* dst, int64_t n) {
    constexpr int64_t kTile = 64;
#pragma omp parallel for schedule(static) if (parallel_worth(n * n))
    for (int64_t i0 = 0; i0 < n; i0 += kTile) {
        for (int64_t j0 = 0; j0 < n; j0 += kTile) {
            for (int64_t i = i0; i < std::min(n, i0 + kTile); ++i) {
                for (int64_t j = j0; j < std::min(n, j0 + kTile); ++j) {
                    dst[i * n + j] = j >= i ? src[j * n + i] : 0.0f;
                }
            }
        }
    }
}

}  // namespace mcomp::common
