// cuda_context.hpp: the cuBLAS and cuSOLVER handles of one technique instance, bound to the
// stream the host gives it (host->cuda_stream()) before every use. cuBLAS runs in its default
// math mode: fp32 products stay fp32 (no TF32), as in the reference (allow_tf32 = False).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::common {

class CudaContext {
  public:
    explicit CudaContext(const sdk::Host& host);
    ~CudaContext();
    CudaContext(const CudaContext&) = delete;
    CudaContext& operator=(const CudaContext&) = delete;

    // The host's stream for this instance; binds both handles to it.
    cudaStream_t stream();
    cublasHandle_t blas() const { return blas_; }
    cusolverDnHandle_t solver() const { return solver_; }
    const sdk::Host& host() const { return host_; }

  private:
    sdk::Host host_;
    cublasHandle_t blas_ = nullptr;
    cusolverDnHandle_t solver_ = nullptr;
};

}  // namespace mcomp::common
