// cross_entropy.cu: per-row cross entropy of logits against target ids, as torch's
// CrossEntropyLoss(reduction="none") on fp32 logits: logsumexp(x) − x[target]. One block
// per row; the max in fp32, the sum of exponentials in double (as the CPU twin), so the
// perplexity of a 118-window evaluation agrees to far below its printed digits.
#include <cfloat>

#include "runtime/cuda/cuda_check.hpp"
#include "runtime/cuda/device_util.cuh"
#include "runtime/cuda/kernels.hpp"

namespace mcomp::cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void cross_entropy_kernel(const T* logits, std::int64_t vocab,
                                     const std::int32_t* targets, float* nll) {
    __shared__ float scratch_float[32];
    __shared__ double scratch_double[32];
    const T* x = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
    float max_value = -FLT_MAX;
    for (std::int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
        max_value = fmaxf(max_value, to_float(x[i]));
    }
    max_value = block_reduce(max_value, scratch_float, MaxOp{});
    double sum = 0.0;
    for (std::int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
        sum += exp(static_cast<double>(to_float(x[i]) - max_value));
    }
    sum = block_reduce(sum, scratch_double, SumOp{});
    if (threadIdx.x == 0) {
        const float target_logit = to_float(x[targets[blockIdx.x]]);
        nll[blockIdx.x] = static_cast<float>(log(sum) + max_value - target_logit);
    }
}

}  // namespace

void launch_cross_entropy(const void* logits, ElemType type, std::int64_t rows, std::int64_t vocab,
                          const std::int32_t* targets, float* nll, cudaStream_t stream) {
    if (rows == 0) {
        return;
    }
    dispatch_type(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        cross_entropy_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
            static_cast<const T*>(logits), vocab, targets, nll);
    });
    MCOMP_CUDA_CHECK_LAUNCH("cross_entropy_kernel");
}

}  // namespace mcomp::cuda
