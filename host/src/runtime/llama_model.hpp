// llama_model.hpp: the Llama-family decoder (Llama, Mistral, Qwen2, SmolLM) run one block
// at a time, as transformers' LlamaForCausalLM computes it in fp32:
//
//   hidden = embed(tokens)                                   [batch, seq, hidden]
//   for each block i:  h = x + o_proj(attn(rope(q), rope(k), v))   on rms_norm(x)
//                      x = h + down_proj(silu(gate_proj) · up_proj)  on rms_norm(h)
//   logits = lm_head(rms_norm(hidden))                       [batch, seq, vocab]
//
// The pieces are public so that the block-sequential compression engine can keep the
// calibration activations between blocks, see every linear's input (LinearHook), replace a
// block's weights (BlockWeights), and rerun a sub-module (attention, mlp) for AWQ's loss.
// Weights come from the memory-mapped checkpoint when a block is loaded, so only the block
// being run needs to be resident. All kernels go through a Backend.
#pragma once

#include <cstdint>
#include <span>

#include "model/checkpoint.hpp"
#include "runtime/backend.hpp"
#include "runtime/block_weights.hpp"
#include "runtime/linear_hook.hpp"
#include "util/expected.hpp"

namespace mcomp {

class LlamaModel {
  public:
    // Borrows both; they must outlive the model. The checkpoint has been validated by
    // Checkpoint::open, so every tensor this model reads exists with the right shape.
    LlamaModel(const Checkpoint& checkpoint, Backend& backend);

    const ModelConfig& config() const { return checkpoint_.config(); }
    Backend& backend() { return backend_; }

    // The weights of block `block` (0-based) on the backend's device.
    Expected<BlockWeights> load_block(std::int64_t block);

    // Checks weights (e.g. replaced by a technique) against the config: shapes, fp32, device.
    Status check_block(const BlockWeights& weights) const;

    // tokens [batch·seq_len] (sequence-major) → hidden [batch, seq_len, hidden]. Each
    // sequence starts at position 0.
    Expected<Tensor> embed(std::span<const std::int32_t> tokens, std::int64_t batch,
                           std::int64_t seq_len);

    // dst = block(src), both [batch, seq, hidden]; dst may be src. The hook, when given,
    // sees the input of every linear.
    Status run_block(std::int64_t block, const Tensor& src, Tensor& dst,
                     const BlockWeights& weights, LinearHook* hook = nullptr);

    // The attention module alone: dst = o_proj(attention(q, k, v)) of the already
    // normalised src [batch, seq, hidden]; no residual.
    Status attention(std::int64_t block, const Tensor& src, Tensor& dst,
                     const BlockWeights& weights, LinearHook* hook = nullptr);

    // The MLP module alone: dst = down_proj(silu(gate_proj(src)) · up_proj(src)); no residual.
    Status mlp(std::int64_t block, const Tensor& src, Tensor& dst, const BlockWeights& weights,
               LinearHook* hook = nullptr);

    // logits [rows, vocab] = lm_head(final_norm(hidden)) for hidden [rows..., hidden].
    Status logits(const Tensor& hidden, Tensor& dst);

    // The whole model: logits [batch, seq_len, vocab].
    Expected<Tensor> forward(std::span<const std::int32_t> tokens, std::int64_t batch,
                             std::int64_t seq_len);

  private:
    Status ensure_rope(std::int64_t seq_len);
    Status check_activation(const Tensor& tensor, const char* what) const;
    const Tensor& embedding_table();
    Status run_linear(std::int64_t block, LinearId id, const Tensor& src,
                      const BlockWeights& weights, Tensor& dst, LinearHook* hook);

    const Checkpoint& checkpoint_;
    Backend& backend_;
    Tensor embed_tokens_;  // uploaded on first use; lm_head_ shares it when tied
    Tensor lm_head_;
    Tensor final_norm_;
    Tensor rope_cos_;  // [positions, head_dim/2]
    Tensor rope_sin_;
    std::int64_t rope_positions_ = 0;
};

}  // namespace mcomp
