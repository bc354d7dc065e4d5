// llama_model.cpp: see llama_model.hpp. Module order and arithmetic follow transformers'
// modeling_llama.py (LlamaDecoderLayer, LlamaAttention, LlamaMLP, LlamaModel.forward).
#include "runtime/llama_model.hpp"

#include <cmath>

#include "model/llama_layout.hpp"
#include "runtime/rope.hpp"

namespace mcomp {

namespace {

std::string block_label(std::int64_t block) {
    return "block " + std::to_string(block);
}

// The backend's compute dtype in messages: "an fp32", "an fp16", "a bf16".
std::string dtype_phrase(DType dtype) {
    return dtype == DType::f32 ? "an fp32" : dtype == DType::f16 ? "an fp16" : "a bf16";
}

}  // namespace

LlamaModel::LlamaModel(const Checkpoint& checkpoint, Backend& backend)
    : checkpoint_(checkpoint), backend_(backend) {}

// ---- weights -----------------------------------------------------------------------------

Expected<BlockWeights> LlamaModel::load_block(std::int64_t block) {
    const ModelConfig& cfg = config();
    if (block < 0 || block >= cfg.num_hidden_layers) {
        return make_error(ErrorKind::internal, block_label(block) +
                                                   " does not exist; the model has " +
                                                   std::to_string(cfg.num_hidden_layers));
    }
    const auto upload = [&](const std::string& name) {
        // Checkpoint::open verified every name the config implies.
        return backend_.upload_weight(*checkpoint_.find(name));
    };
    BlockWeights weights;
    weights.input_norm = upload(input_norm_name(block));
    weights.post_attn_norm = upload(post_attn_norm_name(block));
    for (const LinearId id : kAllLinears) {
        LinearWeights& linear = weights.linear(id);
        const std::string prefix = linear_prefix(block, id);
        linear.weight = upload(prefix + ".weight");
        if (linear_has_bias(cfg, id)) {
            linear.bias = upload(prefix + ".bias");
        }
    }
    return weights;
}

Status LlamaModel::check_block(const BlockWeights& weights) const {
    const ModelConfig& cfg = config();
    const auto check = [&](const Tensor& tensor, const std::vector<std::int64_t>& shape,
                           const std::string& what) -> Status {
        if (!tensor.defined() || tensor.shape() != shape ||
            tensor.dtype() != backend_.compute_dtype() || tensor.device() != backend_.device()) {
            return make_error(
                ErrorKind::internal,
                what + " must be " + dtype_phrase(backend_.compute_dtype()) + " " +
                    std::string(device_name(backend_.device())) + " tensor of shape " +
                    shape_to_string(shape) + ", got " +
                    (tensor.defined() ? std::string(dtype_name(tensor.dtype())) + " " +
                                            std::string(device_name(tensor.device())) + " " +
                                            shape_to_string(tensor.shape())
                                      : std::string("none")));
        }
        return {};
    };
    MCOMP_TRY(check(weights.input_norm, {cfg.hidden_size}, "input_layernorm weight"));
    MCOMP_TRY(check(weights.post_attn_norm, {cfg.hidden_size}, "post_attention_layernorm weight"));
    for (const LinearId id : kAllLinears) {
        const std::array<std::int64_t, 2> shape = linear_shape(cfg, id);
        const LinearWeights& linear = weights.linear(id);
        const std::string name(linear_name(id));
        MCOMP_TRY(check(linear.weight, {shape[0], shape[1]}, name + " weight"));
        if (linear_has_bias(cfg, id) || linear.bias.defined()) {
            MCOMP_TRY(check(linear.bias, {shape[0]}, name + " bias"));
        }
    }
    return {};
}

const Tensor& LlamaModel::embedding_table() {
    if (!embed_tokens_.defined()) {
        embed_tokens_ = backend_.upload_weight(checkpoint_.embed_tokens());
    }
    return embed_tokens_;
}

// ---- activations -------------------------------------------------------------------------

Status LlamaModel::check_activation(const Tensor& tensor, const char* what) const {
    const ModelConfig& cfg = config();
    if (tensor.ndim() != 3 || tensor.dim(2) != cfg.hidden_size ||
        tensor.dtype() != backend_.compute_dtype() || tensor.device() != backend_.device()) {
        return make_error(ErrorKind::internal,
                          std::string(what) + " must be " + dtype_phrase(backend_.compute_dtype()) +
                              " " + std::string(device_name(backend_.device())) +
                              " tensor [batch, seq, " + std::to_string(cfg.hidden_size) +
                              "], got " + shape_to_string(tensor.shape()));
    }
    return {};
}

Expected<Tensor> LlamaModel::embed(std::span<const std::int32_t> tokens, std::int64_t batch,
                                   std::int64_t seq_len) {
    const ModelConfig& cfg = config();
    if (batch <= 0 || seq_len <= 0 || static_cast<std::int64_t>(tokens.size()) != batch * seq_len) {
        return make_error(ErrorKind::internal, "embed: " + std::to_string(tokens.size()) +
                                                   " tokens do not make " + std::to_string(batch) +
                                                   " sequences of " + std::to_string(seq_len));
    }
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size) {
            return make_error(ErrorKind::bad_input,
                              "token id " + std::to_string(tokens[i]) + " at position " +
                                  std::to_string(i) + " is outside the vocabulary of " +
                                  std::to_string(cfg.vocab_size) +
                                  "; the tokenizer does not belong to this model");
        }
    }
    Tensor hidden = backend_.alloc(backend_.compute_dtype(), {batch, seq_len, cfg.hidden_size});
    backend_.embed(embedding_table(), tokens.data(), batch * seq_len, hidden);
    return hidden;
}

Status LlamaModel::ensure_rope(std::int64_t seq_len) {
    if (seq_len <= rope_positions_) {
        return {};
    }
    const ModelConfig& cfg = config();
    const std::int64_t positions =
        std::max(seq_len, std::min<std::int64_t>(cfg.max_position_embeddings, 4096));
    const RopeTables tables = rope_tables(rope_inv_freq(cfg), positions);
    rope_cos_ = backend_.upload(tables.cos.data(), {positions, cfg.head_dim / 2});
    rope_sin_ = backend_.upload(tables.sin.data(), {positions, cfg.head_dim / 2});
    rope_positions_ = positions;
    return {};
}

// ---- block -------------------------------------------------------------------------------

Status LlamaModel::run_linear(std::int64_t block, LinearId id, const Tensor& src,
                              const BlockWeights& weights, Tensor& dst, LinearHook* hook) {
    if (hook != nullptr) {
        MCOMP_TRY(hook->on_linear_input(block, id, src));
    }
    const LinearWeights& linear = weights.linear(id);
    backend_.linear(src, linear.weight, linear.bias, dst);
    return {};
}

Status LlamaModel::attention(std::int64_t block, const Tensor& src, Tensor& dst,
                             const BlockWeights& weights, LinearHook* hook) {
    const ModelConfig& cfg = config();
    MCOMP_TRY(check_activation(src, "attention input"));
    const std::int64_t batch = src.dim(0);
    const std::int64_t seq = src.dim(1);
    MCOMP_TRY(ensure_rope(seq));
    Tensor q = backend_.alloc(backend_.compute_dtype(), {batch, seq, cfg.q_size()});
    Tensor k = backend_.alloc(backend_.compute_dtype(), {batch, seq, cfg.kv_size()});
    Tensor v = backend_.alloc(backend_.compute_dtype(), {batch, seq, cfg.kv_size()});
    MCOMP_TRY(run_linear(block, LinearId::q_proj, src, weights, q, hook));
    MCOMP_TRY(run_linear(block, LinearId::k_proj, src, weights, k, hook));
    MCOMP_TRY(run_linear(block, LinearId::v_proj, src, weights, v, hook));
    backend_.rope(q, cfg.num_attention_heads, cfg.head_dim, rope_cos_, rope_sin_);
    backend_.rope(k, cfg.num_key_value_heads, cfg.head_dim, rope_cos_, rope_sin_);

    AttentionShape shape;
    shape.batch = batch;
    shape.seq_len = seq;
    shape.num_heads = cfg.num_attention_heads;
    shape.num_kv_heads = cfg.num_key_value_heads;
    shape.head_dim = cfg.head_dim;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(cfg.head_dim));  // head_dim ** -0.5
    shape.window = cfg.sliding_window;
    Tensor context = backend_.alloc(backend_.compute_dtype(), {batch, seq, cfg.q_size()});
    backend_.attention(q, k, v, shape, context);
    return run_linear(block, LinearId::o_proj, context, weights, dst, hook);
}

Status LlamaModel::mlp(std::int64_t block, const Tensor& src, Tensor& dst,
                       const BlockWeights& weights, LinearHook* hook) {
    const ModelConfig& cfg = config();
    MCOMP_TRY(check_activation(src, "mlp input"));
    const std::int64_t batch = src.dim(0);
    const std::int64_t seq = src.dim(1);
    Tensor gate = backend_.alloc(backend_.compute_dtype(), {batch, seq, cfg.intermediate_size});
    Tensor up = backend_.alloc(backend_.compute_dtype(), {batch, seq, cfg.intermediate_size});
    MCOMP_TRY(run_linear(block, LinearId::gate_proj, src, weights, gate, hook));
    MCOMP_TRY(run_linear(block, LinearId::up_proj, src, weights, up, hook));
    backend_.swiglu(gate, up, gate);
    return run_linear(block, LinearId::down_proj, gate, weights, dst, hook);
}

Status LlamaModel::run_block(std::int64_t block, const Tensor& src, Tensor& dst,
                             const BlockWeights& weights, LinearHook* hook) {
    const ModelConfig& cfg = config();
    MCOMP_TRY(check_activation(src, "block input"));
    MCOMP_TRY(check_activation(dst, "block output"));
    if (src.shape() != dst.shape()) {
        return make_error(ErrorKind::internal,
                          "block output shape " + shape_to_string(dst.shape()) +
                              " differs from its input's " + shape_to_string(src.shape()));
    }
    MCOMP_TRY(check_block(weights));
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    Tensor normed = backend_.alloc(backend_.compute_dtype(), src.shape());
    Tensor branch = backend_.alloc(backend_.compute_dtype(), src.shape());
    // LlamaDecoderLayer: residual + self_attn(input_layernorm(x)), then the MLP likewise.
    backend_.rms_norm(src, weights.input_norm, eps, normed);
    MCOMP_TRY(attention(block, normed, branch, weights, hook));
    backend_.add(src, branch, dst);
    backend_.rms_norm(dst, weights.post_attn_norm, eps, normed);
    MCOMP_TRY(mlp(block, normed, branch, weights, hook));
    backend_.add(dst, branch, dst);
    return {};
}

// ---- head --------------------------------------------------------------------------------

Status LlamaModel::logits(const Tensor& hidden, Tensor& dst) {
    const ModelConfig& cfg = config();
    if (hidden.cols() != cfg.hidden_size || dst.rows() != hidden.rows() ||
        dst.cols() != cfg.vocab_size) {
        return make_error(ErrorKind::internal, "logits: hidden " + shape_to_string(hidden.shape()) +
                                                   " and logits " + shape_to_string(dst.shape()) +
                                                   " do not fit the model");
    }
    if (!final_norm_.defined()) {
        final_norm_ = backend_.upload_weight(*checkpoint_.find(std::string(kFinalNormName)));
    }
    if (!lm_head_.defined()) {
        const bool tied = &checkpoint_.lm_head() == &checkpoint_.embed_tokens();
        lm_head_ = tied ? embedding_table() : backend_.upload_weight(checkpoint_.lm_head());
    }
    Tensor normed = backend_.alloc(backend_.compute_dtype(), {hidden.rows(), cfg.hidden_size});
    backend_.rms_norm(hidden, final_norm_, static_cast<float>(cfg.rms_norm_eps), normed);
    backend_.linear(normed, lm_head_, Tensor(), dst);
    return {};
}

Expected<Tensor> LlamaModel::forward(std::span<const std::int32_t> tokens, std::int64_t batch,
                                     std::int64_t seq_len) {
    Expected<Tensor> hidden = embed(tokens, batch, seq_len);
    if (!hidden) {
        return hidden.error();
    }
    for (std::int64_t block = 0; block < config().num_hidden_layers; ++block) {
        Expected<BlockWeights> weights = load_block(block);
        if (!weights) {
            return weights.error();
        }
        MCOMP_TRY(run_block(block, *hidden, *hidden, *weights));
    }
    Tensor out = backend_.alloc(DType::f32, {batch, seq_len, config().vocab_size});
    MCOMP_TRY(logits(*hidden, out));
    return out;
}

}  // namespace mcomp
