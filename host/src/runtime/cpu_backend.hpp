// cpu_backend.hpp: the reference backend — oneDNN matmuls for every linear and for the
// attention products, OpenMP loops for the elementwise kernels. All fp32. One caller thread
// at a time per CpuBackend (its kernels use all OpenMP threads themselves).
#pragma once

#include <memory>

#include "runtime/backend.hpp"

namespace mcomp {

class CpuMatmul;

class CpuBackend final : public Backend {
  public:
    CpuBackend();
    ~CpuBackend() override;

    Device device() const override { return Device::cpu; }

    Tensor alloc(DType dtype, std::vector<std::int64_t> shape) override;
    Tensor upload_weight(const TensorView& src) override;
    Tensor upload(const float* src, std::vector<std::int64_t> shape) override;
    void download(const Tensor& src, float* dst) override;
    void synchronize() override {}

    void embed(const Tensor& table, const std::int32_t* tokens, std::int64_t count,
               Tensor& dst) override;
    void rms_norm(const Tensor& src, const Tensor& weight, float eps, Tensor& dst) override;
    void linear(const Tensor& src, const Tensor& weight, const Tensor& bias, Tensor& dst) override;
    void rope(Tensor& x, std::int64_t num_heads, std::int64_t head_dim, const Tensor& cos,
              const Tensor& sin) override;
    void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionShape& shape,
                   Tensor& dst) override;
    void swiglu(const Tensor& gate, const Tensor& up, Tensor& dst) override;
    void add(const Tensor& a, const Tensor& b, Tensor& dst) override;
    void cross_entropy(const Tensor& logits, const std::int32_t* targets, float* nll) override;

    // The oneDNN matmul wrapper (for benchmarks and tests: implementation names, counts).
    CpuMatmul& matmul() { return *matmul_; }

  private:
    std::unique_ptr<CpuMatmul> matmul_;
    Tensor scores_;  // attention scratch, one [group, tile, seq] block per thread
};

}  // namespace mcomp
