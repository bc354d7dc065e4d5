// backend.hpp: the kernels a Llama-family decoder needs, behind one interface per device.
// The model code (llama_model.hpp) is written once against this interface; the CPU backend
// (cpu_backend.hpp: oneDNN + OpenMP) is the reference, and a CUDA backend implements the
// same calls on device memory and is tested against it.
//
// Conventions for every kernel: activations are fp32 and row-major; "rows" are all leading
// dims flattened ([batch, seq, width] → [batch·seq, width]); tensors live on the backend's
// device; `dst` is allocated by the caller with the stated shape and may alias a source only
// where a kernel says so. Kernels return once results are visible to the next call on this
// backend (a stream order suffices; the host sees them after synchronize()).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "model/safetensors.hpp"
#include "runtime/tensor.hpp"

namespace mcomp {

// Geometry of grouped-query attention over a batch of independent sequences.
struct AttentionShape {
    std::int64_t batch = 0;
    std::int64_t seq_len = 0;
    std::int64_t num_heads = 0;
    std::int64_t num_kv_heads = 0;  // num_heads is a multiple; head h reads kv head h / group
    std::int64_t head_dim = 0;
    float scale = 1.0f;                  // applied to q·k before the softmax
    std::optional<std::int64_t> window;  // keys with i - j >= window are masked (Mistral)
};

class Backend {
  public:
    virtual ~Backend() = default;

    virtual Device device() const = 0;

    // ---- memory --------------------------------------------------------------------------

    // Uninitialised device memory.
    virtual Tensor alloc(DType dtype, std::vector<std::int64_t> shape) = 0;

    // A weight from a checkpoint view (F32, F16 or BF16) as an fp32 tensor on the device.
    // The CPU backend borrows aligned F32 data in place (the checkpoint must outlive it) and
    // widens 16-bit data into memory of its own.
    virtual Tensor upload_weight(const TensorView& src) = 0;

    // fp32 host data [shape] to a new device tensor, and back.
    virtual Tensor upload(const float* src, std::vector<std::int64_t> shape) = 0;
    virtual void download(const Tensor& src, float* dst) = 0;

    // Waits for every kernel issued so far.
    virtual void synchronize() = 0;

    // ---- kernels -------------------------------------------------------------------------

    // dst[i, :] = table[tokens[i], :]; table [vocab, width]; tokens on the host, each
    // already checked to be inside the vocabulary.
    virtual void embed(const Tensor& table, const std::int32_t* tokens, std::int64_t count,
                       Tensor& dst) = 0;

    // RMSNorm as transformers' LlamaRMSNorm: dst = weight · x / sqrt(mean(x²) + eps), per
    // row. dst may alias src.
    virtual void rms_norm(const Tensor& src, const Tensor& weight, float eps, Tensor& dst) = 0;

    // dst[rows, out] = src[rows, in] · weight[out, in]ᵀ (+ bias[out]); bias may be undefined.
    virtual void linear(const Tensor& src, const Tensor& weight, const Tensor& bias,
                        Tensor& dst) = 0;

    // Rotary embedding in place on x [batch, seq, heads·head_dim], the "rotate_half"
    // layout of transformers: pairs (i, i + head_dim/2) rotated by the angle of position
    // p (0-based within each sequence) and frequency i. cos/sin: [positions ≥ seq, head_dim/2].
    virtual void rope(Tensor& x, std::int64_t num_heads, std::int64_t head_dim, const Tensor& cos,
                      const Tensor& sin) = 0;

    // Causal softmax attention: dst[b, t, h·d] = Σ_{s ≤ t} softmax_s(scale · q_h·k_g) v_g,
    // g = h / (num_heads / num_kv_heads). q, dst: [batch, seq, num_heads·head_dim];
    // k, v: [batch, seq, num_kv_heads·head_dim].
    virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionShape& shape, Tensor& dst) = 0;

    // dst = silu(gate) · up, elementwise (the SwiGLU of the Llama MLP). dst may alias either.
    virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& dst) = 0;

    // dst = a + b, elementwise. dst may alias either.
    virtual void add(const Tensor& a, const Tensor& b, Tensor& dst) = 0;

    // Cross entropy per row: nll[i] = logsumexp(logits[i, :]) - logits[i, targets[i]], in
    // fp32 like torch's log_softmax; targets and nll on the host.
    virtual void cross_entropy(const Tensor& logits, const std::int32_t* targets, float* nll) = 0;

    // ---- compute dtype -------------------------------------------------------------------

    // The dtype this backend keeps activations and weights in: F32 here and on the CPU; a
    // CUDA backend may be created for F16 or BF16 (fp32 accumulation inside every kernel).
    // Model code allocates activations with it; upload_weight() returns it.
    virtual DType compute_dtype() const { return DType::f32; }
};

}  // namespace mcomp
