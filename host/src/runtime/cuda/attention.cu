// attention.cu: causal grouped-query attention, flash style (FlashAttention-2, Dao 2023,
// Alg. 1): each block owns 64 queries of one head of one sequence and walks the key tiles
// up to the diagonal, keeping a running max m and sum l per query row (the online softmax
// of Milakov & Gimelshein 2018), so the [seq, seq] scores never reach device memory.
//
// Two kernels share the tiling:
//   - fp32: SIMT, 256 threads as 16×16, each owning a 4×4 block of the score tile; exact
//     fp32 arithmetic (expf), the twin of CpuBackend::attention to rounding.
//   - fp16 / bf16: tensor cores through mma.sync.m16n8k16 (fp32 accumulation), 4 warps of
//     16 query rows each. The score fragments are reused in registers as the A operand of
//     P·V (the C and A fragment layouts line up), V is transposed into shared memory so
//     that every B fragment is one 32-bit shared load. Fragment layouts: PTX ISA,
//     "Matrix fragments for mma.m16n8k16 with floating point type".
#include <cfloat>
#include <cstring>
#include <string>
#include <type_traits>

#include "runtime/cuda/cuda_check.hpp"
#include "runtime/cuda/device_util.cuh"
#include "runtime/cuda/kernels.hpp"

namespace mcomp::cuda {

namespace {

constexpr int kTile = 64;  // queries per block, keys per step
constexpr float kLog2e = 1.4426950408889634f;

struct Problem {
    const void* q;
    const void* k;
    const void* v;
    void* dst;
    int seq;
    int group;               // query heads per kv head
    std::int64_t q_stride;   // elements between consecutive tokens of q and dst
    std::int64_t kv_stride;  // elements between consecutive tokens of k and v
    float scale;
    int window;  // 0: none
};

// The first key tile any query of tile `q_tile` can see.
__device__ __forceinline__ int first_key_tile(int q_tile, int window) {
    if (window <= 0) {
        return 0;
    }
    const int first_key = q_tile * kTile - window + 1;
    return first_key <= 0 ? 0 : first_key / kTile;
}

__device__ __forceinline__ bool key_visible(int query, int key, int window) {
    return key <= query && (window <= 0 || query - key < window);
}

// Heavier (later) query tiles first, so the causal triangle's long rows start early.
__device__ __forceinline__ int block_query_tile() {
    return static_cast<int>(gridDim.x) - 1 - static_cast<int>(blockIdx.x);
}

// ---- fp32: SIMT ---------------------------------------------------------------------------

// Rows [row0, row0 + 64) of one head ([seq, stride] with the head at column 0) into
// shared [64][D + 1], zeros past the sequence's end.
template <int D>
__device__ __forceinline__ void load_tile_f32(const float* src, std::int64_t stride, int row0,
                                              int seq, float* dst) {
    for (int e = static_cast<int>(threadIdx.x); e < kTile * D; e += static_cast<int>(blockDim.x)) {
        const int r = e / D;
        const int c = e % D;
        dst[r * (D + 1) + c] = row0 + r < seq ? src[(row0 + r) * stride + c] : 0.0f;
    }
}

// Max and sum over the 16 threads (tx) that share a row: lanes differ in their low 4 bits.
__device__ __forceinline__ float row_max16(float x) {
    for (int offset = 8; offset > 0; offset /= 2) {
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
    }
    return x;
}
__device__ __forceinline__ float row_sum16(float x) {
    for (int offset = 8; offset > 0; offset /= 2) {
        x += __shfl_xor_sync(0xffffffffu, x, offset);
    }
    return x;
}

template <int D>
constexpr int f32_smem_bytes() {
    return (3 * kTile * (D + 1) + kTile * (kTile + 1)) * static_cast<int>(sizeof(float));
}

// Thread (ty, tx) owns query rows ty + 16i and key columns tx + 16j (i, j < 4) of the score
// tile, and output columns tx + 16c (c < D/16): strided so that a warp's shared loads fall
// in distinct banks.
template <int D>
__global__ void __launch_bounds__(256) attention_f32_kernel(Problem p) {
    constexpr int kPad = D + 1;
    constexpr int kCols = D / 16;
    extern __shared__ float smem_f32[];
    float* qs = smem_f32;
    float* ks = qs + kTile * kPad;
    float* vs = ks + kTile * kPad;
    float* ps = vs + kTile * kPad;  // [64][65]
    const int tx = static_cast<int>(threadIdx.x) % 16;
    const int ty = static_cast<int>(threadIdx.x) / 16;
    const int q_tile = block_query_tile();
    const int head = static_cast<int>(blockIdx.y);
    const std::int64_t batch = blockIdx.z;
    const int kv_head = head / p.group;
    const float* q = static_cast<const float*>(p.q) + batch * p.seq * p.q_stride + head * D;
    const float* k = static_cast<const float*>(p.k) + batch * p.seq * p.kv_stride + kv_head * D;
    const float* v = static_cast<const float*>(p.v) + batch * p.seq * p.kv_stride + kv_head * D;
    const int q0 = q_tile * kTile;
    load_tile_f32<D>(q, p.q_stride, q0, p.seq, qs);

    float o[4][kCols];
    float m[4];
    float l[4];
    for (int i = 0; i < 4; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int c = 0; c < kCols; ++c) {
            o[i][c] = 0.0f;
        }
    }
    for (int kt = first_key_tile(q_tile, p.window); kt <= q_tile; ++kt) {
        __syncthreads();  // the previous step's readers of ks/vs/ps are done
        load_tile_f32<D>(k, p.kv_stride, kt * kTile, p.seq, ks);
        load_tile_f32<D>(v, p.kv_stride, kt * kTile, p.seq, vs);
        __syncthreads();

        float s[4][4];
        for (int i = 0; i < 4; ++i) {
            for (int j = 0; j < 4; ++j) {
                s[i][j] = 0.0f;
            }
        }
        for (int d = 0; d < D; ++d) {
            float qv[4];
            float kv[4];
            for (int i = 0; i < 4; ++i) {
                qv[i] = qs[(ty + 16 * i) * kPad + d];
                kv[i] = ks[(tx + 16 * i) * kPad + d];
            }
            for (int i = 0; i < 4; ++i) {
                for (int j = 0; j < 4; ++j) {
                    s[i][j] += qv[i] * kv[j];
                }
            }
        }
        // Online softmax: rescale what was accumulated by exp(m_old − m_new).
        for (int i = 0; i < 4; ++i) {
            const int query = q0 + ty + 16 * i;
            float tile_max = -INFINITY;
            for (int j = 0; j < 4; ++j) {
                const int key = kt * kTile + tx + 16 * j;
                s[i][j] = key_visible(query, key, p.window) ? s[i][j] * p.scale : -INFINITY;
                tile_max = fmaxf(tile_max, s[i][j]);
            }
            tile_max = row_max16(tile_max);
            const float m_new = fmaxf(m[i], tile_max);
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet
            const float alpha = expf(m[i] - m_use);
            float tile_sum = 0.0f;
            for (int j = 0; j < 4; ++j) {
                const float prob = expf(s[i][j] - m_use);
                ps[(ty + 16 * i) * (kTile + 1) + tx + 16 * j] = prob;
                tile_sum += prob;
            }
            l[i] = l[i] * alpha + row_sum16(tile_sum);
            m[i] = m_new;
            for (int c = 0; c < kCols; ++c) {
                o[i][c] *= alpha;
            }
        }
        __syncthreads();
        for (int j = 0; j < kTile; ++j) {
            float vv[kCols];
            for (int c = 0; c < kCols; ++c) {
                vv[c] = vs[j * kPad + tx + 16 * c];
            }
            for (int i = 0; i < 4; ++i) {
                const float prob = ps[(ty + 16 * i) * (kTile + 1) + j];
                for (int c = 0; c < kCols; ++c) {
                    o[i][c] += prob * vv[c];
                }
            }
        }
    }
    float* dst = static_cast<float*>(p.dst) + batch * p.seq * p.q_stride + head * D;
    for (int i = 0; i < 4; ++i) {
        const int query = q0 + ty + 16 * i;
        if (query < p.seq) {
            for (int c = 0; c < kCols; ++c) {
                dst[query * p.q_stride + tx + 16 * c] = o[i][c] / l[i];
            }
        }
    }
}

// ---- fp16 / bf16: tensor cores ------------------------------------------------------------

template <typename T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ std::uint32_t pack2<__half>(float lo, float hi) {
    const __half2 pair = __floats2half2_rn(lo, hi);
    std::uint32_t bits;
    memcpy(&bits, &pair, sizeof bits);
    return bits;
}
template <>
__device__ __forceinline__ std::uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
    const __nv_bfloat162 pair = __floats2bfloat162_rn(lo, hi);
    std::uint32_t bits;
    memcpy(&bits, &pair, sizeof bits);
    return bits;
}

// d += a·b for a 16×16 (row) by 16×8 (col) product, fp32 accumulators.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const std::uint32_t (&a)[4],
                                          std::uint32_t b0, std::uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const std::uint32_t (&a)[4],
                                                  std::uint32_t b0, std::uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const std::uint32_t (&a)[4],
                                                         std::uint32_t b0, std::uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <typename T>
__device__ __forceinline__ std::uint32_t load_pair(const T* src) {
    return *reinterpret_cast<const std::uint32_t*>(src);
}

// Shared row strides, padded by 16 bytes: a stride of 4 mod 8 words puts the 8 rows × 4
// words of one fragment load in 32 distinct banks.
template <int D>
__host__ __device__ constexpr int mma_row_stride() {
    return D + 8;
}
constexpr int kVtStride = kTile + 8;

template <int D>
constexpr int mma_smem_bytes() {
    return (2 * kTile * mma_row_stride<D>() + D * kVtStride) * 2;
}

// Rows [row0, row0 + 64) of one head into shared [64][D + 8], 16 bytes per access.
template <typename T, int D>
__device__ __forceinline__ void load_tile_mma(const T* src, std::int64_t stride, int row0, int seq,
                                              T* dst) {
    constexpr int kChunks = D / 8;
    for (int c = static_cast<int>(threadIdx.x); c < kTile * kChunks;
         c += static_cast<int>(blockDim.x)) {
        const int r = c / kChunks;
        const int col = (c % kChunks) * 8;
        uint4 bits = make_uint4(0, 0, 0, 0);
        if (row0 + r < seq) {
            bits = *reinterpret_cast<const uint4*>(src + (row0 + r) * stride + col);
        }
        *reinterpret_cast<uint4*>(dst + r * mma_row_stride<D>() + col) = bits;
    }
}

// V rows [row0, row0 + 64) transposed into shared [D][64 + 8]. Consecutive threads take
// consecutive keys of one 8-column chunk, so that each of the 8 scattered 2-byte stores of
// a warp lands in 16 consecutive words (no bank conflict); the global reads stay 16 bytes.
template <typename T, int D>
__device__ __forceinline__ void load_tile_transposed(const T* src, std::int64_t stride, int row0,
                                                     int seq, T* dst) {
    constexpr int kChunks = D / 8;
    for (int c = static_cast<int>(threadIdx.x); c < kTile * kChunks;
         c += static_cast<int>(blockDim.x)) {
        const int r = c % kTile;
        const int col = (c / kTile) * 8;
        uint4 bits = make_uint4(0, 0, 0, 0);
        if (row0 + r < seq) {
            bits = *reinterpret_cast<const uint4*>(src + (row0 + r) * stride + col);
        }
        T values[8];
        memcpy(values, &bits, sizeof bits);
        for (int e = 0; e < 8; ++e) {
            dst[(col + e) * kVtStride + r] = values[e];
        }
    }
}

// Warp w owns query rows 16w..16w+15 of the tile. In every m16n8 fragment, lane holds rows
// gid and gid + 8 (gid = lane / 4) and columns 2·tig, 2·tig + 1 (tig = lane % 4).
template <typename T, int D>
__global__ void __launch_bounds__(128) attention_mma_kernel(Problem p) {
    constexpr int kStride = mma_row_stride<D>();
    constexpr int kSteps = D / 16;    // k-steps of Q·Kᵀ
    constexpr int kDimTiles = D / 8;  // n-tiles of P·V
    constexpr int kKeyTiles = kTile / 8;
    extern __shared__ __align__(16) unsigned char smem_mma[];
    T* qs = reinterpret_cast<T*>(smem_mma);
    T* ks = qs + kTile * kStride;
    T* vt = ks + kTile * kStride;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int gid = lane / 4;
    const int tig = lane % 4;
    const int q_tile = block_query_tile();
    const int head = static_cast<int>(blockIdx.y);
    const std::int64_t batch = blockIdx.z;
    const int kv_head = head / p.group;
    const T* q = static_cast<const T*>(p.q) + batch * p.seq * p.q_stride + head * D;
    const T* k = static_cast<const T*>(p.k) + batch * p.seq * p.kv_stride + kv_head * D;
    const T* v = static_cast<const T*>(p.v) + batch * p.seq * p.kv_stride + kv_head * D;
    const int q0 = q_tile * kTile;
    load_tile_mma<T, D>(q, p.q_stride, q0, p.seq, qs);
    __syncthreads();

    // Q fragments (A operand, row-major 16×16 per k-step), kept in registers.
    const int r0 = warp * 16 + gid;
    std::uint32_t qa[kSteps][4];
    for (int s = 0; s < kSteps; ++s) {
        qa[s][0] = load_pair(qs + r0 * kStride + s * 16 + tig * 2);
        qa[s][1] = load_pair(qs + (r0 + 8) * kStride + s * 16 + tig * 2);
        qa[s][2] = load_pair(qs + r0 * kStride + s * 16 + 8 + tig * 2);
        qa[s][3] = load_pair(qs + (r0 + 8) * kStride + s * 16 + 8 + tig * 2);
    }
    float o[kDimTiles][4];
    for (int t = 0; t < kDimTiles; ++t) {
        for (int e = 0; e < 4; ++e) {
            o[t][e] = 0.0f;
        }
    }
    float m[2] = {-INFINITY, -INFINITY};  // running max of rows r0, r0 + 8 (log2 domain)
    float l[2] = {0.0f, 0.0f};            // this thread's part of the running sums
    const int query[2] = {q0 + r0, q0 + r0 + 8};
    const float scale_log2 = p.scale * kLog2e;

    for (int kt = first_key_tile(q_tile, p.window); kt <= q_tile; ++kt) {
        __syncthreads();  // the previous step's readers of ks/vt are done
        load_tile_mma<T, D>(k, p.kv_stride, kt * kTile, p.seq, ks);
        load_tile_transposed<T, D>(v, p.kv_stride, kt * kTile, p.seq, vt);
        __syncthreads();

        // S = Q·Kᵀ: B[k][n] = K[n][k], so b0/b1 are consecutive pairs of one K row.
        float s[kKeyTiles][4];
        for (int nt = 0; nt < kKeyTiles; ++nt) {
            for (int e = 0; e < 4; ++e) {
                s[nt][e] = 0.0f;
            }
            const T* k_row = ks + (nt * 8 + gid) * kStride + tig * 2;
            for (int st = 0; st < kSteps; ++st) {
                mma_16816<T>(s[nt], qa[st], load_pair(k_row + st * 16),
                             load_pair(k_row + st * 16 + 8));
            }
        }
        const bool needs_mask = kt == q_tile || p.window > 0;
        float tile_max[2] = {-INFINITY, -INFINITY};
        for (int nt = 0; nt < kKeyTiles; ++nt) {
            for (int e = 0; e < 4; ++e) {
                const int key = kt * kTile + nt * 8 + tig * 2 + (e & 1);
                float x = s[nt][e] * scale_log2;
                if (needs_mask && !key_visible(query[e / 2], key, p.window)) {
                    x = -INFINITY;
                }
                s[nt][e] = x;
                tile_max[e / 2] = fmaxf(tile_max[e / 2], x);
            }
        }
        float m_use[2];
        float alpha[2];
        for (int r = 0; r < 2; ++r) {
            tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
            tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
            const float m_new = fmaxf(m[r], tile_max[r]);
            m_use[r] = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet
            alpha[r] = exp2f(m[r] - m_use[r]);
            m[r] = m_new;
            l[r] *= alpha[r];
        }
        for (int nt = 0; nt < kKeyTiles; ++nt) {
            for (int e = 0; e < 4; ++e) {
                s[nt][e] = exp2f(s[nt][e] - m_use[e / 2]);
                l[e / 2] += s[nt][e];
            }
        }
        for (int t = 0; t < kDimTiles; ++t) {
            o[t][0] *= alpha[0];
            o[t][1] *= alpha[0];
            o[t][2] *= alpha[1];
            o[t][3] *= alpha[1];
        }
        // O += P·V: the C fragments of key tiles 2kk and 2kk + 1 are the A fragment of
        // keys 16kk..16kk+15; B[k][n] = V[k][n] = Vt[n][k].
        for (int kk = 0; kk < kTile / 16; ++kk) {
            const std::uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]),
                                         pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                         pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                         pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            for (int t = 0; t < kDimTiles; ++t) {
                const T* v_row = vt + (t * 8 + gid) * kVtStride + kk * 16 + tig * 2;
                mma_16816<T>(o[t], pa, load_pair(v_row), load_pair(v_row + 8));
            }
        }
    }
    float inv_l[2];
    for (int r = 0; r < 2; ++r) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        inv_l[r] = 1.0f / l[r];
    }
    T* dst = static_cast<T*>(p.dst) + batch * p.seq * p.q_stride + head * D;
    for (int r = 0; r < 2; ++r) {
        if (query[r] < p.seq) {
            std::uint32_t* row = reinterpret_cast<std::uint32_t*>(dst + query[r] * p.q_stride);
            for (int t = 0; t < kDimTiles; ++t) {
                row[(t * 8 + tig * 2) / 2] =
                    pack2<T>(o[t][2 * r] * inv_l[r], o[t][2 * r + 1] * inv_l[r]);
            }
        }
    }
}

// ---- any head size: one warp per query ----------------------------------------------------

constexpr int kGenericWarps = 4;
constexpr int kGenericMaxDim = 256;
constexpr int kGenericSlots = kGenericMaxDim / kWarpSize;  // output dims per lane

// For head sizes without a tiled kernel (tiny test models, unusual configs). Lane j scores
// key j of each 32-key chunk; the chunk's probabilities are then broadcast lane by lane to
// accumulate the output, whose dims are spread over the lanes (dim = lane + 32·slot).
template <typename T>
__global__ void __launch_bounds__(kGenericWarps* kWarpSize)
    attention_generic_kernel(Problem p, int head_dim) {
    __shared__ float q_shared[kGenericWarps][kGenericMaxDim];
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int query = static_cast<int>(blockIdx.x) * kGenericWarps + warp;
    if (query >= p.seq) {
        return;  // the whole warp leaves together; no block barrier follows
    }
    const int head = static_cast<int>(blockIdx.y);
    const std::int64_t batch = blockIdx.z;
    const int kv_head = head / p.group;
    const T* q = static_cast<const T*>(p.q) + (batch * p.seq + query) * p.q_stride +
                 static_cast<std::int64_t>(head) * head_dim;
    const T* k = static_cast<const T*>(p.k) + batch * p.seq * p.kv_stride +
                 static_cast<std::int64_t>(kv_head) * head_dim;
    const T* v = static_cast<const T*>(p.v) + batch * p.seq * p.kv_stride +
                 static_cast<std::int64_t>(kv_head) * head_dim;
    float* qs = q_shared[warp];
    for (int d = lane; d < head_dim; d += kWarpSize) {
        qs[d] = to_float(q[d]);
    }
    __syncwarp();
    float o[kGenericSlots];
    for (int slot = 0; slot < kGenericSlots; ++slot) {
        o[slot] = 0.0f;
    }
    float m = -INFINITY;
    float l = 0.0f;
    const int first = p.window > 0 ? max(0, query - p.window + 1) : 0;
    for (int j0 = first; j0 <= query; j0 += kWarpSize) {
        const int key = j0 + lane;
        float s = -INFINITY;
        if (key <= query) {
            float dot = 0.0f;
            for (int d = 0; d < head_dim; ++d) {
                dot += qs[d] * to_float(k[key * p.kv_stride + d]);
            }
            s = dot * p.scale;
        }
        const float m_new = fmaxf(m, warp_max(s));  // finite: key j0 is always visible
        const float prob = expf(s - m_new);
        const float alpha = expf(m - m_new);
        l = l * alpha + warp_sum(prob);
        m = m_new;
        for (int slot = 0; slot < kGenericSlots; ++slot) {
            o[slot] *= alpha;
        }
        const int count = min(kWarpSize, query - j0 + 1);
        for (int jj = 0; jj < count; ++jj) {
            const float pj = __shfl_sync(0xffffffffu, prob, jj);
            const T* v_row = v + (j0 + jj) * p.kv_stride;
            for (int slot = 0; slot < kGenericSlots; ++slot) {
                const int d = lane + slot * kWarpSize;
                if (d < head_dim) {
                    o[slot] += pj * to_float(v_row[d]);
                }
            }
        }
    }
    T* dst = static_cast<T*>(p.dst) + (batch * p.seq + query) * p.q_stride +
             static_cast<std::int64_t>(head) * head_dim;
    for (int slot = 0; slot < kGenericSlots; ++slot) {
        const int d = lane + slot * kWarpSize;
        if (d < head_dim) {
            dst[d] = from_float<T>(o[slot] / l);
        }
    }
}

void launch_generic(const AttentionArgs& args, const Problem& problem, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((args.seq + kGenericWarps - 1) / kGenericWarps),
                    static_cast<unsigned>(args.heads), static_cast<unsigned>(args.batch));
    dispatch_type(args.type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        attention_generic_kernel<T><<<grid, kGenericWarps * kWarpSize, 0, stream>>>(
            problem, static_cast<int>(args.head_dim));
    });
    MCOMP_CUDA_CHECK_LAUNCH("attention_generic_kernel");
}

// ---- dispatch -----------------------------------------------------------------------------

template <int D>
void launch_for_head_dim(const AttentionArgs& args, const Problem& problem, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((args.seq + kTile - 1) / kTile),
                    static_cast<unsigned>(args.heads), static_cast<unsigned>(args.batch));
    if (args.type == ElemType::f32) {
        constexpr int kBytes = f32_smem_bytes<D>();
        MCOMP_CUDA_CHECK(cudaFuncSetAttribute(attention_f32_kernel<D>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
        attention_f32_kernel<D><<<grid, 256, kBytes, stream>>>(problem);
        MCOMP_CUDA_CHECK_LAUNCH("attention_f32_kernel");
        return;
    }
    dispatch_type(args.type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (!std::is_same_v<T, float>) {
            constexpr int kBytes = mma_smem_bytes<D>();
            MCOMP_CUDA_CHECK(cudaFuncSetAttribute(
                attention_mma_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
            attention_mma_kernel<T, D><<<grid, 128, kBytes, stream>>>(problem);
        }
    });
    MCOMP_CUDA_CHECK_LAUNCH("attention_mma_kernel");
}

}  // namespace

bool attention_supports_head_dim(std::int64_t head_dim) {
    return head_dim >= 1 && head_dim <= kGenericMaxDim;
}

void launch_attention(const AttentionArgs& args, cudaStream_t stream) {
    if (args.batch == 0 || args.seq == 0 || args.heads == 0) {
        return;
    }
    Problem problem{};
    problem.q = args.q;
    problem.k = args.k;
    problem.v = args.v;
    problem.dst = args.dst;
    problem.seq = static_cast<int>(args.seq);
    problem.group = static_cast<int>(args.heads / args.kv_heads);
    problem.q_stride = args.heads * args.head_dim;
    problem.kv_stride = args.kv_heads * args.head_dim;
    problem.scale = args.scale;
    problem.window = static_cast<int>(args.window);
    // The tiled kernels read 16-byte vectors: a view that starts off a 16-byte boundary
    // (a slice of rows of an odd-sized tensor) takes the one-warp-per-query kernel.
    if (!is_aligned16(args.q) || !is_aligned16(args.k) || !is_aligned16(args.v) ||
        !is_aligned16(args.dst)) {
        MCOMP_CUDA_REQUIRE(attention_supports_head_dim(args.head_dim),
                           "attention: head_dim " + std::to_string(args.head_dim) +
                               " is larger than the CUDA kernels take (256)");
        launch_generic(args, problem, stream);
        return;
    }
    switch (args.head_dim) {
        case 16:
            launch_for_head_dim<16>(args, problem, stream);
            break;
        case 32:
            launch_for_head_dim<32>(args, problem, stream);
            break;
        case 64:
            launch_for_head_dim<64>(args, problem, stream);
            break;
        case 80:
            launch_for_head_dim<80>(args, problem, stream);
            break;
        case 96:
            launch_for_head_dim<96>(args, problem, stream);
            break;
        case 128:
            launch_for_head_dim<128>(args, problem, stream);
            break;
        default:
            MCOMP_CUDA_REQUIRE(attention_supports_head_dim(args.head_dim),
                               "attention: head_dim " + std::to_string(args.head_dim) +
                                   " is larger than the CUDA kernels take (256)");
            launch_generic(args, problem, stream);
    }
}

}  // namespace mcomp::cuda
