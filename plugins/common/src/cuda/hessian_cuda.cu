// hessian_cuda.cu: see hessian_cuda.hpp.
#include <cmath>

#include "plugin_common/cuda/cuda_check.hpp"
#include "plugin_common/cuda/hessian_cuda.hpp"
#include "plugin_common/cuda/matrix_ops_cuda.hpp"

namespace mcomp::common {

void CudaHessian::reset(int64_t cols, mc_device device) {
    const cudaStream_t stream = context_.stream();
    device_ = device;
    num_samples_ = 0;
    const std::size_t bytes = static_cast<std::size_t>(cols * cols) * sizeof(float);
    if (cols != cols_ || h_.num_bytes() < bytes) {
        h_ = sdk::DeviceBuffer(context_.host(), device_, bytes);
    }
    cols_ = cols;
    MCOMP_CUDA_CHECK(cudaMemsetAsync(h_.as<float>(), 0, bytes, stream));
}

void CudaHessian::add_sample(const float* src, int64_t tokens) {
    const cudaStream_t stream = context_.stream();
    // add_batch(): Python-float factors applied to fp32 tensors.
    const double n_old = static_cast<double>(num_samples_);
    const float keep = static_cast<float>(n_old / (n_old + 1.0));
    num_samples_ += 1;
    const float scale = static_cast<float>(std::sqrt(2.0 / static_cast<double>(num_samples_)));
    const std::size_t bytes = static_cast<std::size_t>(tokens * cols_) * sizeof(float);
    if (scaled_.num_bytes() < bytes) {
        scaled_ = sdk::DeviceBuffer(context_.host(), device_, bytes);
    }
    if (tokens > 0) {
        cuda_ops::scale_copy(src, scaled_.as<float>(), tokens * cols_, scale, stream);
    }
    // Row-major X [tokens, cols] is the column-major [cols, tokens] matrix A, and A A^T = X^T X;
    // its column-major lower triangle is the row-major upper one.
    const float alpha = 1.0f;
    MCOMP_CUDA_CHECK(cublasSsyrk(context_.blas(), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                 static_cast<int>(cols_), static_cast<int>(tokens), &alpha,
                                 scaled_.as<float>(), static_cast<int>(cols_), &keep,
                                 h_.as<float>(), static_cast<int>(cols_)));
}

float* CudaHessian::symmetric() {
    cuda_ops::mirror_upper(h_.as<float>(), cols_, context_.stream());
    return h_.as<float>();
}

}  // namespace mcomp::common
