// cpu_backend.cpp: see cpu_backend.hpp. Each kernel reproduces the fp32 arithmetic of the
// transformers module it stands for (cited at the kernel), so the forward agrees with
// LlamaForCausalLM in fp32 to rounding.
#include "runtime/cpu_backend.hpp"

#include <omp.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "runtime/cpu_math.hpp"
#include "runtime/cpu_matmul.hpp"

namespace mcomp {

namespace {

// Below this many elements a loop runs on one thread: forking costs more than it saves.
constexpr std::int64_t kParallelMinElements = 1 << 14;

// Queries per attention work item: at most 128 (large enough for efficient products), fewer
// (down to 32) when that is what it takes to give every thread two items; keys stop at the
// tile's last query (causality).
constexpr std::int64_t kAttentionTileMax = 128;
constexpr std::int64_t kAttentionTileMin = 32;

std::int64_t attention_tile(const AttentionShape& shape, std::int64_t num_threads) {
    const std::int64_t sequences = shape.batch * shape.num_kv_heads;
    const std::int64_t even_split =
        shape.seq_len * sequences / std::max<std::int64_t>(1, 2 * num_threads);
    const std::int64_t tile = std::clamp(even_split, kAttentionTileMin, kAttentionTileMax);
    return std::min(shape.seq_len, tile);
}

// ---- row kernels (vectorized; one build per x86-64 level) ----------------------------------

// Σ x² in double, so that long rows lose nothing before the fp32 rounding torch applies.
MCOMP_CPU_KERNEL double sum_squares(const float* x, std::int64_t n) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < n; ++i) {
        sum += static_cast<double>(x[i]) * x[i];
    }
    return sum;
}

MCOMP_CPU_KERNEL void scale_by_weight(const float* x, const float* w, float inv_rms, std::int64_t n,
                                      float* y) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        y[i] = w[i] * (x[i] * inv_rms);
    }
}

// Softmax of scale·s over [first, last), zeros elsewhere in [0, len).
MCOMP_CPU_KERNEL void masked_softmax_row(float* s, std::int64_t first, std::int64_t last,
                                         std::int64_t len, float scale) {
    float max_value = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max_value)
    for (std::int64_t j = first; j < last; ++j) {
        max_value = std::max(max_value, s[j] * scale);
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t j = first; j < last; ++j) {
        s[j] = fast_exp(s[j] * scale - max_value);
        sum += s[j];
    }
    const float inv_sum = 1.0f / sum;
#pragma omp simd
    for (std::int64_t j = first; j < last; ++j) {
        s[j] *= inv_sum;
    }
    for (std::int64_t j = 0; j < first; ++j) {
        s[j] = 0.0f;
    }
    for (std::int64_t j = last; j < len; ++j) {
        s[j] = 0.0f;
    }
}

MCOMP_CPU_KERNEL void swiglu_range(const float* gate, const float* up, std::int64_t n, float* dst) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        dst[i] = gate[i] / (1.0f + fast_exp(-gate[i])) * up[i];
    }
}

MCOMP_CPU_KERNEL void add_range(const float* a, const float* b, std::int64_t n, float* dst) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        dst[i] = a[i] + b[i];
    }
}

// logsumexp(x) - x[target] with the sum in double.
MCOMP_CPU_KERNEL float nll_row(const float* x, std::int64_t n, std::int32_t target) {
    float max_value = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max_value)
    for (std::int64_t i = 0; i < n; ++i) {
        max_value = std::max(max_value, x[i]);
    }
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < n; ++i) {
        sum += static_cast<double>(fast_exp(x[i] - max_value));
    }
    return static_cast<float>(std::log(sum) + max_value - x[target]);
}

// Runs f(begin, end) over [0, count) in chunks on the OpenMP threads, or inline when small.
template <class F>
void parallel_ranges(std::int64_t count, F&& f) {
    if (count < kParallelMinElements) {
        f(0, count);
        return;
    }
    const std::int64_t chunk = 1 << 12;
#pragma omp parallel for schedule(static)
    for (std::int64_t begin = 0; begin < count; begin += chunk) {
        f(begin, std::min(count, begin + chunk));
    }
}

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
#pragma omp parallel for schedule(static) if (rows * width > kParallelMinElements)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* x = src.f32() + r * width;
        const double mean_square = sum_squares(x, width) / static_cast<double>(width);
        const float inv_rms = 1.0f / std::sqrt(static_cast<float>(mean_square) + eps);
        scale_by_weight(x, weight.f32(), inv_rms, width, dst.f32() + r * width);
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

// Work item (b, g, tile): for sequence b, kv head g and queries [q0, q0 + rows), the
// `group` query heads sharing g form one batched product against the keys the tile can
// see, [k0, q0 + rows):
//   S[group, rows, keys] = Q[group, rows, d] · K_gᵀ[1, d, keys]   (K broadcast over group)
//   P = causal softmax(scale · S)                                   (eager_attention_forward)
//   O[group, rows, d] = P · V_g[1, keys, d]
// Q, K, V and O are addressed in place inside their [seq, heads·d] rows through strides.
// Items run in parallel, each product single-threaded on its thread's oneDNN stream.
void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionShape& shape, Tensor& dst) {
    const std::int64_t seq = shape.seq_len;
    const std::int64_t d = shape.head_dim;
    const std::int64_t group = shape.num_heads / shape.num_kv_heads;
    const std::int64_t q_width = shape.num_heads * d;
    const std::int64_t kv_width = shape.num_kv_heads * d;
    const std::int64_t num_threads = omp_get_max_threads();
    const std::int64_t tile = attention_tile(shape, num_threads);
    const std::int64_t num_tiles = (seq + tile - 1) / tile;

    struct TilePlan {
        std::int64_t q0 = 0, rows = 0, k0 = 0, keys = 0;
        const MatmulPlan* scores = nullptr;
        const MatmulPlan* values = nullptr;
    };
    std::vector<TilePlan> plans(static_cast<std::size_t>(num_tiles));
    for (std::int64_t t = 0; t < num_tiles; ++t) {
        TilePlan& p = plans[static_cast<std::size_t>(t)];
        p.q0 = t * tile;
        p.rows = std::min(tile, seq - p.q0);
        p.k0 = shape.window ? std::max<std::int64_t>(0, p.q0 - *shape.window + 1) : 0;
        p.keys = p.q0 + p.rows - p.k0;
        const MatmulOperand q_desc{{group, p.rows, d}, {d, q_width, 1}};
        const MatmulOperand kt_desc{{1, d, p.keys}, {d * p.keys, 1, kv_width}};
        const MatmulOperand s_desc{{group, p.rows, p.keys}, {p.rows * p.keys, p.keys, 1}};
        const MatmulOperand v_desc{{1, p.keys, d}, {p.keys * d, kv_width, 1}};
        p.scores = matmul_->plan(q_desc, kt_desc, {}, s_desc);
        p.values = matmul_->plan(s_desc, v_desc, {}, q_desc);
    }
    const std::int64_t scratch_floats = group * tile * seq;
    if (scores_.numel() < num_threads * scratch_floats) {
        scores_ = Tensor::empty_cpu(DType::f32, {num_threads, scratch_floats});
    }
    // Largest tiles first, so the dynamic schedule ends evenly.
    const std::int64_t items = shape.batch * shape.num_kv_heads * num_tiles;
#pragma omp parallel for schedule(dynamic, 1) if (items > 1)
    for (std::int64_t item = 0; item < items; ++item) {
        const TilePlan& p = plans[static_cast<std::size_t>(num_tiles - 1 - item % num_tiles)];
        const std::int64_t g = (item / num_tiles) % shape.num_kv_heads;
        const std::int64_t b = item / (num_tiles * shape.num_kv_heads);
        float* s = scores_.f32() + omp_get_thread_num() * scratch_floats;
        const float* q_tile = q.f32() + (b * seq + p.q0) * q_width + g * group * d;
        const float* k_tile = k.f32() + (b * seq + p.k0) * kv_width + g * d;
        const float* v_tile = v.f32() + (b * seq + p.k0) * kv_width + g * d;
        float* o_tile = dst.f32() + (b * seq + p.q0) * q_width + g * group * d;
        matmul_->execute(p.scores, q_tile, k_tile, nullptr, s);
        for (std::int64_t h = 0; h < group; ++h) {
            for (std::int64_t r = 0; r < p.rows; ++r) {
                // Query position i sees keys j ≤ i, and j > i - window with a window.
                const std::int64_t i = p.q0 + r;
                const std::int64_t first =
                    shape.window ? std::max<std::int64_t>(0, i - *shape.window + 1) : 0;
                masked_softmax_row(s + (h * p.rows + r) * p.keys, first - p.k0, i + 1 - p.k0,
                                   p.keys, shape.scale);
            }
        }
        matmul_->execute(p.values, s, v_tile, nullptr, o_tile);
    }
}

// LlamaMLP: down_proj(act_fn(gate_proj(x)) * up_proj(x)), act_fn = SiLU = x·sigmoid(x).
void CpuBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& dst) {
    parallel_ranges(gate.numel(), [&](std::int64_t begin, std::int64_t end) {
        swiglu_range(gate.f32() + begin, up.f32() + begin, end - begin, dst.f32() + begin);
    });
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& dst) {
    parallel_ranges(a.numel(), [&](std::int64_t begin, std::int64_t end) {
        add_range(a.f32() + begin, b.f32() + begin, end - begin, dst.f32() + begin);
    });
}

// CrossEntropyLoss for one row: logsumexp(logits) - logits[target].
void CpuBackend::cross_entropy(const Tensor& logits, const std::int32_t* targets, float* nll) {
    const std::int64_t rows = logits.rows();
    const std::int64_t vocab = logits.cols();
#pragma omp parallel for schedule(static) if (rows * vocab > kParallelMinElements)
    for (std::int64_t r = 0; r < rows; ++r) {
        nll[r] = nll_row(logits.f32() + r * vocab, vocab, targets[r]);
    }
}

}  // namespace mcomp
