// hessian_cuda.hpp: the running-mean Hessian of hessian_cpu.hpp on the GPU — the same
// add_batch() arithmetic, one calibration sample per call, X^T X as a cuBLAS SSYRK (one
// triangle, half the flops of a GEMM) whose beta carries the factor n / (n + 1).
#pragma once

#include <cstdint>

#include "mcomp/cpp/plugin.hpp"
#include "plugin_common/cuda/cuda_context.hpp"

namespace mcomp::common {

class CudaHessian {
  public:
    explicit CudaHessian(CudaContext& context) : context_(context) {}

    // H = 0 over `cols` inputs, in memory of `device`.
    void reset(int64_t cols, mc_device device);

    // One sample `src` [tokens, cols] in device memory.
    void add_sample(const float* src, int64_t tokens);

    int64_t num_samples() const { return num_samples_; }

    // The full symmetric H [cols, cols] in device memory (mirrors the computed triangle).
    float* symmetric();

  private:
    CudaContext& context_;
    mc_device device_ = {MC_DEVICE_CUDA, 0};
    int64_t cols_ = 0;
    int64_t num_samples_ = 0;
    sdk::DeviceBuffer h_;
    sdk::DeviceBuffer scaled_;
};

}  // namespace mcomp::common
