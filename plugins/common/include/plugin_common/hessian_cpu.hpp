// hessian_cpu.hpp: the layer Hessian H = 2/N sum X^T X of GPTQ and SparseGPT, accumulated on
// the CPU exactly as the reference's add_batch() (IST-DASLab/gptq gptq.py) does, one
// calibration sample [tokens, cols] per call:
//
//   H *= n / (n + 1);  n += 1;  X *= sqrt(2 / n);  H += X^T X        (all fp32)
//
// so H is always the running mean of 2 X^T X over the samples seen. X^T X is symmetric: only
// the blocks on and above the diagonal are computed (a SYRK built from oneDNN matmuls, half
// the flops of a full product), accumulated through the matmul's sum post-op after a pass that
// applies the running-mean factor; symmetric() mirrors the upper triangle once at the end.
#pragma once

#include <cstdint>
#include <vector>

#include "plugin_common/gemm_cpu.hpp"

namespace mcomp::common {

class CpuHessian {
  public:
    explicit CpuHessian(CpuGemm& gemm) : gemm_(gemm) {}

    // Starts a new layer with `cols` input features: H = 0, n = 0.
    void reset(int64_t cols);

    // One calibration sample `src` [tokens, cols] (row-major, contiguous). `threads`: OpenMP
    // threads for the scaling pass (0: the default).
    void add_sample(const float* src, int64_t tokens, int threads);

    int64_t num_samples() const { return num_samples_; }
    int64_t cols() const { return cols_; }

    // The full symmetric H [cols, cols] (mirrors the upper triangle into the lower one).
    std::vector<float>& symmetric();

  private:
    CpuGemm& gemm_;
    int64_t cols_ = 0;
    int64_t num_samples_ = 0;
    std::vector<float> h_;       // [cols, cols]; the upper blocks are current
    std::vector<float> scaled_;  // sqrt(2 / n) * X of the current sample
};

// Side of the square tiles of the SYRK (a multiple of 64; the edge tiles are smaller).
inline constexpr int64_t kHessianTile = 512;

}  // namespace mcomp::common
