// wanda_cuda.cu: the CUDA backend of `wanda` (libmcomp_wanda_cuda.so) and the library's
// exported entry. Everything runs on the host's stream; scratch memory comes from the host.
//
//   - norms (observe): a column-norm kernel writes one double partial sum of squares per
//     (chunk of kTokensPerChunk tokens, column), a second kernel adds the chunk sums in chunk
//     order and applies add_batch's running-mean update: the CPU's order, so the same bits.
//   - unstructured (finish_layer): one thread block per output row runs a radix select over
//     the 32-bit score keys (4 passes of 8 bits, a 256-bin histogram in shared memory) to find
//     the k-th lowest key T and how many keys equal to T must go; a final pass prunes the keys
//     below T and, in column order (a block-wide scan), the first of those equal to T. That is
//     exactly the first k of a stable ascending sort. Rows up to kSharedKeyColumns columns keep
//     their keys in shared memory; longer rows recompute them from global memory each pass.
//   - N:M: one thread per weight ranks its score within its group (wanda_score.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/block/block_scan.cuh>

#include "cuda_check.hpp"
#include "wanda_score.hpp"
#include "wanda_technique.hpp"

namespace mcomp::wanda {

namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = 65536;
constexpr int kNormThreads = 128;           // columns per block of the column-norm kernel
constexpr int64_t kMaxChunkBlocks = 65535;  // gridDim.y limit
constexpr int kRadixBits = 8;
constexpr int kRadixBins = 1 << kRadixBits;
constexpr int kSelectThreads = kRadixBins;    // one histogram bin per thread
constexpr int64_t kSharedKeyColumns = 16384;  // 64 KiB of keys per block

unsigned blocks_for(int64_t work_items) {
    const int64_t blocks = (work_items + kThreadsPerBlock - 1) / kThreadsPerBlock;
    return static_cast<unsigned>(std::min(std::max<int64_t>(blocks, 1), kMaxBlocks));
}

cudaStream_t stream_of(const sdk::Host& host) {
    return static_cast<cudaStream_t>(host.cuda_stream());
}

// ---- norms ------------------------------------------------------------------------------------

// partial[chunk * cols + j] = sum over the chunk's tokens, in token order, of src[t, j]^2.
__global__ void norm_chunk_kernel(const float* src, int64_t tokens, int64_t cols,
                                  int64_t num_chunks, double* partial) {
    const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= cols) {
        return;
    }
    for (int64_t chunk = blockIdx.y; chunk < num_chunks; chunk += gridDim.y) {
        const int64_t token_end = min(tokens, (chunk + 1) * kTokensPerChunk);
        double sum = 0.0;
        for (int64_t t = chunk * kTokensPerChunk; t < token_end; ++t) {
            const double value = src[t * cols + j];
            sum += value * value;  // value^2 is exact in double: FMA or not, the same bits
        }
        partial[chunk * cols + j] = sum;
    }
}

// scaler_row[j] = add_batch's update with the chunk sums added in chunk order.
__global__ void norm_update_kernel(const double* partial, int64_t num_chunks, int64_t cols,
                                   float decay, float samples_after, bool first,
                                   float* scaler_row) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
         j += stride) {
        double sum = 0.0;
        for (int64_t chunk = 0; chunk < num_chunks; ++chunk) {
            sum += partial[chunk * cols + j];
        }
        scaler_row[j] =
            running_mean_update(first ? 0.0f : scaler_row[j], decay, sum, samples_after, first);
    }
}

__global__ void sqrt_kernel(const float* scaler_row, int64_t cols, float* sqrt_scaler) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
         j += stride) {
        sqrt_scaler[j] = sqrt_rn(scaler_row[j]);
    }
}

// ---- unstructured: radix select per row ------------------------------------------------------

template <bool kSharedKeys>
__device__ uint32_t row_key(const uint32_t* shared_keys, const float* weight_row,
                            const float* sqrt_scaler, int64_t col) {
    if constexpr (kSharedKeys) {
        return shared_keys[col];
    } else {
        return weight_key(weight_row[col], sqrt_scaler[col]);
    }
}

// Finds the `rank`-th lowest key (1-based) of the row: returns it, and sets `rank` to its
// rank among the keys equal to it. Every thread of the block calls it and gets the same.
template <bool kSharedKeys>
__device__ uint32_t
radix_select(const uint32_t* shared_keys, const float* weight_row, const float* sqrt_scaler,
             int64_t cols, uint32_t& rank, uint32_t* histogram, uint32_t* chosen,
             typename cub::BlockScan<uint32_t, kSelectThreads>::TempStorage& scan_storage) {
    using BlockScan = cub::BlockScan<uint32_t, kSelectThreads>;
    const int tid = static_cast<int>(threadIdx.x);
    uint32_t prefix = 0;
    uint32_t prefix_mask = 0;
    for (int shift = 32 - kRadixBits; shift >= 0; shift -= kRadixBits) {
        histogram[tid] = 0;
        __syncthreads();
        // Every thread runs the same number of iterations, so the whole warp meets in
        // __match_any_sync; lanes with the same bin add once (many keys share the top bits).
        for (int64_t base = 0; base < cols; base += kSelectThreads) {
            const int64_t col = base + tid;
            uint32_t bin = kRadixBins;  // no bin
            if (col < cols) {
                const uint32_t key =
                    row_key<kSharedKeys>(shared_keys, weight_row, sqrt_scaler, col);
                if ((key & prefix_mask) == prefix) {
                    bin = (key >> shift) & (kRadixBins - 1);
                }
            }
            const unsigned peers = __match_any_sync(0xffffffffu, bin);
            if (bin != kRadixBins && (tid & 31) == __ffs(peers) - 1) {
                atomicAdd(&histogram[bin], static_cast<uint32_t>(__popc(peers)));
            }
        }
        __syncthreads();
        const uint32_t count = histogram[tid];
        uint32_t before = 0;
        BlockScan(scan_storage).ExclusiveSum(count, before);
        // The candidates hold at least `rank` keys, so exactly one bin contains the target.
        if (before < rank && rank <= before + count) {
            chosen[0] = prefix | (static_cast<uint32_t>(tid) << shift);
            chosen[1] = rank - before;
        }
        __syncthreads();
        prefix = chosen[0];
        rank = chosen[1];
        prefix_mask |= static_cast<uint32_t>(kRadixBins - 1) << shift;
        __syncthreads();  // chosen[] and the scan storage are reused by the next pass
    }
    return prefix;
}

// One block per row: prunes the `prune_per_row` lowest keys, equal keys in column order.
template <bool kSharedKeys>
__global__ void __launch_bounds__(kSelectThreads)
    select_rows_kernel(const float* weight, const float* sqrt_scaler, int64_t cols,
                       int64_t prune_per_row, uint8_t* mask, float* dst_weight,
                       unsigned long long* num_pruned) {
    using BlockScan = cub::BlockScan<uint32_t, kSelectThreads>;
    __shared__ typename BlockScan::TempStorage scan_storage;
    __shared__ uint32_t histogram[kRadixBins];
    __shared__ uint32_t chosen[2];
    extern __shared__ uint32_t shared_keys[];  // [cols] when kSharedKeys

    const int tid = static_cast<int>(threadIdx.x);
    const int64_t row_offset = static_cast<int64_t>(blockIdx.x) * cols;
    const float* weight_row = weight + row_offset;
    if constexpr (kSharedKeys) {
        for (int64_t col = tid; col < cols; col += kSelectThreads) {
            shared_keys[col] = weight_key(weight_row[col], sqrt_scaler[col]);
        }
        __syncthreads();
    }
    uint32_t threshold = 0;
    uint32_t equal_to_prune = 0;  // how many keys equal to threshold go, lowest column first
    if (prune_per_row > 0) {
        equal_to_prune = static_cast<uint32_t>(prune_per_row);
        threshold = radix_select<kSharedKeys>(shared_keys, weight_row, sqrt_scaler, cols,
                                              equal_to_prune, histogram, chosen, scan_storage);
    }

    unsigned local_pruned = 0;
    uint32_t equal_before = 0;  // keys equal to threshold in earlier tiles
    for (int64_t base = 0; base < cols; base += kSelectThreads) {
        const int64_t col = base + tid;
        const bool valid = col < cols;
        const uint32_t key =
            valid ? row_key<kSharedKeys>(shared_keys, weight_row, sqrt_scaler, col) : 0u;
        const uint32_t is_equal = (valid && equal_to_prune > 0 && key == threshold) ? 1u : 0u;
        uint32_t equal_rank = 0;
        uint32_t tile_equal = 0;
        // Most tiles hold no key equal to the threshold: skip their scan (a uniform branch).
        if (__syncthreads_or(static_cast<int>(is_equal)) != 0) {
            BlockScan(scan_storage).ExclusiveSum(is_equal, equal_rank, tile_equal);
            __syncthreads();
        }
        if (valid) {
            const bool pruned =
                prune_per_row > 0 &&
                (key < threshold || (is_equal != 0 && equal_before + equal_rank < equal_to_prune));
            mask[row_offset + col] = pruned ? 0 : 1;
            dst_weight[row_offset + col] = pruned ? 0.0f : weight_row[col];
            local_pruned += pruned ? 1u : 0u;
        }
        equal_before += tile_equal;
    }
    local_pruned = __reduce_add_sync(0xffffffffu, local_pruned);
    if ((tid & 31) == 0 && local_pruned > 0) {
        atomicAdd(num_pruned, static_cast<unsigned long long>(local_pruned));
    }
}

// ---- N:M --------------------------------------------------------------------------------------

__global__ void n_of_m_kernel(const float* weight, const float* sqrt_scaler, int64_t rows,
                              int64_t cols, int32_t n, int32_t m, uint8_t* mask, float* dst_weight,
                              unsigned long long* num_pruned) {
    const int64_t numel = rows * cols;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    unsigned count = 0;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
         i += stride) {
        const int64_t col = i % cols;
        const auto j = static_cast<int32_t>(col % m);
        const bool pruned = n_of_m_pruned(weight + (i - j), sqrt_scaler + (col - j), m, n, j);
        mask[i] = pruned ? 0 : 1;
        dst_weight[i] = pruned ? 0.0f : weight[i];
        count += pruned ? 1u : 0u;
    }
    // Every lane of a full block reaches this point, so the warp-wide sum is safe.
    count = __reduce_add_sync(0xffffffffu, count);
    if (threadIdx.x % 32 == 0 && count > 0) {
        atomicAdd(num_pruned, static_cast<unsigned long long>(count));
    }
}

// sqrt(scaler_row) on the device, as torch.sqrt(wrapped.scaler_row) before the broadcast.
sdk::DeviceBuffer sqrt_of_scaler(const sdk::Host& host, const LayerViews& views) {
    sdk::DeviceBuffer sqrt_scaler(host, views.device, views.cols * sizeof(float));
    sqrt_kernel<<<blocks_for(views.cols), kThreadsPerBlock, 0, stream_of(host)>>>(
        views.scaler_row, views.cols, sqrt_scaler.as<float>());
    MCOMP_WANDA_CUDA_CHECK(cudaGetLastError());
    return sqrt_scaler;
}

int64_t read_counter(const sdk::Host& host, const sdk::DeviceBuffer& counter) {
    unsigned long long value = 0;
    MCOMP_WANDA_CUDA_CHECK(cudaMemcpyAsync(&value, counter.as<void>(), sizeof(value),
                                           cudaMemcpyDeviceToHost, stream_of(host)));
    MCOMP_WANDA_CUDA_CHECK(cudaStreamSynchronize(stream_of(host)));
    return static_cast<int64_t>(value);
}

sdk::DeviceBuffer zeroed_counter(const sdk::Host& host, mc_device device) {
    sdk::DeviceBuffer counter(host, device, sizeof(unsigned long long));
    MCOMP_WANDA_CUDA_CHECK(
        cudaMemsetAsync(counter.as<void>(), 0, sizeof(unsigned long long), stream_of(host)));
    return counter;
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CUDA;
}

void accumulate_norms(const sdk::Host& host, mc_device device, const float* src, int64_t tokens,
                      int64_t cols, int64_t samples_before, float* scaler_row) {
    const cudaStream_t stream = stream_of(host);
    const int64_t num_chunks = (tokens + kTokensPerChunk - 1) / kTokensPerChunk;
    const sdk::DeviceBuffer partial(host, device,
                                    std::max<int64_t>(num_chunks, 1) * cols * sizeof(double));
    if (num_chunks > 0) {
        const dim3 grid(static_cast<unsigned>((cols + kNormThreads - 1) / kNormThreads),
                        static_cast<unsigned>(std::min(num_chunks, kMaxChunkBlocks)));
        norm_chunk_kernel<<<grid, kNormThreads, 0, stream>>>(src, tokens, cols, num_chunks,
                                                             partial.as<double>());
        MCOMP_WANDA_CUDA_CHECK(cudaGetLastError());
    }
    norm_update_kernel<<<blocks_for(cols), kThreadsPerBlock, 0, stream>>>(
        partial.as<double>(), num_chunks, cols, running_mean_decay(samples_before),
        static_cast<float>(samples_before + 1), samples_before == 0, scaler_row);
    MCOMP_WANDA_CUDA_CHECK(cudaGetLastError());
}

int64_t prune_unstructured(const sdk::Host& host, const LayerViews& views, int64_t prune_per_row) {
    const cudaStream_t stream = stream_of(host);
    const sdk::DeviceBuffer sqrt_scaler = sqrt_of_scaler(host, views);
    const sdk::DeviceBuffer counter = zeroed_counter(host, views.device);
    const auto grid = static_cast<unsigned>(views.rows);
    if (views.cols <= kSharedKeyColumns) {
        const size_t shared_bytes = views.cols * sizeof(uint32_t);
        MCOMP_WANDA_CUDA_CHECK(cudaFuncSetAttribute(select_rows_kernel<true>,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(shared_bytes)));
        select_rows_kernel<true><<<grid, kSelectThreads, shared_bytes, stream>>>(
            views.weight, sqrt_scaler.as<float>(), views.cols, prune_per_row, views.mask,
            views.dst_weight, counter.as<unsigned long long>());
    } else {
        select_rows_kernel<false><<<grid, kSelectThreads, 0, stream>>>(
            views.weight, sqrt_scaler.as<float>(), views.cols, prune_per_row, views.mask,
            views.dst_weight, counter.as<unsigned long long>());
    }
    MCOMP_WANDA_CUDA_CHECK(cudaGetLastError());
    return read_counter(host, counter);
}

int64_t prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m) {
    const sdk::DeviceBuffer sqrt_scaler = sqrt_of_scaler(host, views);
    const sdk::DeviceBuffer counter = zeroed_counter(host, views.device);
    n_of_m_kernel<<<blocks_for(views.rows * views.cols), kThreadsPerBlock, 0, stream_of(host)>>>(
        views.weight, sqrt_scaler.as<float>(), views.rows, views.cols, n, m, views.mask,
        views.dst_weight, counter.as<unsigned long long>());
    MCOMP_WANDA_CUDA_CHECK(cudaGetLastError());
    return read_counter(host, counter);
}

}  // namespace mcomp::wanda

MCOMP_PLUGIN_ENTRY("wanda", "1.0.0", MC_DEVICE_CUDA, MC_ABI_MAKE(1, 0), mcomp::wanda::kTechniques)
