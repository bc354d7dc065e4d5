// cpu_matmul.hpp: fp32 matrix products through oneDNN's matmul primitive, with primitives
// cached by shape so that repeated calls (every window, every block) pay only for the
// arithmetic. Operands are described by dims and strides in elements, which lets one
// primitive read a transposed weight ([out, in] stored, [in, out] used) or one head's
// columns inside a [seq, heads·head_dim] activation without a copy.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace mcomp {

// One matmul operand: dims (batch dims..., rows, cols) and the stride of each, in elements.
struct MatmulOperand {
    std::vector<std::int64_t> dims;
    std::vector<std::int64_t> strides;
};

class CpuMatmul {
  public:
    CpuMatmul();
    ~CpuMatmul();
    CpuMatmul(const CpuMatmul&) = delete;
    CpuMatmul& operator=(const CpuMatmul&) = delete;

    // dst = src · weights (+ bias), all fp32. Batch dims of size 1 in weights (or bias)
    // broadcast. `bias` may be null; then bias_desc is ignored.
    void run(const MatmulOperand& src_desc, const float* src, const MatmulOperand& weights_desc,
             const float* weights, const MatmulOperand& bias_desc, const float* bias,
             const MatmulOperand& dst_desc, float* dst);

    // dst[rows, out] = src[rows, in] · weight[out, in]ᵀ (+ bias[out]), all dense row-major.
    void linear(const float* src, std::int64_t rows, std::int64_t in, const float* weight,
                std::int64_t out, const float* bias, float* dst);

    // Which oneDNN implementation the last primitive created uses (e.g. "brg:avx512_core").
    const char* last_impl() const;

    // Primitives created so far (each distinct shape once).
    std::size_t num_primitives() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mcomp
