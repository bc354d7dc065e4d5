// kernels.hpp: the device kernels of the CUDA backend, as launch functions over raw device
// pointers. cuda_backend.cpp checks shapes and dtypes and calls these; each launch is
// enqueued on `stream` and checked for launch errors (CudaError).
//
// Every kernel computes in fp32 whatever the storage type (fp32 accumulation, one rounding
// when the result is stored), and has a CPU twin in cpu_backend.cpp that the tests in
// tests/unit/runtime_cuda compare it with.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace mcomp::cuda {

// Storage type of a tensor's elements on the device.
enum class ElemType {
    f32,
    f16,
    bf16,
};

// dst[i] = src[i], converted (round to nearest even).
void launch_convert(const void* src, ElemType src_type, void* dst, ElemType dst_type,
                    std::int64_t count, cudaStream_t stream);

// dst[i, :] = table[tokens[i], :]; tokens on the device.
void launch_embed(const void* table, ElemType table_type, const std::int32_t* tokens,
                  std::int64_t count, std::int64_t width, void* dst, ElemType dst_type,
                  cudaStream_t stream);

// LlamaRMSNorm per row of [rows, width]; weight [width] of the same type. dst may be src.
void launch_rms_norm(const void* src, const void* weight, ElemType type, std::int64_t rows,
                     std::int64_t width, float eps, void* dst, cudaStream_t stream);

// Rotary embedding in place on x [batch, seq, heads·head_dim], rotate_half layout;
// cos/sin fp32 [positions ≥ seq, head_dim/2].
void launch_rope(void* x, ElemType type, std::int64_t batch, std::int64_t seq, std::int64_t heads,
                 std::int64_t head_dim, const float* cos, const float* sin, cudaStream_t stream);

// dst = silu(gate)·up and dst = a + b, elementwise over `count`; dst may alias a source.
void launch_swiglu(const void* gate, const void* up, void* dst, ElemType type, std::int64_t count,
                   cudaStream_t stream);
void launch_add(const void* a, const void* b, void* dst, ElemType type, std::int64_t count,
                cudaStream_t stream);

// dst[r, c] += bias[c] for dst [rows, cols].
void launch_add_bias(void* dst, ElemType dst_type, const void* bias, ElemType bias_type,
                     std::int64_t rows, std::int64_t cols, cudaStream_t stream);

struct AttentionArgs {
    const void* q = nullptr;  // [batch, seq, heads·head_dim]
    const void* k = nullptr;  // [batch, seq, kv_heads·head_dim]
    const void* v = nullptr;  // [batch, seq, kv_heads·head_dim]
    void* dst = nullptr;      // [batch, seq, heads·head_dim]
    ElemType type = ElemType::f32;
    std::int64_t batch = 0;
    std::int64_t seq = 0;
    std::int64_t heads = 0;
    std::int64_t kv_heads = 0;
    std::int64_t head_dim = 0;
    float scale = 1.0f;
    std::int64_t window = 0;  // keys with i - j >= window are masked; 0: no window
};

// Head sizes the attention kernels take: tiled kernels for 16, 32, 64, 80, 96 and 128,
// a slower one-warp-per-query kernel for any other size up to 256.
bool attention_supports_head_dim(std::int64_t head_dim);

// Causal grouped-query attention (flash-style tiles with an online softmax).
void launch_attention(const AttentionArgs& args, cudaStream_t stream);

// nll[r] = logsumexp(logits[r, :]) - logits[r, targets[r]]; targets and nll on the device.
void launch_cross_entropy(const void* logits, ElemType type, std::int64_t rows, std::int64_t vocab,
                          const std::int32_t* targets, float* nll, cudaStream_t stream);

}  // namespace mcomp::cuda
