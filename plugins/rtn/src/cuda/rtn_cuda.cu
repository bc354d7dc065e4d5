// rtn_cuda.cu: the CUDA backend of `rtn` (libmcomp_rtn_cuda.so) and the library's exported
// entry. One warp quantizes one group of one row: it reduces the group's min and max with
// shuffles, then every lane runs the same find_grid() as the CPU (rtn_grid.hpp), so scales
// and zeros are bit-identical and codes identical to the CPU backend. Everything runs on the
// host's stream; the host synchronizes it after finish_layer() returns.
#include <cuda_runtime.h>

#include "cuda_check.hpp"
#include "rtn_grid.hpp"
#include "rtn_technique.hpp"

namespace mcomp::rtn {

namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kThreadsPerBlock = kWarpSize * kWarpsPerBlock;

struct KernelArgs {
    const float* weight;
    int64_t rows;
    int64_t cols;
    int64_t num_groups;
    int64_t group_cols;
    int32_t maxq;
    bool sym;
    float* dst_weight;
    uint8_t* codes;
    float* scales;
    float* zeros;
};

__device__ float warp_min(float value) {
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        value = fminf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    }
    return value;
}

__device__ float warp_max(float value) {
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
    }
    return value;
}

// One warp per (row, group); a whole warp leaves together, so the shuffles see all lanes.
__global__ void quantize_groups_kernel(KernelArgs args) {
    const int64_t task =
        static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpSize;
    const int lane = static_cast<int>(threadIdx.x % kWarpSize);
    if (task >= args.rows * args.num_groups) {
        return;
    }
    const int64_t row = task / args.num_groups;
    const int64_t group = task % args.num_groups;
    const int64_t begin = group * args.group_cols;
    const int64_t end = min(begin + args.group_cols, args.cols);
    const float* src = args.weight + row * args.cols;

    float group_min = src[begin];
    float group_max = src[begin];
    for (int64_t col = begin + lane; col < end; col += kWarpSize) {
        group_min = fminf(group_min, src[col]);
        group_max = fmaxf(group_max, src[col]);
    }
    const Grid grid = find_grid(warp_min(group_min), warp_max(group_max), args.maxq, args.sym);
    if (lane == 0) {
        args.scales[task] = grid.scale;
        args.zeros[task] = grid.zero;
    }
    for (int64_t col = begin + lane; col < end; col += kWarpSize) {
        const uint8_t code = quantize_code(src[col], grid, args.maxq);
        args.codes[row * args.cols + col] = code;
        args.dst_weight[row * args.cols + col] = dequantize(code, grid);
    }
}

__global__ void group_index_kernel(int32_t* g_idx, int64_t cols, int64_t group_cols) {
    const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (col < cols) {
        g_idx[col] = static_cast<int32_t>(col / group_cols);
    }
}

int64_t blocks_for(int64_t work_items, int64_t per_block) {
    return (work_items + per_block - 1) / per_block;
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CUDA;
}

void quantize_layer(const sdk::Host& host, const Config& config, const LayerViews& views) {
    auto stream = static_cast<cudaStream_t>(host.cuda_stream());
    const int64_t group_cols = config.group_size > 0 ? config.group_size : views.cols;
    if (views.rows == 0 || views.cols == 0) {
        return;
    }
    const KernelArgs args{views.weight,     views.rows,       views.cols,
                          views.num_groups, group_cols,       max_code(config.bits),
                          config.sym,       views.dst_weight, views.codes,
                          views.scales,     views.zeros};
    const int64_t num_tasks = views.rows * views.num_groups;
    quantize_groups_kernel<<<static_cast<unsigned>(blocks_for(num_tasks, kWarpsPerBlock)),
                             kThreadsPerBlock, 0, stream>>>(args);
    MCOMP_RTN_CUDA_CHECK(cudaGetLastError());
    group_index_kernel<<<static_cast<unsigned>(blocks_for(views.cols, kThreadsPerBlock)),
                         kThreadsPerBlock, 0, stream>>>(views.g_idx, views.cols, group_cols);
    MCOMP_RTN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mcomp::rtn

MCOMP_PLUGIN_ENTRY("rtn", "1.0.0", MC_DEVICE_CUDA, MC_ABI_MAKE(1, 0), mcomp::rtn::kTechniques)
