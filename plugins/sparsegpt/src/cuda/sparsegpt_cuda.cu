// sparsegpt_cuda.cu: the CUDA backend of `sparsegpt` (libmcomp_sparsegpt_cuda.so) and the
// library's exported entry. The same steps as src/cpu/sparsegpt_cpu.cpp, on the host's stream:
//
//   Hessian      cuBLAS SSYRK per sample (plugins/common hessian_cuda)
//   factor       cuSOLVER potrf -> potri -> potrf with damping retries (inverse_factor_cuda)
//   mask         unstructured, per block: one kernel writes the scores w^2 / U_cc^2 of the
//                [rows, block] tile as the bits of non-negative floats (whose unsigned order is
//                the numeric one), CUB's radix sort orders them, and the key at position
//                int(rows * block * sparsity) is the block's threshold, read by the column
//                loop from device memory (no host round trip)
//   column loop  ONE kernel per block for all rows: a warp owns a row and keeps the row's block
//                in registers (lane l holds columns l, l+32, ...) with its mask bits; the
//                block's H^-1 sits in shared memory; N:M groups are chosen at every m-th
//                column through a per-warp shared scratch from the updated weights; each
//                column is broadcast from its lane, pruned (and quantized) and fed back with
//                plugins/common masked_step.hpp (the CPU's arithmetic)
//   lazy update  cuBLAS SGEMM: W[:, i2:] -= Err1 Hinv[i1:i2, i2:]
#include <cuda_runtime.h>
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cstring>
#include <vector>

#include "plugin_common/cuda/cuda_check.hpp"
#include "plugin_common/cuda/cuda_context.hpp"
#include "plugin_common/cuda/hessian_cuda.hpp"
#include "plugin_common/cuda/inverse_factor_cuda.hpp"
#include "plugin_common/cuda/matrix_ops_cuda.hpp"
#include "plugin_common/cuda/warp_grid.cuh"
#include "sparsegpt_column.hpp"
#include "sparsegpt_technique.hpp"

namespace mcomp::sparsegpt {

namespace {

using common::Grid;

constexpr int kWarpsPerBlock = 8;
constexpr int kThreadsPerBlock = 32 * kWarpsPerBlock;

struct LoopArgs {
    const float* w;  // [rows, cols] W with the lazy updates of past blocks
    const float* u;  // [cols, cols] upper factor of H^-1
    int64_t rows;
    int64_t cols;
    int64_t num_groups;
    int64_t i1;     // first column of the block
    int32_t count;  // columns in the block
    int32_t n;      // N:M; 0 = unstructured
    int32_t m;
    const uint32_t* thresh;  // unstructured: the block's threshold key
    bool quantized;
    int32_t group_size;
    int32_t maxq;
    bool sym;
    float* scales;  // [rows, num_groups]
    float* zeros;
    uint8_t* codes;  // [rows, cols]
    float* dst_weight;
    uint8_t* mask;
    float* err;                  // [rows, count]
    double* loss;                // sum (w - q)^2 / d^2
    unsigned long long* pruned;  // weights pruned
};

__device__ inline uint32_t score_key(float score) {
    return __float_as_uint(score);
}

// The grid of column c for row r (fitting a group at its start on W as the block began).
__device__ Grid column_grid(const LoopArgs& a, int64_t r, int64_t c, int32_t i, Grid current) {
    if (a.group_size <= 0) {
        return i == 0 ? Grid{a.scales[r], a.zeros[r]} : current;
    }
    const int64_t g = a.group_size;
    if (c % g == 0) {
        const Grid grid = common::warp_fit_grid(a.w + r * a.cols + c, min(g, a.cols - c), a.maxq,
                                                a.sym, common::MseOptions{});
        if (threadIdx.x % 32 == 0) {
            a.scales[r * a.num_groups + c / g] = grid.scale;
            a.zeros[r * a.num_groups + c / g] = grid.zero;
        }
        return grid;
    }
    if (i == 0) {  // the group began in an earlier block
        const int64_t gi = r * a.num_groups + c / g;
        return Grid{a.scales[gi], a.zeros[gi]};
    }
    return current;
}

// N:M at block column i: the mask bits (bit k: column lane + 32 k) of this lane's columns among
// the n lowest scores of w1[i, i + m), through the warp's shared scratch.
template <int kSlots>
__device__ __forceinline__ uint32_t select_group(const LoopArgs& a, const float (&w1)[kSlots],
                                                 const float* hinv, int i, float* scores,
                                                 uint8_t* flags, int lane) {
    const int count = a.count;
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
        const int j = lane + 32 * k;
        if (j >= i && j < i + a.m) {
            scores[j - i] = prune_score(w1[k], hinv[j * count + j]);
        }
    }
    __syncwarp();
    for (int t = lane; t < a.m; t += 32) {
        flags[t] = n_of_m_pruned(scores, a.m, a.n, t) ? 1 : 0;
    }
    __syncwarp();
    uint32_t bits = 0;
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
        const int j = lane + 32 * k;
        if (j >= i && j < i + a.m && flags[j - i] != 0) {
            bits |= 1u << k;
        }
    }
    __syncwarp();  // the scratch is reused by the next group
    return bits;
}

// kSlots = ceil(count / 32) columns per lane, kept in registers by full unrolling.
template <int kSlots>
__global__ void __launch_bounds__(kThreadsPerBlock) column_loop_kernel(LoopArgs a) {
    extern __shared__ float hinv[];  // [count, count] block of the upper factor
    __shared__ float group_scores[kWarpsPerBlock][kMaxGroupWidth];
    __shared__ uint8_t group_flags[kWarpsPerBlock][kMaxGroupWidth];
    const int count = a.count;
    for (int k = threadIdx.x; k < count * count; k += blockDim.x) {
        const int row = k / count;
        const int col = k % count;
        hinv[k] = col >= row ? a.u[(a.i1 + row) * a.cols + a.i1 + col] : 0.0f;
    }
    __syncthreads();

    const int lane = static_cast<int>(threadIdx.x % 32);
    const int warp = static_cast<int>(threadIdx.x / 32);
    const uint32_t thresh = a.n == 0 ? *a.thresh : 0u;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
    double loss = 0.0;
    unsigned long long num_pruned = 0;
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp; r < a.rows;
         r += warps) {
        float w1[kSlots];
        uint32_t bits = 0;  // bit k: column lane + 32 k is pruned
#pragma unroll
        for (int k = 0; k < kSlots; ++k) {
            const int j = lane + 32 * k;
            w1[k] = j < count ? a.w[r * a.cols + a.i1 + j] : 0.0f;
            if (a.n == 0 && j < count &&
                score_key(prune_score(w1[k], hinv[j * count + j])) <= thresh) {
                bits |= 1u << k;
            }
        }
        Grid grid;
#pragma unroll
        for (int slot = 0; slot < kSlots; ++slot) {
            for (int owner = 0; owner < 32; ++owner) {
                const int i = slot * 32 + owner;
                if (i >= count) {
                    break;
                }
                const int64_t c = a.i1 + i;
                if (a.n > 0 && i % a.m == 0) {
                    bits |= select_group<kSlots>(a, w1, hinv, i, group_scores[warp],
                                                 group_flags[warp], lane);
                }
                if (a.quantized) {
                    grid = column_grid(a, r, c, i, grid);
                }
                const float x = __shfl_sync(common::kFullWarp, w1[slot], owner);
                const bool pruned =
                    ((__shfl_sync(common::kFullWarp, bits, owner) >> slot) & 1u) != 0;
                const float d = hinv[i * count + i];
                const common::MaskedStep step =
                    common::masked_step(x, pruned, a.quantized, grid, a.maxq, d);
                if (lane == owner) {
                    const int64_t dst = r * a.cols + c;
                    a.dst_weight[dst] = step.q;
                    a.mask[dst] = pruned ? 0 : 1;
                    if (a.quantized) {
                        a.codes[dst] = step.code;
                    }
                    a.err[r * count + i] = step.err;
                    loss +=
                        static_cast<double>(step.diff) * step.diff / (static_cast<double>(d) * d);
                    num_pruned += pruned ? 1 : 0;
                }
#pragma unroll
                for (int k = slot; k < kSlots; ++k) {
                    const int j = lane + 32 * k;
                    if (j > i && j < count) {
                        w1[k] = common::feed_back_rn(w1[k], step.err, hinv[i * count + j]);
                    }
                }
            }
        }
    }
    loss = common::warp_sum(loss);
    for (int offset = 16; offset > 0; offset /= 2) {
        num_pruned += __shfl_xor_sync(common::kFullWarp, num_pruned, offset);
    }
    if (lane == 0) {
        if (loss != 0.0) {
            atomicAdd(a.loss, loss);
        }
        if (num_pruned != 0) {
            atomicAdd(a.pruned, num_pruned);
        }
    }
}

// keys[r * count + i] = the bits of w^2 / U_cc^2 for column i1 + i of row r.
__global__ void score_keys_kernel(const float* w, const float* u, int64_t rows, int64_t cols,
                                  int64_t i1, int32_t count, uint32_t* keys) {
    const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (e >= rows * count) {
        return;
    }
    const int64_t r = e / count;
    const int64_t c = i1 + e % count;
    keys[e] = score_key(prune_score(w[r * cols + c], u[c * cols + c]));
}

// One grid per row on the weight as loaded (the reference's quantizer.find_params(W)); a warp
// per row.
__global__ void row_grid_kernel(const float* w, int64_t rows, int64_t cols, int32_t maxq, bool sym,
                                float* scales, float* zeros) {
    const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (r >= rows) {
        return;  // whole warps leave together
    }
    const Grid grid = common::warp_fit_grid(w + r * cols, cols, maxq, sym, common::MseOptions{});
    if (threadIdx.x % 32 == 0) {
        scales[r] = grid.scale;
        zeros[r] = grid.zero;
    }
}

unsigned blocks_for(int64_t count, int64_t per_block) {
    return static_cast<unsigned>((count + per_block - 1) / per_block);
}

template <int kSlots>
void launch_column_loop(const LoopArgs& a, cudaStream_t stream) {
    const int smem = a.count * a.count * static_cast<int>(sizeof(float));
    MCOMP_CUDA_CHECK(cudaFuncSetAttribute(column_loop_kernel<kSlots>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          kMaxBlockSize * kMaxBlockSize * sizeof(float)));
    column_loop_kernel<kSlots>
        <<<blocks_for(a.rows, kWarpsPerBlock), kThreadsPerBlock, smem, stream>>>(a);
    MCOMP_CUDA_CHECK(cudaGetLastError());
}

void launch_column_loop_for(const LoopArgs& a, cudaStream_t stream) {
    switch ((a.count + 31) / 32) {
        case 1:
            launch_column_loop<1>(a, stream);
            break;
        case 2:
            launch_column_loop<2>(a, stream);
            break;
        case 3:
            launch_column_loop<3>(a, stream);
            break;
        default:
            launch_column_loop<4>(a, stream);
            break;
    }
}

class CudaBackend final : public Backend {
  public:
    explicit CudaBackend(const sdk::Host& host) : host_(host), context_(host), hessian_(context_) {}

    void begin_layer(int64_t /*rows*/, int64_t cols, mc_device device) override {
        device_ = device;
        MCOMP_CUDA_CHECK(cudaSetDevice(device.index));
        hessian_.reset(cols, device);
    }

    void observe(const float* src, int64_t tokens) override { hessian_.add_sample(src, tokens); }

    int64_t num_samples() const override { return hessian_.num_samples(); }

    LayerStats prune(const Config& config, const LayerViews& views,
                     const std::string& where) override;

  private:
    template <class T>
    sdk::DeviceBuffer buffer(int64_t count) {
        return sdk::DeviceBuffer(host_, device_, static_cast<std::size_t>(count) * sizeof(T));
    }
    void column_loop(const Config& config, const LayerViews& views, LoopArgs& args,
                     LayerStats& stats);

    sdk::Host host_;
    mc_device device_ = {MC_DEVICE_CUDA, 0};
    common::CudaContext context_;
    common::CudaHessian hessian_;
};

LayerStats CudaBackend::prune(const Config& config, const LayerViews& views,
                              const std::string& where) {
    const cudaStream_t stream = context_.stream();
    const int64_t rows = views.rows;
    const int64_t cols = views.cols;
    LayerStats stats;
    float* h = hessian_.symmetric();
    sdk::DeviceBuffer w = buffer<float>(rows * cols);
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(w.as<float>(), views.weight, rows * cols * sizeof(float),
                                     cudaMemcpyDeviceToDevice, stream));
    if (config.quantized() && !config.grouped()) {
        // quantizer.find_params(W) runs before `W[:, dead] = 0`.
        row_grid_kernel<<<blocks_for(rows, kWarpsPerBlock), kThreadsPerBlock, 0, stream>>>(
            views.weight, rows, cols, config.maxq(), config.sym, views.scales, views.zeros);
        MCOMP_CUDA_CHECK(cudaGetLastError());
    }
    sdk::DeviceBuffer dead = buffer<uint8_t>(cols);
    common::cuda_ops::fix_dead_columns(h, cols, dead.as<uint8_t>(), stream);
    common::cuda_ops::zero_dead_columns(w.as<float>(), rows, cols, dead.as<uint8_t>(), stream);
    const std::vector<float> diag = common::diagonal_to_host(context_, h, cols, device_);
    std::vector<uint8_t> dead_host(static_cast<std::size_t>(cols));
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(dead_host.data(), dead.as<uint8_t>(), cols,
                                     cudaMemcpyDeviceToHost, stream));
    sdk::DeviceBuffer u = buffer<float>(cols * cols);
    stats.damping = common::upper_cholesky_of_inverse_cuda(context_, h, cols, diag, config.damping,
                                                           where, u.as<float>(), device_);
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
    stats.dead_columns = std::count(dead_host.begin(), dead_host.end(), uint8_t{1});

    LoopArgs args{};
    args.w = w.as<float>();
    args.u = u.as<float>();
    column_loop(config, views, args, stats);

    if (config.quantized()) {
        std::vector<int32_t> g_idx(static_cast<std::size_t>(cols), 0);
        for (int64_t c = 0; c < cols; ++c) {
            g_idx[c] = config.grouped() ? static_cast<int32_t>(c / config.group_size) : 0;
        }
        MCOMP_CUDA_CHECK(cudaMemcpyAsync(views.g_idx, g_idx.data(), cols * sizeof(int32_t),
                                         cudaMemcpyHostToDevice, stream));
        MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));  // g_idx outlives the copy
    }
    return stats;
}

void CudaBackend::column_loop(const Config& config, const LayerViews& views, LoopArgs& a,
                              LayerStats& stats) {
    const cudaStream_t stream = context_.stream();
    const int64_t rows = views.rows;
    const int64_t cols = views.cols;
    const int64_t block = config.block_size;
    sdk::DeviceBuffer err = buffer<float>(rows * block);
    sdk::DeviceBuffer totals = buffer<double>(2);  // loss, then the pruned count
    MCOMP_CUDA_CHECK(cudaMemsetAsync(totals.as<double>(), 0, 2 * sizeof(double), stream));
    // Unstructured: the tile's keys, their sorted copy, and CUB's scratch, sized once.
    sdk::DeviceBuffer keys;
    sdk::DeviceBuffer sorted;
    sdk::DeviceBuffer sort_scratch;
    std::size_t sort_scratch_bytes = 0;
    if (!config.structured()) {
        keys = buffer<uint32_t>(rows * block);
        sorted = buffer<uint32_t>(rows * block);
        MCOMP_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(
            nullptr, sort_scratch_bytes, keys.as<uint32_t>(), sorted.as<uint32_t>(),
            static_cast<int>(rows * block), 0, 32, stream));
        sort_scratch =
            buffer<uint8_t>(static_cast<int64_t>(std::max<std::size_t>(sort_scratch_bytes, 1)));
    }
    a.rows = rows;
    a.cols = cols;
    a.num_groups = views.num_groups;
    a.n = config.n;
    a.m = config.m;
    a.quantized = config.quantized();
    a.group_size = config.group_size;
    a.maxq = config.quantized() ? config.maxq() : 0;
    a.sym = config.sym;
    a.scales = views.scales;
    a.zeros = views.zeros;
    a.codes = views.codes;
    a.dst_weight = views.dst_weight;
    a.mask = views.mask;
    a.err = err.as<float>();
    a.loss = totals.as<double>();
    a.pruned = reinterpret_cast<unsigned long long*>(totals.as<double>() + 1);
    for (int64_t i1 = 0; i1 < cols; i1 += block) {
        host_.check_cancelled();
        a.i1 = i1;
        a.count = static_cast<int32_t>(std::min<int64_t>(block, cols - i1));
        const int64_t i2 = i1 + a.count;
        if (!config.structured()) {
            const int64_t numel = rows * a.count;
            score_keys_kernel<<<blocks_for(numel, kThreadsPerBlock), kThreadsPerBlock, 0, stream>>>(
                a.w, a.u, rows, cols, i1, a.count, keys.as<uint32_t>());
            MCOMP_CUDA_CHECK(cudaGetLastError());
            MCOMP_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(
                sort_scratch.as<void>(), sort_scratch_bytes, keys.as<uint32_t>(),
                sorted.as<uint32_t>(), static_cast<int>(numel), 0, 32, stream));
            a.thresh = sorted.as<uint32_t>() + threshold_rank(numel, config.sparsity);
        }
        launch_column_loop_for(a, stream);
        if (i2 < cols) {
            // W[:, i2:] -= Err1 Hinv[i1:i2, i2:], column-major: W^T[i2:, :] -= A B with
            // A = Hinv[i1:i2, i2:]^T (ld cols) and B = Err1^T (ld count).
            const float alpha = -1.0f;
            const float beta = 1.0f;
            MCOMP_CUDA_CHECK(cublasSgemm(context_.blas(), CUBLAS_OP_N, CUBLAS_OP_N,
                                         static_cast<int>(cols - i2), static_cast<int>(rows),
                                         a.count, &alpha, a.u + i1 * cols + i2,
                                         static_cast<int>(cols), a.err, a.count, &beta,
                                         const_cast<float*>(a.w) + i2, static_cast<int>(cols)));
        }
        host_.progress(i2, cols, "columns");
    }
    double totals_host[2] = {0.0, 0.0};
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(totals_host, totals.as<double>(), sizeof(totals_host),
                                     cudaMemcpyDeviceToHost, stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
    unsigned long long pruned = 0;
    std::memcpy(&pruned, &totals_host[1], sizeof(pruned));
    stats.loss = totals_host[0] / 2.0;
    stats.pruned = static_cast<int64_t>(pruned);
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CUDA;
}

std::unique_ptr<Backend> make_backend(const sdk::Host& host) {
    return std::make_unique<CudaBackend>(host);
}

}  // namespace mcomp::sparsegpt

MCOMP_PLUGIN_ENTRY("sparsegpt", "1.0.0", MC_DEVICE_CUDA, MC_ABI_MAKE(1, 0),
                   mcomp::sparsegpt::kTechniques)
