// magnitude_cuda.cu: the CUDA backend of `magnitude` (libmcomp_magnitude_cuda.so) and the
// library's exported entry.
//
// Unstructured: the magnitude keys of the whole matrix are radix-sorted with CUB and the key
// at the threshold rank is read on the device by the mask kernel, so the threshold is the
// same value the CPU's nth_element finds. N:M: one thread per weight runs the same
// n_of_m_pruned() as the CPU (magnitude_select.hpp). Masks are therefore identical to the
// CPU backend's. Everything runs on the host's stream; scratch memory comes from the host.
#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>

#include "cuda_check.hpp"
#include "magnitude_select.hpp"
#include "magnitude_technique.hpp"

namespace mcomp::magnitude {

namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = 65536;

unsigned blocks_for(int64_t work_items) {
    const int64_t blocks = (work_items + kThreadsPerBlock - 1) / kThreadsPerBlock;
    return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__global__ void magnitude_keys_kernel(const float* weight, int64_t numel, uint32_t* keys) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
         i += stride) {
        keys[i] = magnitude_key(weight[i]);
    }
}

// Prunes every key <= *threshold and counts the pruned weights into *num_pruned.
__global__ void threshold_mask_kernel(const float* weight, int64_t numel, const uint32_t* threshold,
                                      uint8_t* mask, float* dst_weight,
                                      unsigned long long* num_pruned) {
    const uint32_t limit = *threshold;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    unsigned count = 0;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
         i += stride) {
        const bool pruned = magnitude_key(weight[i]) <= limit;
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

__global__ void n_of_m_kernel(const float* weight, int64_t rows, int64_t cols, int32_t n, int32_t m,
                              uint8_t* mask, float* dst_weight) {
    const int64_t numel = rows * cols;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
         i += stride) {
        const auto j = static_cast<int32_t>(i % cols % m);
        const bool pruned = n_of_m_pruned(weight + (i - j), m, n, j);
        mask[i] = pruned ? 0 : 1;
        dst_weight[i] = pruned ? 0.0f : weight[i];
    }
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CUDA;
}

int64_t prune_unstructured(const sdk::Host& host, const LayerViews& views, int64_t rank) {
    auto stream = static_cast<cudaStream_t>(host.cuda_stream());
    const int64_t numel = views.rows * views.cols;
    const sdk::DeviceBuffer keys(host, views.device, numel * sizeof(uint32_t));
    const sdk::DeviceBuffer sorted(host, views.device, numel * sizeof(uint32_t));
    const sdk::DeviceBuffer counter(host, views.device, sizeof(unsigned long long));

    size_t temp_bytes = 0;
    MCOMP_MAGNITUDE_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(
        nullptr, temp_bytes, keys.as<uint32_t>(), sorted.as<uint32_t>(), numel, 0, 32, stream));
    const sdk::DeviceBuffer temp(host, views.device, temp_bytes);

    magnitude_keys_kernel<<<blocks_for(numel), kThreadsPerBlock, 0, stream>>>(views.weight, numel,
                                                                              keys.as<uint32_t>());
    MCOMP_MAGNITUDE_CUDA_CHECK(cudaGetLastError());
    MCOMP_MAGNITUDE_CUDA_CHECK(
        cub::DeviceRadixSort::SortKeys(temp.as<void>(), temp_bytes, keys.as<uint32_t>(),
                                       sorted.as<uint32_t>(), numel, 0, 32, stream));
    MCOMP_MAGNITUDE_CUDA_CHECK(
        cudaMemsetAsync(counter.as<void>(), 0, sizeof(unsigned long long), stream));
    threshold_mask_kernel<<<blocks_for(numel), kThreadsPerBlock, 0, stream>>>(
        views.weight, numel, sorted.as<uint32_t>() + rank, views.mask, views.dst_weight,
        counter.as<unsigned long long>());
    MCOMP_MAGNITUDE_CUDA_CHECK(cudaGetLastError());

    unsigned long long num_pruned = 0;
    MCOMP_MAGNITUDE_CUDA_CHECK(cudaMemcpyAsync(&num_pruned, counter.as<void>(), sizeof(num_pruned),
                                               cudaMemcpyDeviceToHost, stream));
    MCOMP_MAGNITUDE_CUDA_CHECK(cudaStreamSynchronize(stream));
    return static_cast<int64_t>(num_pruned);
}

void prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m) {
    auto stream = static_cast<cudaStream_t>(host.cuda_stream());
    n_of_m_kernel<<<blocks_for(views.rows * views.cols), kThreadsPerBlock, 0, stream>>>(
        views.weight, views.rows, views.cols, n, m, views.mask, views.dst_weight);
    MCOMP_MAGNITUDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mcomp::magnitude

MCOMP_PLUGIN_ENTRY("magnitude", "1.0.0", MC_DEVICE_CUDA, MC_ABI_MAKE(1, 0),
                   mcomp::magnitude::kTechniques)
