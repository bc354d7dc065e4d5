// gemm_cpu.hpp: row-major fp32 matrix products on oneDNN's matmul primitive, the one
// building block of the CPU Hessian, factorizations and GPTQ's lazy block updates.
//
//   C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C
//
// op(X) is X or its transpose as stored (row-major, leading dimension ld); transposes are
// strides, never copies. alpha is oneDNN's output scale and beta its `sum` post-op, so
// accumulating into C costs no extra pass. Primitives are created once per shape and kept.
// Not thread-safe: one CpuGemm per technique instance, called from one thread; oneDNN uses
// the OpenMP threads inside each product.
#pragma once

#include <cstdint>
#include <memory>

namespace mcomp::common {

enum class Op { none, transpose };

struct MatrixArg {
    const float* data = nullptr;
    int64_t ld = 0;  // elements between consecutive rows of the stored matrix
    Op op = Op::none;
};

class CpuGemm {
  public:
    CpuGemm();
    ~CpuGemm();
    CpuGemm(const CpuGemm&) = delete;
    CpuGemm& operator=(const CpuGemm&) = delete;

    // C = alpha * op(A) * op(B) + beta * C; beta == 0 never reads C. Empty products (m, n or
    // k zero) only apply beta.
    void run(int64_t m, int64_t n, int64_t k, float alpha, const MatrixArg& a, const MatrixArg& b,
             float beta, float* c, int64_t ldc);

    // Primitives currently cached (for tests and benchmarks).
    std::size_t num_primitives() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mcomp::common
