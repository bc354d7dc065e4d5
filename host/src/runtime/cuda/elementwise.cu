// elementwise.cu: the memory-bound kernels of the CUDA backend — dtype conversion,
// embedding gather, RMSNorm, rotary embedding, SwiGLU, residual add, bias add. Each one is
// a single pass over its tensors (where transformers' eager modules launch several), with
// 16-byte accesses where the pointers allow, fp32 arithmetic and one rounding on store.
// The CPU twins are in cpu_backend.cpp; the formulas cited there hold here.
#include "runtime/cuda/cuda_check.hpp"
#include "runtime/cuda/device_util.cuh"
#include "runtime/cuda/kernels.hpp"

namespace mcomp::cuda {

namespace {

constexpr int kThreads = 256;

// ---- conversion ---------------------------------------------------------------------------

template <typename S, typename D>
__global__ void convert_kernel(const S* src, D* dst, std::int64_t count) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
         i < count; i += stride) {
        dst[i] = from_float<D>(to_float(src[i]));
    }
}

// ---- embedding ----------------------------------------------------------------------------

// One block per token: a row copy (with conversion when the table's type differs).
template <typename S, typename D>
__global__ void embed_kernel(const S* table, const std::int32_t* tokens, std::int64_t width,
                             D* dst) {
    const std::int64_t row = blockIdx.x;
    const S* src = table + static_cast<std::int64_t>(tokens[row]) * width;
    D* out = dst + row * width;
    for (std::int64_t i = threadIdx.x; i < width; i += blockDim.x) {
        out[i] = from_float<D>(to_float(src[i]));
    }
}

// ---- RMSNorm ------------------------------------------------------------------------------

// LlamaRMSNorm: the mean of squares in fp32, x·rsqrt(mean + eps) rounded to the input type,
// then times the weight (hidden_states.to(input_dtype) before `weight *`). One block per
// row; the second pass re-reads the row from L1/L2.
template <typename T, bool kVectorized>
__global__ void rms_norm_kernel(const T* src, const T* weight, std::int64_t width, float eps,
                                T* dst) {
    __shared__ float scratch[32];
    const T* x = src + static_cast<std::int64_t>(blockIdx.x) * width;
    T* y = dst + static_cast<std::int64_t>(blockIdx.x) * width;
    constexpr int kVec = kVectorized ? Vec<T>::kSize : 1;
    const std::int64_t num_vec = width / kVec;
    float sum_squares = 0.0f;
    for (std::int64_t v = threadIdx.x; v < num_vec; v += blockDim.x) {
        if constexpr (kVectorized) {
            const Vec<T> pack = load_vec(x + v * kVec);
            for (int k = 0; k < kVec; ++k) {
                sum_squares += pack.get(k) * pack.get(k);
            }
        } else {
            const float value = to_float(x[v]);
            sum_squares += value * value;
        }
    }
    sum_squares = block_reduce(sum_squares, scratch, SumOp{});
    const float variance = sum_squares / static_cast<float>(width);
    const float inv_rms = 1.0f / sqrtf(variance + eps);
    for (std::int64_t v = threadIdx.x; v < num_vec; v += blockDim.x) {
        if constexpr (kVectorized) {
            const Vec<T> pack = load_vec(x + v * kVec);
            const Vec<T> w = load_vec(weight + v * kVec);
            Vec<T> out;
            for (int k = 0; k < kVec; ++k) {
                out.set(k, w.get(k) * round_to<T>(pack.get(k) * inv_rms));
            }
            store_vec(y + v * kVec, out);
        } else {
            y[v] = from_float<T>(to_float(weight[v]) * round_to<T>(to_float(x[v]) * inv_rms));
        }
    }
}

// ---- rotary embedding ---------------------------------------------------------------------

// One block per token row; its threads walk the row's rotated pairs (i, i + half) of every
// head: x1' = x1·cos − x2·sin, x2' = x2·cos + x1·sin (apply_rotary_pos_emb, rotate_half).
// 32-bit index arithmetic inside the row: 64-bit division costs dozens of instructions.
template <typename T>
__global__ void rope_kernel(T* x, int seq, int heads, int head_dim, const float* cos,
                            const float* sin) {
    const int half = head_dim / 2;
    const std::int64_t row = blockIdx.x;
    const int position = static_cast<int>(row % seq);
    T* row_x = x + row * heads * head_dim;
    const float* row_cos = cos + static_cast<std::int64_t>(position) * half;
    const float* row_sin = sin + static_cast<std::int64_t>(position) * half;
    for (int pair = static_cast<int>(threadIdx.x); pair < heads * half;
         pair += static_cast<int>(blockDim.x)) {
        const int head = pair / half;
        const int i = pair - head * half;
        T* x1 = row_x + head * head_dim + i;
        T* x2 = x1 + half;
        const float c = row_cos[i];
        const float s = row_sin[i];
        const float a = to_float(*x1);
        const float b = to_float(*x2);
        *x1 = from_float<T>(a * c - b * s);
        *x2 = from_float<T>(b * c + a * s);
    }
}

// ---- binary elementwise -------------------------------------------------------------------

struct SwigluOp {
    // SiLU(g)·u = g / (1 + exp(−g)) · u, as the CPU twin writes it.
    __device__ __forceinline__ float operator()(float g, float u) const {
        return g / (1.0f + expf(-g)) * u;
    }
};

struct AddOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};

template <typename T, typename Op, bool kVectorized>
__global__ void binary_kernel(const T* a, const T* b, T* dst, std::int64_t count, Op op) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    std::int64_t done = 0;
    if constexpr (kVectorized) {
        constexpr int kVec = Vec<T>::kSize;
        const std::int64_t num_vec = count / kVec;
        for (std::int64_t v = first; v < num_vec; v += stride) {
            const Vec<T> x = load_vec(a + v * kVec);
            const Vec<T> y = load_vec(b + v * kVec);
            Vec<T> out;
            for (int k = 0; k < kVec; ++k) {
                out.set(k, op(x.get(k), y.get(k)));
            }
            store_vec(dst + v * kVec, out);
        }
        done = num_vec * kVec;
    }
    for (std::int64_t i = done + first; i < count; i += stride) {
        dst[i] = from_float<T>(op(to_float(a[i]), to_float(b[i])));
    }
}

template <typename Op>
void launch_binary(const void* a, const void* b, void* dst, ElemType type, std::int64_t count,
                   Op op, cudaStream_t stream, const char* name) {
    if (count == 0) {
        return;
    }
    const bool aligned = is_aligned16(a) && is_aligned16(b) && is_aligned16(dst);
    dispatch_type(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const auto* pa = static_cast<const T*>(a);
        const auto* pb = static_cast<const T*>(b);
        auto* pd = static_cast<T*>(dst);
        if (aligned) {
            binary_kernel<T, Op, true>
                <<<grid_for(count / Vec<T>::kSize + 1, kThreads), kThreads, 0, stream>>>(pa, pb, pd,
                                                                                         count, op);
        } else {
            binary_kernel<T, Op, false>
                <<<grid_for(count, kThreads), kThreads, 0, stream>>>(pa, pb, pd, count, op);
        }
    });
    MCOMP_CUDA_CHECK_LAUNCH(name);
}

// ---- bias ---------------------------------------------------------------------------------

template <typename T, typename B>
__global__ void add_bias_kernel(T* dst, const B* bias, std::int64_t rows, std::int64_t cols) {
    const std::int64_t count = rows * cols;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
         i < count; i += stride) {
        dst[i] = from_float<T>(to_float(dst[i]) + to_float(bias[i % cols]));
    }
}

}  // namespace

// ---- launchers ----------------------------------------------------------------------------

void launch_convert(const void* src, ElemType src_type, void* dst, ElemType dst_type,
                    std::int64_t count, cudaStream_t stream) {
    if (count == 0) {
        return;
    }
    dispatch_type(src_type, [&](auto src_tag) {
        dispatch_type(dst_type, [&](auto dst_tag) {
            using S = typename decltype(src_tag)::type;
            using D = typename decltype(dst_tag)::type;
            convert_kernel<S, D><<<grid_for(count, kThreads), kThreads, 0, stream>>>(
                static_cast<const S*>(src), static_cast<D*>(dst), count);
        });
    });
    MCOMP_CUDA_CHECK_LAUNCH("convert_kernel");
}

void launch_embed(const void* table, ElemType table_type, const std::int32_t* tokens,
                  std::int64_t count, std::int64_t width, void* dst, ElemType dst_type,
                  cudaStream_t stream) {
    if (count == 0) {
        return;
    }
    dispatch_type(table_type, [&](auto src_tag) {
        dispatch_type(dst_type, [&](auto dst_tag) {
            using S = typename decltype(src_tag)::type;
            using D = typename decltype(dst_tag)::type;
            embed_kernel<S, D><<<static_cast<unsigned>(count), kThreads, 0, stream>>>(
                static_cast<const S*>(table), tokens, width, static_cast<D*>(dst));
        });
    });
    MCOMP_CUDA_CHECK_LAUNCH("embed_kernel");
}

void launch_rms_norm(const void* src, const void* weight, ElemType type, std::int64_t rows,
                     std::int64_t width, float eps, void* dst, cudaStream_t stream) {
    if (rows == 0) {
        return;
    }
    dispatch_type(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const bool vectorized = width % Vec<T>::kSize == 0 && is_aligned16(src) &&
                                is_aligned16(weight) && is_aligned16(dst);
        const std::int64_t per_thread = vectorized ? Vec<T>::kSize : 1;
        // One vector per thread where the row allows, in whole warps, at most 1024.
        std::int64_t threads = (width / per_thread + kWarpSize - 1) / kWarpSize * kWarpSize;
        threads = threads < kWarpSize ? kWarpSize : (threads > 1024 ? 1024 : threads);
        const auto* s = static_cast<const T*>(src);
        const auto* w = static_cast<const T*>(weight);
        auto* d = static_cast<T*>(dst);
        if (vectorized) {
            rms_norm_kernel<T, true>
                <<<static_cast<unsigned>(rows), static_cast<unsigned>(threads), 0, stream>>>(
                    s, w, width, eps, d);
        } else {
            rms_norm_kernel<T, false>
                <<<static_cast<unsigned>(rows), static_cast<unsigned>(threads), 0, stream>>>(
                    s, w, width, eps, d);
        }
    });
    MCOMP_CUDA_CHECK_LAUNCH("rms_norm_kernel");
}

void launch_rope(void* x, ElemType type, std::int64_t batch, std::int64_t seq, std::int64_t heads,
                 std::int64_t head_dim, const float* cos, const float* sin, cudaStream_t stream) {
    const std::int64_t rows = batch * seq;
    const std::int64_t pairs = heads * (head_dim / 2);
    if (rows == 0 || pairs == 0) {
        return;
    }
    const unsigned threads =
        static_cast<unsigned>(pairs < kThreads ? (pairs + 31) / 32 * 32 : kThreads);
    dispatch_type(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        rope_kernel<T><<<static_cast<unsigned>(rows), threads, 0, stream>>>(
            static_cast<T*>(x), static_cast<int>(seq), static_cast<int>(heads),
            static_cast<int>(head_dim), cos, sin);
    });
    MCOMP_CUDA_CHECK_LAUNCH("rope_kernel");
}

void launch_swiglu(const void* gate, const void* up, void* dst, ElemType type, std::int64_t count,
                   cudaStream_t stream) {
    launch_binary(gate, up, dst, type, count, SwigluOp{}, stream, "swiglu_kernel");
}

void launch_add(const void* a, const void* b, void* dst, ElemType type, std::int64_t count,
                cudaStream_t stream) {
    launch_binary(a, b, dst, type, count, AddOp{}, stream, "add_kernel");
}

void launch_add_bias(void* dst, ElemType dst_type, const void* bias, ElemType bias_type,
                     std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
    const std::int64_t count = rows * cols;
    if (count == 0) {
        return;
    }
    dispatch_type(dst_type, [&](auto dst_tag) {
        dispatch_type(bias_type, [&](auto bias_tag) {
            using T = typename decltype(dst_tag)::type;
            using B = typename decltype(bias_tag)::type;
            add_bias_kernel<T, B><<<grid_for(count, kThreads), kThreads, 0, stream>>>(
                static_cast<T*>(dst), static_cast<const B*>(bias), rows, cols);
        });
    });
    MCOMP_CUDA_CHECK_LAUNCH("add_bias_kernel");
}

}  // namespace mcomp::cuda
