// layer_runner.cpp: see layer_runner.hpp.
#include "core/layer_runner.hpp"

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcomp {

namespace {

// Memory for one view, on the instance's device, released through its host services.
class Buffer {
  public:
    Buffer(HostServices& host, mc_device device, size_t num_bytes)
        : host_(host), device_(device), num_bytes_(num_bytes) {
        data_ = num_bytes_ > 0 ? host_.allocate(device_, num_bytes_) : nullptr;
    }
    ~Buffer() { host_.release(device_, data_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    bool ok() const { return num_bytes_ == 0 || data_ != nullptr; }
    void* data() const { return data_; }
    size_t num_bytes() const { return num_bytes_; }

  private:
    HostServices& host_;
    mc_device device_;
    size_t num_bytes_ = 0;
    void* data_ = nullptr;
};

mc_tensor_view make_view(mc_dtype dtype, mc_device device, std::initializer_list<int64_t> shape,
                         void* data) {
    mc_tensor_view view = {};
    view.struct_size = sizeof(mc_tensor_view);
    view.dtype = dtype;
    view.device = device;
    view.ndim = static_cast<int32_t>(shape.size());
    int32_t i = 0;
    for (const int64_t extent : shape) {
        view.shape[i++] = extent;
    }
    int64_t stride = 1;
    for (int32_t d = view.ndim - 1; d >= 0; --d) {
        view.strides[d] = stride;
        stride *= view.shape[d];
    }
    view.data = data;
    return view;
}

Status check_input(const LayerInput& layer) {
    const auto fail = [&](const std::string& message) {
        return make_error(ErrorKind::bad_input, fmt::format("layer '{}': {}", layer.name, message));
    };
    if (layer.out_features <= 0 || layer.in_features <= 0) {
        return fail(fmt::format("expected positive out/in features, found [{}, {}]",
                                layer.out_features, layer.in_features));
    }
    const auto expected = static_cast<size_t>(layer.out_features * layer.in_features);
    if (layer.weight.size() != expected) {
        return fail(fmt::format("the weight has {} values, expected {} x {} = {}",
                                layer.weight.size(), layer.out_features, layer.in_features,
                                expected));
    }
    for (size_t b = 0; b < layer.batches.size(); ++b) {
        const size_t n = layer.batches[b].size();
        if (n == 0 || n % static_cast<size_t>(layer.in_features) != 0) {
            return fail(
                fmt::format("calibration batch {} has {} values, expected a positive "
                            "multiple of in_features = {}",
                            b, n, layer.in_features));
        }
    }
    return {};
}

}  // namespace

// ---- LayerTechniqueInstance -------------------------------------------------------------------

LayerTechniqueInstance::LayerTechniqueInstance(const LoadedTechnique& technique)
    : technique_(technique), label_(technique.label()) {}

Expected<std::unique_ptr<LayerTechniqueInstance>> LayerTechniqueInstance::create(
    const LoadedTechnique& technique, const OwnedParams& params) {
    if (technique.manifest->granularity != Granularity::layer ||
        technique.descriptor->layer == nullptr) {
        return make_error(
            ErrorKind::unsupported,
            fmt::format("{} has {} granularity; the layer runner runs layer "
                        "techniques only",
                        technique.label(), granularity_name(technique.manifest->granularity)));
    }
    std::unique_ptr<LayerTechniqueInstance> out(new LayerTechniqueInstance(technique));
    const mc_device device = {static_cast<mc_device_type>(technique.device()), 0};
    out->host_ =
        std::make_unique<HostServices>(technique.plugin_id(), technique.manifest->id, device);
    MCOMP_TRY(out->host_->prepare_device());
    const mc_layer_technique* table = technique.descriptor->layer;
    std::memcpy(&out->table_, table, std::min<size_t>(table->struct_size, sizeof(out->table_)));

    LayerTechniqueInstance& self = *out;
    MCOMP_TRY(call_plugin(*self.host_, self.label_, "create", [&] {
        return self.table_.create(self.host_->raw(), params.get(), &self.instance_);
    }));
    if (self.instance_ == nullptr) {
        return make_error(
            ErrorKind::internal,
            fmt::format("{}: create returned MC_OK without an instance", self.label_));
    }
    return out;
}

LayerTechniqueInstance::~LayerTechniqueInstance() {
    if (instance_ == nullptr) {
        return;
    }
    const Status destroyed =
        call_plugin_void(*host_, label_, "destroy", [&] { table_.destroy(instance_); });
    if (!destroyed) {
        spdlog::error("{}", destroyed.error().message);
    }
}

bool LayerTechniqueInstance::needs_inputs() const {
    return (table_.flags & MC_LAYER_NEEDS_INPUTS) != 0;
}

Expected<LayerResult> LayerTechniqueInstance::run(const LayerInput& layer) {
    MCOMP_TRY(check_input(layer));
    HostServices& host = *host_;
    const mc_device device = host.device();
    const bool on_cpu = device.type == MC_DEVICE_CPU;
    const int64_t out_features = layer.out_features;
    const int64_t in_features = layer.in_features;
    const size_t weight_bytes = layer.weight.size_bytes();
    const auto out_of_memory = [&](size_t num_bytes) {
        return make_error(
            ErrorKind::internal,
            fmt::format("{}: layer '{}': out of memory allocating {} bytes on {}", label_,
                        layer.name, num_bytes, on_cpu ? "the CPU" : "the GPU"));
    };

    // begin_layer: a CPU backend reads the caller's memory directly (read-only by contract).
    Buffer weight_copy(host, device, on_cpu ? 0 : weight_bytes);
    if (!weight_copy.ok()) {
        return out_of_memory(weight_bytes);
    }
    void* weight_data = on_cpu ? const_cast<float*>(layer.weight.data()) : weight_copy.data();
    if (!on_cpu) {
        MCOMP_TRY(host.copy_from_host(device, weight_data, layer.weight.data(), weight_bytes));
    }
    const mc_tensor_view weight =
        make_view(MC_DTYPE_F32, device, {out_features, in_features}, weight_data);
    const mc_layer_info info = {sizeof(mc_layer_info), layer.name.c_str(), layer.block_index,
                                in_features,           out_features,       device};
    MCOMP_TRY(call_plugin(host, label_, "begin_layer",
                          [&] { return table_.begin_layer(instance_, &info, &weight); }));

    // observe: one call per calibration batch.
    if (needs_inputs()) {
        size_t largest_bytes = 0;
        for (const auto& batch : layer.batches) {
            largest_bytes = std::max(largest_bytes, batch.size_bytes());
        }
        Buffer batch_copy(host, device, on_cpu ? 0 : largest_bytes);
        if (!batch_copy.ok()) {
            return out_of_memory(largest_bytes);
        }
        for (const auto& batch : layer.batches) {
            if (cancel_requested()) {
                return make_error(ErrorKind::cancelled, "cancelled by the user");
            }
            void* data = on_cpu ? const_cast<float*>(batch.data()) : batch_copy.data();
            if (!on_cpu) {
                MCOMP_TRY(host.copy_from_host(device, data, batch.data(), batch.size_bytes()));
            }
            const auto tokens = static_cast<int64_t>(batch.size()) / in_features;
            const mc_tensor_view src = make_view(MC_DTYPE_F32, device, {tokens, in_features}, data);
            MCOMP_TRY(call_plugin(host, label_, "observe",
                                  [&] { return table_.observe(instance_, &src); }));
        }
    }
    if (cancel_requested()) {
        return make_error(ErrorKind::cancelled, "cancelled by the user");
    }

    // plan_result: which outputs finish_layer() will write.
    mc_layer_result_plan plan = {sizeof(mc_layer_result_plan), 0, 0};
    MCOMP_TRY(call_plugin(host, label_, "plan_result",
                          [&] { return table_.plan_result(instance_, &plan); }));
    const uint32_t known = MC_RESULT_MASK | MC_RESULT_QUANT;
    if ((plan.outputs & ~known) != 0) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: plan_result asked for unknown outputs 0x{:x}", label_,
                                      plan.outputs & ~known));
    }
    const bool quant = (plan.outputs & MC_RESULT_QUANT) != 0;
    const bool masked = (plan.outputs & MC_RESULT_MASK) != 0;
    if (quant && (plan.num_groups < 1 || plan.num_groups > in_features)) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: plan_result gave num_groups = {}, expected 1..{} "
                                      "(in_features)",
                                      label_, plan.num_groups, in_features));
    }
    const int64_t groups = quant ? plan.num_groups : 0;

    // The outputs, zero-filled so that nothing a plugin forgets to write is garbage.
    const auto elems = static_cast<size_t>(out_features * in_features);
    const auto group_elems = static_cast<size_t>(out_features * groups);
    Buffer dst_weight(host, device, elems * sizeof(float));
    Buffer dst_mask(host, device, masked ? elems : 0);
    Buffer dst_codes(host, device, quant ? elems : 0);
    Buffer dst_scales(host, device, group_elems * sizeof(float));
    Buffer dst_zeros(host, device, group_elems * sizeof(float));
    Buffer dst_g_idx(host, device, quant ? static_cast<size_t>(in_features) * sizeof(int32_t) : 0);
    for (const Buffer* buffer :
         {&dst_weight, &dst_mask, &dst_codes, &dst_scales, &dst_zeros, &dst_g_idx}) {
        if (!buffer->ok()) {
            return out_of_memory(buffer->num_bytes());
        }
        MCOMP_TRY(host.zero_fill(device, buffer->data(), buffer->num_bytes()));
    }
    mc_layer_result dst = {};
    dst.struct_size = sizeof(mc_layer_result);
    dst.weight = make_view(MC_DTYPE_F32, device, {out_features, in_features}, dst_weight.data());
    dst.mask = make_view(MC_DTYPE_U8, device, {out_features, in_features}, dst_mask.data());
    dst.codes = make_view(MC_DTYPE_U8, device, {out_features, in_features}, dst_codes.data());
    dst.scales = make_view(MC_DTYPE_F32, device, {out_features, groups}, dst_scales.data());
    dst.zeros = make_view(MC_DTYPE_F32, device, {out_features, groups}, dst_zeros.data());
    dst.g_idx = make_view(MC_DTYPE_I32, device, {in_features}, dst_g_idx.data());
    MCOMP_TRY(call_plugin(host, label_, "finish_layer",
                          [&] { return table_.finish_layer(instance_, &dst); }));

    // Back to host memory.
    LayerResult result;
    result.outputs = plan.outputs;
    result.out_features = out_features;
    result.in_features = in_features;
    result.num_groups = groups;
    result.weight.resize(elems);
    MCOMP_TRY(
        host.copy_to_host(result.weight.data(), device, dst_weight.data(), dst_weight.num_bytes()));
    if (masked) {
        result.mask.resize(elems);
        MCOMP_TRY(host.copy_to_host(result.mask.data(), device, dst_mask.data(), elems));
    }
    if (quant) {
        result.codes.resize(elems);
        result.scales.resize(group_elems);
        result.zeros.resize(group_elems);
        result.g_idx.resize(static_cast<size_t>(in_features));
        MCOMP_TRY(host.copy_to_host(result.codes.data(), device, dst_codes.data(), elems));
        MCOMP_TRY(host.copy_to_host(result.scales.data(), device, dst_scales.data(),
                                    dst_scales.num_bytes()));
        MCOMP_TRY(host.copy_to_host(result.zeros.data(), device, dst_zeros.data(),
                                    dst_zeros.num_bytes()));
        MCOMP_TRY(host.copy_to_host(result.g_idx.data(), device, dst_g_idx.data(),
                                    dst_g_idx.num_bytes()));
        result.bits = dst.bits;
        result.group_size = dst.group_size;
        result.sym = dst.sym;
        result.desc_act = dst.desc_act;
        if (result.bits < 2 || result.bits > 8) {
            return make_error(
                ErrorKind::internal,
                fmt::format("{}: finish_layer set bits = {}, expected 2..8", label_, result.bits));
        }
    }
    MCOMP_TRY(host.synchronize());
    return result;
}

Expected<LayerResult> run_layer(const LoadedTechnique& technique, const OwnedParams& params,
                                const LayerInput& layer) {
    Expected<std::unique_ptr<LayerTechniqueInstance>> instance =
        LayerTechniqueInstance::create(technique, params);
    if (!instance) {
        return instance.error();
    }
    return (*instance)->run(layer);
}

}  // namespace mcomp
