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

// A matmul ready to execute: a cached primitive and its operand descriptions.
struct MatmulPlan;

class CpuMatmul {
  public:
    CpuMatmul();
    ~CpuMatmul();
    CpuMatmul(const CpuMatmul&) = delete;
    CpuMatmul& operator=(const CpuMatmul&) = delete;

    // The plan for dst = src · weights (+ bias), all fp32; batch dims of size 1 in weights
    // (or bias) broadcast. Pass bias_desc with no dims for no bias. Plans live as long as
    // this object; creating one is serialized, the first time for a shape costs a JIT.
    const MatmulPlan* plan(const MatmulOperand& src_desc, const MatmulOperand& weights_desc,
                           const MatmulOperand& bias_desc, const MatmulOperand& dst_desc);

    // Runs a plan on the given pointers (bias null when the plan has none). Safe to call
    // from the threads of one OpenMP parallel region at once: each thread has its own
    // oneDNN stream and scratchpad, and oneDNN runs single-threaded inside the region.
    void execute(const MatmulPlan* plan, const float* src, const float* weights, const float* bias,
                 float* dst);

    // plan() then execute().
    void run(const MatmulOperand& src_desc, const float* src, const MatmulOperand& weights_desc,
             const float* weights, const MatmulOperand& bias_desc, const float* bias,
             const MatmulOperand& dst_desc, float* dst);

    // dst[rows, out] = src[rows, in] · weight[out, in]ᵀ (+ bias[out]), all dense row-major.
    void linear(const float* src, std::int64_t rows, std::int64_t in, const float* weight,
                std::int64_t out, const float* bias, float* dst);

    // The oneDNN implementation of the last plan created (e.g. "brg:avx512_core").
    const char* last_impl() const;

    // Plans created so far (each distinct shape once).
    std::size_t num_primitives() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mcomp
