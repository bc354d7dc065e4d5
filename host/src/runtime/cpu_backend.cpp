// cpu_backend.cpp: see cpu_backend.hpp. Each kernel reproduces the fp32 arithmetic of the
// transformers module it stands for (cited at the kernel), so the forward agrees with
// LlamaForCausalLM in fp32 to rounding.
#include "runtime/cpu_backend.hpp"

#include <omp.h>

#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/cpu_matmul.hpp"

namespace mcomp {

namespace {

// Below this many elements a loop runs on one thread: forking costs more than it saves.
constexpr std::int64_t kParallelMinElements = 1 << 14;

}  // namespace

CpuBackend::CpuBackend() : matmul_(std::make_unique<CpuMatmul>()) {}

CpuBackend::~CpuBackend() = default;

// ---- memory ------------------------------------------------------------------------------

Tensor CpuBackend::alloc(DType dtype, std::vector<std::int64_t> shape) {
    return Tensor::empty_cpu(dtype, std::move(shape));
}

Tensor CpuBackend::upload_weight(const TensorView& src) {
    const bool aligned = reinterpret_cast<std::uintptr_t>(src.data) % alignof(float) == 0;
    if (src.dtype == DType::f32 && aligned) {
        // Zero copy: the mapped checkpoint is read in place, paged in on first use.
        return Tensor::view(DType::f32, src.shape,
                            const_cast<void*>(static_cast<const void*>(src.data)));
    }
    Tensor dst = Tensor::empty_cpu(DType::f32, src.shape);
    const bool converted =
        convert_to_f32(src.dtype, src.data, static_cast<std::size_t>(src.numel()), dst.f32());
    assert(converted && "checkpoint validation admits only F32, F16 and BF16 weights");
    (void)converted;
    return dst;
}

Tensor CpuBackend::upload(const float* src, std::vector<std::int64_t> shape) {
    Tensor dst = Tensor::empty_cpu(DType::f32, std::move(shape));
    std::memcpy(dst.data(), src, dst.num_bytes());
    return dst;
}

void CpuBackend::download(const Tensor& src, float* dst) {
    std::memcpy(dst, src.data(), src.num_bytes());
}

// ---- kernels -----------------------------------------------------------------------------

void CpuBackend::embed(const Tensor& table, const std::int32_t* tokens, std::int64_t count,
                       Tensor& dst) {
    const std::int64_t width = table.cols();
    const float* src = table.f32();
    float* out = dst.f32();
#pragma omp parallel for schedule(static) if (count * width > kParallelMinElements)
    for (std::int64_t i = 0; i < count; ++i) {
        std::memcpy(out + i * width, src + static_cast<std::int64_t>(tokens[i]) * width,
                    static_cast<std::size_t>(width) * sizeof(float));
    }
}

// LlamaRMSNorm.forward: variance = x.pow(2).mean(-1); x = x * rsqrt(variance + eps);
// return weight * x. The mean is accumulated in double, then rounded like torch's fp32.
void CpuBackend::rms_norm(const Tensor& src, const Tensor& weight, float eps, Tensor& dst) {
    const std::int64_t rows = src.rows();
    const std::int64_t width = src.cols();
    const float* w = weight.f32();
#pragma omp parallel for schedule(static) if (rows * width > kParallelMinElements)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* x = src.f32() + r * width;
        float* y = dst.f32() + r * width;
        double sum_squares = 0.0;
        for (std::int64_t i = 0; i < width; ++i) {
            sum_squares += static_cast<double>(x[i]) * x[i];
        }
        const float variance = static_cast<float>(sum_squares / static_cast<double>(width));
        const float inv_rms = 1.0f / std::sqrt(variance + eps);
        for (std::int64_t i = 0; i < width; ++i) {
            y[i] = w[i] * (x[i] * inv_rms);
        }
    }
}

void CpuBackend::linear(const Tensor& src, const Tensor& weight, const Tensor& bias, Tensor& dst) {
    assert(src.cols() == weight.dim(1) && dst.cols() == weight.dim(0));
    matmul_->linear(src.f32(), src.rows(), src.cols(), weight.f32(), weight.dim(0),
                    bias.defined() ? bias.f32() : nullptr, dst.f32());
}

// apply_rotary_pos_emb: q·cos + rotate_half(q)·sin with rotate_half(x) = cat(-x2, x1) and
// cos = cat(cos(θ), cos(θ)) over the two halves of each head.
void CpuBackend::rope(Tensor& x, std::int64_t num_heads, std::int64_t head_dim, const Tensor& cos,
                      const Tensor& sin) {
    const std::int64_t seq_len = x.dim(1);
    const std::int64_t rows = x.rows();
    const std::int64_t half = head_dim / 2;
    const std::int64_t width = x.cols();
#pragma omp parallel for schedule(static) if (rows * width > kParallelMinElements)
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t position = r % seq_len;
        const float* c = cos.f32() + position * half;
        const float* s = sin.f32() + position * half;
        for (std::int64_t h = 0; h < num_heads; ++h) {
            float* x1 = x.f32() + r * width + h * head_dim;
            float* x2 = x1 + half;
            for (std::int64_t i = 0; i < half; ++i) {
                const float a = x1[i];
                const float b = x2[i];
                x1[i] = a * c[i] - b * s[i];
                x2[i] = b * c[i] + a * s[i];
            }
        }
    }
}

// Softmax over keys 0..t of each query row t (and inside the window, when one applies),
// after scaling, as eager_attention_forward: softmax(q·kᵀ·scale + causal_mask) in fp32.
// Masked entries become exact zeros, so the following P·V product may run over all keys.
void CpuBackend::causal_softmax(float* scores, std::int64_t groups, const AttentionShape& shape) {
    const std::int64_t seq = shape.seq_len;
    const std::int64_t total_rows = groups * seq;
#pragma omp parallel for schedule(static) if (total_rows * seq > kParallelMinElements)
    for (std::int64_t row = 0; row < total_rows; ++row) {
        const std::int64_t t = row % seq;
        float* s = scores + row * seq;
        const std::int64_t first =
            shape.window ? std::max<std::int64_t>(0, t - *shape.window + 1) : 0;
        float max_value = -std::numeric_limits<float>::infinity();
        for (std::int64_t j = first; j <= t; ++j) {
            s[j] *= shape.scale;
            max_value = std::max(max_value, s[j]);
        }
        float sum = 0.0f;
        for (std::int64_t j = first; j <= t; ++j) {
            s[j] = std::exp(s[j] - max_value);
            sum += s[j];
        }
        const float inv_sum = 1.0f / sum;
        for (std::int64_t j = 0; j < seq; ++j) {
            s[j] = (j >= first && j <= t) ? s[j] * inv_sum : 0.0f;
        }
    }
}

// For each sequence b and kv head g, the `group` query heads that share g form one batched
// product: S[group, T, T] = Q[group, T, d] · K_gᵀ[1, d, T] (weights broadcast over the
// group), then O[group, T, d] = softmax(S) · V_g. Q, K, V and O are read and written in
// place inside their [T, heads·d] rows through strides.
void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionShape& shape, Tensor& dst) {
    const std::int64_t seq = shape.seq_len;
    const std::int64_t d = shape.head_dim;
    const std::int64_t group = shape.num_heads / shape.num_kv_heads;
    const std::int64_t q_width = shape.num_heads * d;
    const std::int64_t kv_width = shape.num_kv_heads * d;
    if (!scores_.defined() || scores_.numel() < group * seq * seq) {
        scores_ = Tensor::empty_cpu(DType::f32, {group, seq, seq});
    }
    float* scores = scores_.f32();
    const MatmulOperand q_desc{{group, seq, d}, {d, q_width, 1}};
    const MatmulOperand kt_desc{{1, d, seq}, {d * seq, 1, kv_width}};
    const MatmulOperand s_desc{{group, seq, seq}, {seq * seq, seq, 1}};
    const MatmulOperand v_desc{{1, seq, d}, {seq * d, kv_width, 1}};
    const MatmulOperand o_desc{{group, seq, d}, {d, q_width, 1}};
    const MatmulOperand no_bias{};
    for (std::int64_t b = 0; b < shape.batch; ++b) {
        for (std::int64_t g = 0; g < shape.num_kv_heads; ++g) {
            const float* q_g = q.f32() + b * seq * q_width + g * group * d;
            const float* k_g = k.f32() + b * seq * kv_width + g * d;
            const float* v_g = v.f32() + b * seq * kv_width + g * d;
            float* o_g = dst.f32() + b * seq * q_width + g * group * d;
            matmul_->run(q_desc, q_g, kt_desc, k_g, no_bias, nullptr, s_desc, scores);
            causal_softmax(scores, group, shape);
            matmul_->run(s_desc, scores, v_desc, v_g, no_bias, nullptr, o_desc, o_g);
        }
    }
}

// LlamaMLP: down_proj(act_fn(gate_proj(x)) * up_proj(x)), act_fn = SiLU = x·sigmoid(x).
void CpuBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& dst) {
    const std::int64_t count = gate.numel();
    const float* g = gate.f32();
    const float* u = up.f32();
    float* out = dst.f32();
#pragma omp parallel for schedule(static) if (count > kParallelMinElements)
    for (std::int64_t i = 0; i < count; ++i) {
        out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& dst) {
    const std::int64_t count = a.numel();
    const float* x = a.f32();
    const float* y = b.f32();
    float* out = dst.f32();
#pragma omp parallel for schedule(static) if (count > kParallelMinElements)
    for (std::int64_t i = 0; i < count; ++i) {
        out[i] = x[i] + y[i];
    }
}

// CrossEntropyLoss for one row: logsumexp(logits) - logits[target].
void CpuBackend::cross_entropy(const Tensor& logits, const std::int32_t* targets, float* nll) {
    const std::int64_t rows = logits.rows();
    const std::int64_t vocab = logits.cols();
#pragma omp parallel for schedule(static) if (rows * vocab > kParallelMinElements)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* x = logits.f32() + r * vocab;
        float max_value = -std::numeric_limits<float>::infinity();
        for (std::int64_t i = 0; i < vocab; ++i) {
            max_value = std::max(max_value, x[i]);
        }
        double sum = 0.0;
        for (std::int64_t i = 0; i < vocab; ++i) {
            sum += std::exp(static_cast<double>(x[i] - max_value));
        }
        nll[r] = static_cast<float>(std::log(sum) + max_value - x[targets[r]]);
    }
}

}  // namespace mcomp
