// hessian_cpu.cpp: see hessian_cpu.hpp.
#include "plugin_common/hessian_cpu.hpp"

#include "plugin_common/parallel.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace mcomp::common {

void CpuHessian::reset(int64_t cols) {
    cols_ = cols;
    num_samples_ = 0;
    h_.assign(static_cast<size_t>(cols * cols), 0.0f);
}

void CpuHessian::add_sample(const float* src, int64_t tokens, int threads) {
    // add_batch(): the factors are Python floats (double) applied to fp32 tensors.
    const double n_old = static_cast<double>(num_samples_);
    const float keep = static_cast<float>(n_old / (n_old + 1.0));
    num_samples_ += 1;
    const float scale = static_cast<float>(std::sqrt(2.0 / static_cast<double>(num_samples_)));

    const int64_t count = tokens * cols_;
    scaled_.resize(static_cast<size_t>(count));
    const int num_threads = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(num_threads) if (parallel_worth(count))
    for (int64_t i = 0; i < count; ++i) {
        scaled_[i] = scale * src[i];
    }

    // H *= keep as its own pass over the upper triangle (a sum post-op scale would be fixed
    // per primitive, and keep changes with every sample), then H[I, J] += X[:, I]^T X[:, J]
    // for the tiles I <= J.
    const int64_t n = cols_;
    float* h = h_.data();
    if (keep != 1.0f) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(num_threads) if (parallel_worth(n * n))
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = i; j < n; ++j) {
                h[i * n + j] = keep * h[i * n + j];
            }
        }
    }
    for (int64_t i0 = 0; i0 < cols_; i0 += kHessianTile) {
        const int64_t ib = std::min(kHessianTile, cols_ - i0);
        for (int64_t j0 = i0; j0 < cols_; j0 += kHessianTile) {
            const int64_t jb = std::min(kHessianTile, cols_ - j0);
            const MatrixArg a{scaled_.data() + i0, cols_, Op::transpose};
            const MatrixArg b{scaled_.data() + j0, cols_, Op::none};
            gemm_.run(ib, jb, tokens, 1.0f, a, b, 1.0f, h + i0 * n + j0, n);
        }
    }
}

std::vector<float>& CpuHessian::symmetric() {
    const int64_t n = cols_;
    // Tiles below the diagonal are stale; every element below the diagonal takes its mirror.
#pragma omp parallel for schedule(static) if (parallel_worth(n * n))
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < i; ++j) {
            h_[i * n + j] = h_[j * n + i];
        }
    }
    return h_;
}

}  // namespace mcomp::common
