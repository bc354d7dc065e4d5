// gptq_cuda.cu: the CUDA backend of `gptq` (libmcomp_gptq_cuda.so) and the library's exported
// entry. The same steps as src/cpu/gptq_cpu.cpp, on the host's stream:
//
//   Hessian      cuBLAS SSYRK per sample (plugins/common hessian_cuda)
//   factor       cuSOLVER potrf -> potri -> potrf with damping retries (inverse_factor_cuda)
//   column loop  ONE kernel per block of block_size columns, for all rows at once (the
//                reference runs it as ~10 tiny launches per column): a warp owns a row and
//                holds the row's block in registers (lane l keeps columns l, l+32, ...); the
//                block's H^-1 sits in shared memory; each column is broadcast from its lane,
//                quantized with gptq_column.hpp (the CPU's arithmetic), and fed back;
//                with keep_zeros, weights 0 in the layer's input weight are masked there.
//                Groups starting inside the block are fit by the warp on W as it stood when
//                the block began, like the reference's find_params(W[:, ...]).
//   lazy update  cuBLAS SGEMM: W[:, i2:] -= Err1 Hinv[i1:i2, i2:]
//
// Codes and dequantized weights go straight to the original column order (perm).
#include <cuda_runtime.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "gptq_column.hpp"
#include "gptq_technique.hpp"
#include "plugin_common/cuda/cuda_check.hpp"
#include "plugin_common/cuda/cuda_context.hpp"
#include "plugin_common/cuda/hessian_cuda.hpp"
#include "plugin_common/cuda/inverse_factor_cuda.hpp"
#include "plugin_common/cuda/matrix_ops_cuda.hpp"
#include "plugin_common/cuda/warp_grid.cuh"

namespace mcomp::gptq {

namespace {

using common::Grid;

constexpr int kWarpsPerBlock = 8;
constexpr int kThreadsPerBlock = 32 * kWarpsPerBlock;

struct LoopArgs {
    const float* w;         // [rows, cols] permuted W with the lazy updates of past blocks
    const float* u;         // [cols, cols] upper factor of H^-1
    const int32_t* perm;    // permuted column -> layer column
    const float* zero_src;  // keep_zeros: the layer's weight on entry (layer order), else null
    int64_t rows;
    int64_t cols;
    int64_t num_groups;
    int64_t i1;     // first column of the block
    int32_t count;  // columns in the block
    int32_t group_size;
    int32_t maxq;
    bool sym;
    bool static_groups;
    common::MseOptions mse;
    float* scales;  // [rows, num_groups]
    float* zeros;
    float* dst_weight;  // [rows, cols] layer order
    uint8_t* codes;
    float* err;    // [rows, count]
    double* loss;  // sum (w - q)^2 / d^2
};

// The grid of permuted column c for row r (fitting a dynamic group at its start).
__device__ Grid column_grid(const LoopArgs& a, int64_t r, int64_t c, int32_t i, Grid current) {
    if (a.group_size <= 0) {
        return i == 0 ? Grid{a.scales[r], a.zeros[r]} : current;
    }
    const int64_t g = a.group_size;
    if (a.static_groups) {
        const int64_t gi = r * a.num_groups + a.perm[c] / g;
        return Grid{a.scales[gi], a.zeros[gi]};
    }
    if (c % g == 0) {
        const Grid grid =
            common::warp_fit_grid(a.w + r * a.cols + c, min(g, a.cols - c), a.maxq, a.sym, a.mse);
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

// kSlots = ceil(count / 32) columns per lane, kept in registers by full unrolling.
template <int kSlots>
__global__ void __launch_bounds__(kThreadsPerBlock) column_loop_kernel(LoopArgs a) {
    extern __shared__ float hinv[];  // [count, count] block of the upper factor
    const int count = a.count;
    for (int k = threadIdx.x; k < count * count; k += blockDim.x) {
        const int row = k / count;
        const int col = k % count;
        hinv[k] = col >= row ? a.u[(a.i1 + row) * a.cols + a.i1 + col] : 0.0f;
    }
    __syncthreads();

    const int lane = static_cast<int>(threadIdx.x % 32);
    const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
    double loss = 0.0;
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
         r < a.rows; r += warps) {
        float w1[kSlots];
#pragma unroll
        for (int k = 0; k < kSlots; ++k) {
            const int j = lane + 32 * k;
            w1[k] = j < count ? a.w[r * a.cols + a.i1 + j] : 0.0f;
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
                grid = column_grid(a, r, c, i, grid);
                const float x = __shfl_sync(common::kFullWarp, w1[slot], owner);
                const float d = hinv[i * count + i];
                const int64_t dst = r * a.cols + a.perm[c];
                const bool masked = a.zero_src != nullptr && a.zero_src[dst] == 0.0f;
                const ColumnStep step = quantize_step(x, masked, grid, a.maxq, d);
                if (lane == owner) {
                    a.codes[dst] = step.code;
                    a.dst_weight[dst] = step.q;
                    a.err[r * count + i] = step.err;
                    loss +=
                        static_cast<double>(step.diff) * step.diff / (static_cast<double>(d) * d);
                }
#pragma unroll
                for (int k = slot; k < kSlots; ++k) {
                    const int j = lane + 32 * k;
                    if (j > i && j < count) {
                        w1[k] = feed_back(w1[k], step.err, hinv[i * count + j]);
                    }
                }
            }
        }
    }
    loss = common::warp_sum(loss);
    if (lane == 0 && loss != 0.0) {
        atomicAdd(a.loss, loss);
    }
}

// Grids fit before the loop: one per row (group_size -1, on the weight as loaded) or one per
// (row, group) for static groups; a warp per task.
__global__ void initial_grid_kernel(const float* w, int64_t rows, int64_t cols, int64_t group_cols,
                                    int64_t num_groups, int32_t maxq, bool sym,
                                    common::MseOptions mse, float* scales, float* zeros) {
    const int64_t task = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (task >= rows * num_groups) {
        return;  // whole warps leave together
    }
    const int64_t r = task / num_groups;
    const int64_t begin = (task % num_groups) * group_cols;
    const Grid grid =
        common::warp_fit_grid(w + r * cols + begin, min(group_cols, cols - begin), maxq, sym, mse);
    if (threadIdx.x % 32 == 0) {
        scales[task] = grid.scale;
        zeros[task] = grid.zero;
    }
}

unsigned blocks_for_warps(int64_t warps) {
    return static_cast<unsigned>((warps + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

template <int kSlots>
void launch_column_loop(const LoopArgs& a, cudaStream_t stream) {
    const int smem = a.count * a.count * static_cast<int>(sizeof(float));
    MCOMP_CUDA_CHECK(cudaFuncSetAttribute(column_loop_kernel<kSlots>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          kMaxBlockSize * kMaxBlockSize * sizeof(float)));
    column_loop_kernel<kSlots><<<blocks_for_warps(a.rows), kThreadsPerBlock, smem, stream>>>(a);
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

std::vector<int32_t> group_index(const Config& config, const std::vector<int32_t>& perm) {
    std::vector<int32_t> g_idx(perm.size(), 0);
    for (std::size_t p = 0; p < perm.size(); ++p) {
        int32_t group = 0;
        if (config.uses_static_groups()) {
            group = perm[p] / config.group_size;
        } else if (config.grouped()) {
            group = static_cast<int32_t>(p / config.group_size);  // g_idx[perm[p]] = p // g
        }
        g_idx[perm[p]] = group;
    }
    return g_idx;
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

    LayerStats quantize(const Config& config, const LayerViews& views,
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

LayerStats CudaBackend::quantize(const Config& config, const LayerViews& views,
                                 const std::string& where) {
    const cudaStream_t stream = context_.stream();
    const int64_t rows = views.rows;
    const int64_t cols = views.cols;
    LayerStats stats;
    float* h = hessian_.symmetric();
    sdk::DeviceBuffer w = buffer<float>(rows * cols);
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(w.as<float>(), views.weight, rows * cols * sizeof(float),
                                     cudaMemcpyDeviceToDevice, stream));
    const common::MseOptions mse = config.mse;
    if (!config.grouped()) {
        // find_params(W) runs before `W[:, dead] = 0`.
        initial_grid_kernel<<<blocks_for_warps(rows), kThreadsPerBlock, 0, stream>>>(
            views.weight, rows, cols, cols, 1, config.maxq(), config.sym, mse, views.scales,
            views.zeros);
        MCOMP_CUDA_CHECK(cudaGetLastError());
    }
    sdk::DeviceBuffer dead = buffer<uint8_t>(cols);
    common::cuda_ops::fix_dead_columns(h, cols, dead.as<uint8_t>(), stream);
    common::cuda_ops::zero_dead_columns(w.as<float>(), rows, cols, dead.as<uint8_t>(), stream);
    if (config.uses_static_groups()) {
        initial_grid_kernel<<<blocks_for_warps(rows * views.num_groups), kThreadsPerBlock, 0,
                              stream>>>(w.as<float>(), rows, cols, config.group_size,
                                        views.num_groups, config.maxq(), config.sym, mse,
                                        views.scales, views.zeros);
        MCOMP_CUDA_CHECK(cudaGetLastError());
    }
    std::vector<float> diag = common::diagonal_to_host(context_, h, cols, device_);
    std::vector<uint8_t> dead_host(static_cast<std::size_t>(cols));
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(dead_host.data(), dead.as<uint8_t>(), cols,
                                     cudaMemcpyDeviceToHost, stream));

    std::vector<int32_t> perm(static_cast<std::size_t>(cols));
    std::iota(perm.begin(), perm.end(), 0);
    sdk::DeviceBuffer perm_device = buffer<int32_t>(cols);
    sdk::DeviceBuffer permuted_h;
    const float* factor_src = h;
    if (config.act_order) {
        perm = common::act_order_permutation(diag);
        std::vector<float> permuted_diag(diag.size());
        for (int64_t i = 0; i < cols; ++i) {
            permuted_diag[i] = diag[perm[i]];
        }
        diag.swap(permuted_diag);
    }
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(perm_device.as<int32_t>(), perm.data(), cols * sizeof(int32_t),
                                     cudaMemcpyHostToDevice, stream));
    if (config.act_order) {
        permuted_h = buffer<float>(cols * cols);
        common::cuda_ops::permute_symmetric(h, permuted_h.as<float>(), cols,
                                            perm_device.as<int32_t>(), stream);
        sdk::DeviceBuffer permuted_w = buffer<float>(rows * cols);
        common::cuda_ops::permute_columns(w.as<float>(), permuted_w.as<float>(), rows, cols,
                                          perm_device.as<int32_t>(), stream);
        w = std::move(permuted_w);
        factor_src = permuted_h.as<float>();
    }
    sdk::DeviceBuffer u = buffer<float>(cols * cols);
    stats.damping = common::upper_cholesky_of_inverse_cuda(
        context_, factor_src, cols, diag, config.damping, where, u.as<float>(), device_);
    permuted_h = sdk::DeviceBuffer();
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
    stats.dead_columns = std::count(dead_host.begin(), dead_host.end(), uint8_t{1});

    LoopArgs args{};
    args.w = w.as<float>();
    args.u = u.as<float>();
    args.perm = perm_device.as<int32_t>();
    args.zero_src = config.keep_zeros ? views.weight : nullptr;  // unchanged until we return
    column_loop(config, views, args, stats);

    const std::vector<int32_t> g_idx = group_index(config, perm);
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(views.g_idx, g_idx.data(), cols * sizeof(int32_t),
                                     cudaMemcpyHostToDevice, stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));  // g_idx and the buffers above
    for (int64_t c = 1; c < cols; ++c) {
        stats.desc_act = stats.desc_act || g_idx[c] < g_idx[c - 1];
    }
    return stats;
}

void CudaBackend::column_loop(const Config& config, const LayerViews& views, LoopArgs& a,
                              LayerStats& stats) {
    const cudaStream_t stream = context_.stream();
    const int64_t cols = views.cols;
    sdk::DeviceBuffer err = buffer<float>(views.rows * config.block_size);
    sdk::DeviceBuffer loss = buffer<double>(1);
    MCOMP_CUDA_CHECK(cudaMemsetAsync(loss.as<double>(), 0, sizeof(double), stream));
    a.rows = views.rows;
    a.cols = cols;
    a.num_groups = views.num_groups;
    a.group_size = config.group_size;
    a.maxq = config.maxq();
    a.sym = config.sym;
    a.static_groups = config.uses_static_groups();
    a.mse = config.mse;
    a.scales = views.scales;
    a.zeros = views.zeros;
    a.dst_weight = views.dst_weight;
    a.codes = views.codes;
    a.err = err.as<float>();
    a.loss = loss.as<double>();
    for (int64_t i1 = 0; i1 < cols; i1 += config.block_size) {
        host_.check_cancelled();
        a.i1 = i1;
        a.count = static_cast<int32_t>(std::min<int64_t>(config.block_size, cols - i1));
        const int64_t i2 = i1 + a.count;
        launch_column_loop_for(a, stream);
        if (i2 < cols) {
            // W[:, i2:] -= Err1 Hinv[i1:i2, i2:], column-major: W^T[i2:, :] -= A B with
            // A = Hinv[i1:i2, i2:]^T (ld cols) and B = Err1^T (ld count).
            const float alpha = -1.0f;
            const float beta = 1.0f;
            MCOMP_CUDA_CHECK(cublasSgemm(context_.blas(), CUBLAS_OP_N, CUBLAS_OP_N,
                                         static_cast<int>(cols - i2), static_cast<int>(a.rows),
                                         a.count, &alpha, a.u + i1 * cols + i2,
                                         static_cast<int>(cols), a.err, a.count, &beta,
                                         const_cast<float*>(a.w) + i2, static_cast<int>(cols)));
        }
        host_.progress(i2, cols, "columns");
    }
    double loss_host = 0.0;
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(&loss_host, loss.as<double>(), sizeof(double),
                                     cudaMemcpyDeviceToHost, stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
    stats.loss = loss_host / 2.0;
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CUDA;
}

std::unique_ptr<Backend> make_backend(const sdk::Host& host) {
    return std::make_unique<CudaBackend>(host);
}

}  // namespace mcomp::gptq

MCOMP_PLUGIN_ENTRY("gptq", "1.0.0", MC_DEVICE_CUDA, MC_ABI_MAKE(1, 0), mcomp::gptq::kTechniques)
