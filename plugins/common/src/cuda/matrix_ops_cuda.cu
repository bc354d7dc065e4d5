// matrix_ops_cuda.cu: see matrix_ops_cuda.hpp. Grid-stride loops over elements: each pass runs
// once per layer (or per sample), far from the cost of the products around it.
#include "plugin_common/cuda/cuda_check.hpp"
#include "plugin_common/cuda/matrix_ops_cuda.hpp"

namespace mcomp::common::cuda_ops {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t count) {
    const int64_t blocks = (count + kThreads - 1) / kThreads;
    return static_cast<unsigned>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

__device__ int64_t first_index() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ int64_t stride() {
    return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

__global__ void scale_copy_kernel(const float* src, float* dst, int64_t count, float scale) {
    for (int64_t i = first_index(); i < count; i += stride()) {
        dst[i] = scale * src[i];
    }
}

__global__ void mirror_upper_kernel(float* a, int64_t n) {
    for (int64_t k = first_index(); k < n * n; k += stride()) {
        const int64_t i = k / n;
        const int64_t j = k % n;
        if (i > j) {
            a[k] = a[j * n + i];
        }
    }
}

__global__ void gather_diagonal_kernel(const float* a, int64_t n, float* diag) {
    for (int64_t i = first_index(); i < n; i += stride()) {
        diag[i] = a[i * n + i];
    }
}

__global__ void fix_dead_kernel(float* h, int64_t n, uint8_t* dead) {
    for (int64_t i = first_index(); i < n; i += stride()) {
        const bool is_dead = h[i * n + i] == 0.0f;
        dead[i] = is_dead ? 1 : 0;
        if (is_dead) {
            h[i * n + i] = 1.0f;
        }
    }
}

__global__ void zero_dead_kernel(float* w, int64_t rows, int64_t cols, const uint8_t* dead) {
    for (int64_t k = first_index(); k < rows * cols; k += stride()) {
        if (dead[k % cols] != 0) {
            w[k] = 0.0f;
        }
    }
}

__global__ void permute_columns_kernel(const float* src, float* dst, int64_t rows, int64_t cols,
                                       const int32_t* perm) {
    for (int64_t k = first_index(); k < rows * cols; k += stride()) {
        const int64_t r = k / cols;
        dst[k] = src[r * cols + perm[k % cols]];
    }
}

__global__ void permute_symmetric_kernel(const float* src, float* dst, int64_t n,
                                         const int32_t* perm) {
    for (int64_t k = first_index(); k < n * n; k += stride()) {
        dst[k] = src[static_cast<int64_t>(perm[k / n]) * n + perm[k % n]];
    }
}

__global__ void copy_add_diagonal_kernel(const float* src, float* dst, int64_t n, float value) {
    for (int64_t k = first_index(); k < n * n; k += stride()) {
        const bool on_diagonal = k / n == k % n;
        dst[k] = on_diagonal ? src[k] + value : src[k];
    }
}

__global__ void finish_upper_kernel(float* u, int64_t n, int* not_finite) {
    for (int64_t k = first_index(); k < n * n; k += stride()) {
        if (k / n > k % n) {
            u[k] = 0.0f;
        } else if (!isfinite(u[k])) {
            *not_finite = 1;
        }
    }
}

}  // namespace

void scale_copy(const float* src, float* dst, int64_t count, float scale, cudaStream_t stream) {
    scale_copy_kernel<<<blocks_for(count), kThreads, 0, stream>>>(src, dst, count, scale);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void mirror_upper(float* a, int64_t n, cudaStream_t stream) {
    mirror_upper_kernel<<<blocks_for(n * n), kThreads, 0, stream>>>(a, n);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void gather_diagonal(const float* a, int64_t n, float* diag, cudaStream_t stream) {
    gather_diagonal_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, n, diag);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void fix_dead_columns(float* h, int64_t n, uint8_t* dead, cudaStream_t stream) {
    fix_dead_kernel<<<blocks_for(n), kThreads, 0, stream>>>(h, n, dead);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void zero_dead_columns(float* w, int64_t rows, int64_t cols, const uint8_t* dead,
                       cudaStream_t stream) {
    zero_dead_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(w, rows, cols, dead);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void permute_columns(const float* src, float* dst, int64_t rows, int64_t cols, const int32_t* perm,
                     cudaStream_t stream) {
    permute_columns_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(src, dst, rows, cols,
                                                                             perm);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void permute_symmetric(const float* src, float* dst, int64_t n, const int32_t* perm,
                       cudaStream_t stream) {
    permute_symmetric_kernel<<<blocks_for(n * n), kThreads, 0, stream>>>(src, dst, n, perm);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void copy_add_diagonal(const float* src, float* dst, int64_t n, float value, cudaStream_t stream) {
    copy_add_diagonal_kernel<<<blocks_for(n * n), kThreads, 0, stream>>>(src, dst, n, value);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void finish_upper_factor(float* u, int64_t n, int* not_finite, cudaStream_t stream) {
    finish_upper_kernel<<<blocks_for(n * n), kThreads, 0, stream>>>(u, n, not_finite);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mcomp::common::cuda_ops
