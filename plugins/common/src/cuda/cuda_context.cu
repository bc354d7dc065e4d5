// cuda_context.cu: see cuda_context.hpp.
#include "plugin_common/cuda/cuda_check.hpp"
#include "plugin_common/cuda/cuda_context.hpp"

namespace mcomp::common {

CudaContext::CudaContext(const sdk::Host& host) : host_(host) {
    MCOMP_CUDA_CHECK(cublasCreate(&blas_));
    MCOMP_CUDA_CHECK(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    if (cusolverDnCreate(&solver_) != CUSOLVER_STATUS_SUCCESS) {
        cublasDestroy(blas_);
        MCOMP_CUDA_CHECK(CUSOLVER_STATUS_NOT_INITIALIZED);
    }
}

CudaContext::~CudaContext() {
    cusolverDnDestroy(solver_);
    cublasDestroy(blas_);
}

cudaStream_t CudaContext::stream() {
    auto stream = static_cast<cudaStream_t>(host_.cuda_stream());
    MCOMP_CUDA_CHECK(cublasSetStream(blas_, stream));
    MCOMP_CUDA_CHECK(cusolverDnSetStream(solver_, stream));
    return stream;
}

}  // namespace mcomp::common
