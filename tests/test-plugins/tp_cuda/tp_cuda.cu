// tp_cuda: a CUDA-only test plugin. tp_cuda_scale writes weight * scale and an all-ones mask
// with a kernel on the host's stream, after checking that every view it gets is device memory
// and that host allocations on the GPU are usable and 256-byte aligned.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace {

using mcomp::sdk::Error;
using mcomp::sdk::Host;
using mcomp::sdk::Params;
using mcomp::sdk::require;

__global__ void scale_kernel(const float* src, float* dst, uint8_t* mask, int64_t n, float scale) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) {
        dst[i] = src[i] * scale;
        mask[i] = 1;
    }
}

void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess) {
        throw Error(MC_ERR_DEVICE, std::string(what) + ": " + cudaGetErrorString(status));
    }
}

void require_device_memory(const mc_tensor_view& view, const char* what) {
    require(view.device.type == MC_DEVICE_CUDA, MC_ERR_INVALID_ARGUMENT,
            std::string(what) + " is not on the CUDA device");
    cudaPointerAttributes attributes = {};
    check(cudaPointerGetAttributes(&attributes, view.data), "cudaPointerGetAttributes");
    require(attributes.type == cudaMemoryTypeDevice, MC_ERR_INVALID_ARGUMENT,
            std::string(what) + " is not device memory");
}

class Scale {
  public:
    Scale(const Host& host, const Params& params)
        : host_(host),
          scale_(static_cast<float>(params.get_float("scale", 2.0))),
          expect_tokens_(params.get_int("expect_tokens", -1)) {
        require(host_.cuda_stream() != nullptr, MC_ERR_INVALID_ARGUMENT,
                "a CUDA instance has no stream");
    }

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
        require(info.device.type == MC_DEVICE_CUDA, MC_ERR_INVALID_ARGUMENT,
                "layer info is not on CUDA");
        require_device_memory(weight, "weight");
        weight_ = static_cast<const float*>(weight.data);
        num_values_ = weight.shape[0] * weight.shape[1];
        tokens_ = 0;
    }

    void observe(const mc_tensor_view& src) {
        require_device_memory(src, "src");
        tokens_ += src.shape[0];
    }

    void plan_result(mc_layer_result_plan& plan) { plan.outputs = MC_RESULT_MASK; }

    void finish_layer(mc_layer_result& dst) {
        if (expect_tokens_ >= 0) {
            require(tokens_ == expect_tokens_, MC_ERR_INVALID_ARGUMENT,
                    "observe saw " + std::to_string(tokens_) + " rows, expected " +
                        std::to_string(expect_tokens_));
        }
        require_device_memory(dst.weight, "dst.weight");
        require_device_memory(dst.mask, "dst.mask");
        auto stream = static_cast<cudaStream_t>(host_.cuda_stream());
        // A scratch allocation from the host's pool, ordered on the same stream.
        const mcomp::sdk::DeviceBuffer scratch(host_, {MC_DEVICE_CUDA, 0}, 1000);
        require(reinterpret_cast<std::uintptr_t>(scratch.as<void>()) % 256 == 0, MC_ERR_INTERNAL,
                "device allocation is not 256-byte aligned");
        check(cudaMemsetAsync(scratch.as<void>(), 0, scratch.num_bytes(), stream),
              "cudaMemsetAsync");
        const int threads = 256;
        const auto blocks = static_cast<unsigned>((num_values_ + threads - 1) / threads);
        scale_kernel<<<blocks, threads, 0, stream>>>(weight_, static_cast<float*>(dst.weight.data),
                                                     static_cast<uint8_t*>(dst.mask.data),
                                                     num_values_, scale_);
        check(cudaGetLastError(), "scale_kernel");
    }

  private:
    Host host_;
    float scale_ = 2.0f;
    int64_t expect_tokens_ = -1;
    const float* weight_ = nullptr;
    int64_t num_values_ = 0;
    int64_t tokens_ = 0;
};

constexpr mc_layer_technique kScaleTable =
    mcomp::sdk::LayerTechnique<Scale>::make_table(MC_LAYER_NEEDS_INPUTS);

const mc_technique_descriptor kTechniques[] = {
    mcomp::sdk::describe_layer_technique("tp_cuda_scale", "scales the weight on the GPU",
                                         MC_KIND_PRUNER, &kScaleTable),
};

}  // namespace

MCOMP_PLUGIN_ENTRY("tp_cuda", "1.0.0", MC_DEVICE_CUDA, MC_ABI_MAKE(1, 0), kTechniques)
