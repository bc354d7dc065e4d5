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

Status create_layer_instance(const LoadedTechnique& technique, const OwnedParams& params,
                             std::string_view holder, const std::string& label,
                             std::unique_ptr<HostServices>& host, mc_layer_technique& table,
                             mc_instance*& instance) {
    if (technique.manifest->granularity != Granularity::layer ||
        technique.descriptor->layer == nullptr) {
        return make_error(ErrorKind::unsupported,
                          fmt::format("{} has {} granularity; {}", technique.label(),
                                      granularity_name(technique.manifest->granularity), holder));
    }
    const mc_device device = {static_cast<mc_device_type>(technique.device()), 0};
    host = std::make_unique<HostServices>(technique.plugin_id(), technique.manifest->id, device);
    MCOMP_TRY(host->prepare_device());
    const mc_layer_technique* src = technique.descriptor->layer;
    std::memcpy(&table, src, std::min<size_t>(src->struct_size, sizeof(table)));
    MCOMP_TRY(call_plugin(*host, label, "create",
                          [&] { return table.create(host->raw(), params.get(), &instance); }));
    if (instance == nullptr) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: create returned MC_OK without an instance", label));
    }
    return {};
}

void destroy_layer_instance(HostServices& host, const std::string& label,
                            const mc_layer_technique& table, mc_instance* instance) {
    if (instance == nullptr) {
        return;
    }
    const Status destroyed =
        call_plugin_void(host, label, "destroy", [&] { table.destroy(instance); });
    if (!destroyed) {
        spdlog::error("{}", destroyed.error().message);
    }
}

Expected<std::unique_ptr<LayerTechniqueInstance>> LayerTechniqueInstance::create(
    const LoadedTechnique& technique, const OwnedParams& params) {
    std::unique_ptr<LayerTechniqueInstance> out(new LayerTechniqueInstance(technique));
    MCOMP_TRY(create_layer_instance(technique, params,
                                    "the layer runner runs layer techniques only", out->label_,
                                    out->host_, out->table_, out->instance_));
    return out;
}

LayerTechniqueInstance::~LayerTechniqueInstance() {
    if (host_ != nullptr) {
        destroy_layer_instance(*host_, label_, table_, instance_);
    }
}

bool LayerTechniqueInstance::needs_inputs() const {
    return (table_.flags & MC_LAYER_NEEDS_INPUTS) != 0;
}

// ---- one layer ------------------------------------------------------------------------------

namespace {

// The buffers and views of one run(): the weight and batches on the backend's device, the
// planned outputs, and the calls that use them, in order.
class LayerCall {
  public:
    LayerCall(HostServices& host, const mc_layer_technique& table, mc_instance* instance,
              const std::string& label, const LayerInput& layer)
        : host_(host), table_(table), instance_(instance), label_(label), layer_(layer) {
        device_ = host.device();
        on_cpu_ = device_.type == MC_DEVICE_CPU;
    }

    Status begin();
    Status observe_all();
    Status plan();
    Status finish();
    Expected<LayerResult> collect() const;

  private:
    Error out_of_memory(size_t num_bytes) const {
        return make_error(
            ErrorKind::internal,
            fmt::format("{}: layer '{}': out of memory allocating {} bytes on {}", label_,
                        layer_.name, num_bytes, on_cpu_ ? "the CPU" : "the GPU"));
    }
    // A view of host data `src`: the data itself on the CPU (read-only by contract), a copy
    // in `copy` on the GPU.
    Expected<void*> stage(std::span<const float> src, std::unique_ptr<Buffer>& copy);
    Expected<Buffer*> output(size_t num_bytes);

    HostServices& host_;
    const mc_layer_technique& table_;
    mc_instance* instance_;
    const std::string& label_;
    const LayerInput& layer_;
    mc_device device_ = {MC_DEVICE_CPU, 0};
    bool on_cpu_ = true;

    std::unique_ptr<Buffer> weight_copy_;
    std::unique_ptr<Buffer> batch_copy_;
    mc_tensor_view weight_ = {};
    mc_layer_info info_ = {};
    mc_layer_result_plan plan_ = {sizeof(mc_layer_result_plan), 0, 0};
    std::vector<std::unique_ptr<Buffer>> outputs_;
    mc_layer_result dst_ = {};
};

Expected<void*> LayerCall::stage(std::span<const float> src, std::unique_ptr<Buffer>& copy) {
    if (on_cpu_) {
        return const_cast<float*>(src.data());
    }
    if (!copy || copy->num_bytes() < src.size_bytes()) {
        copy = std::make_unique<Buffer>(host_, device_, src.size_bytes());
        if (!copy->ok()) {
            return out_of_memory(src.size_bytes());
        }
    }
    MCOMP_TRY(host_.copy_from_host(device_, copy->data(), src.data(), src.size_bytes()));
    return copy->data();
}

Status LayerCall::begin() {
    Expected<void*> data = stage(layer_.weight, weight_copy_);
    if (!data) {
        return data.error();
    }
    weight_ = make_view(MC_DTYPE_F32, device_, {layer_.out_features, layer_.in_features}, *data);
    info_ = {sizeof(mc_layer_info), layer_.name.c_str(), layer_.block_index,
             layer_.in_features,    layer_.out_features, device_};
    return call_plugin(host_, label_, "begin_layer",
                       [&] { return table_.begin_layer(instance_, &info_, &weight_); });
}

Status LayerCall::observe_all() {
    for (const std::span<const float> batch : layer_.batches) {
        if (cancel_requested()) {
            return make_error(ErrorKind::cancelled, "cancelled by the user");
        }
        Expected<void*> data = stage(batch, batch_copy_);
        if (!data) {
            return data.error();
        }
        const auto tokens = static_cast<int64_t>(batch.size()) / layer_.in_features;
        const mc_tensor_view src =
            make_view(MC_DTYPE_F32, device_, {tokens, layer_.in_features}, *data);
        MCOMP_TRY(
            call_plugin(host_, label_, "observe", [&] { return table_.observe(instance_, &src); }));
    }
    return {};
}

Status LayerCall::plan() {
    if (cancel_requested()) {
        return make_error(ErrorKind::cancelled, "cancelled by the user");
    }
    MCOMP_TRY(call_plugin(host_, label_, "plan_result",
                          [&] { return table_.plan_result(instance_, &plan_); }));
    const uint32_t known = MC_RESULT_MASK | MC_RESULT_QUANT;
    if ((plan_.outputs & ~known) != 0) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: plan_result asked for unknown outputs 0x{:x}", label_,
                                      plan_.outputs & ~known));
    }
    if ((plan_.outputs & MC_RESULT_QUANT) == 0) {
        plan_.num_groups = 0;
    } else if (plan_.num_groups < 1 || plan_.num_groups > layer_.in_features) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: plan_result gave num_groups = {}, expected 1..{} "
                                      "(in_features)",
                                      label_, plan_.num_groups, layer_.in_features));
    }
    return {};
}

// A zero-filled output buffer, so that nothing a plugin forgets to write is garbage.
Expected<Buffer*> LayerCall::output(size_t num_bytes) {
    outputs_.push_back(std::make_unique<Buffer>(host_, device_, num_bytes));
    Buffer* buffer = outputs_.back().get();
    if (!buffer->ok()) {
        return out_of_memory(num_bytes);
    }
    MCOMP_TRY(host_.zero_fill(device_, buffer->data(), num_bytes));
    return buffer;
}

Status LayerCall::finish() {
    const int64_t rows = layer_.out_features;
    const int64_t cols = layer_.in_features;
    const bool quant = (plan_.outputs & MC_RESULT_QUANT) != 0;
    const bool masked = (plan_.outputs & MC_RESULT_MASK) != 0;
    const int64_t groups = plan_.num_groups;
    const auto elems = static_cast<size_t>(rows * cols);
    const auto group_elems = static_cast<size_t>(rows * groups);
    // weight, mask, codes, scales, zeros, g_idx; unplanned ones are empty (data == NULL).
    const size_t sizes[6] = {
        elems * sizeof(float),       masked ? elems : 0,
        quant ? elems : 0,           group_elems * sizeof(float),
        group_elems * sizeof(float), quant ? size_t(cols) * sizeof(int32_t) : 0};
    void* data[6] = {};
    for (int i = 0; i < 6; ++i) {
        Expected<Buffer*> buffer = output(sizes[i]);
        if (!buffer) {
            return buffer.error();
        }
        data[i] = (*buffer)->data();
    }
    dst_.struct_size = sizeof(mc_layer_result);
    dst_.weight = make_view(MC_DTYPE_F32, device_, {rows, cols}, data[0]);
    dst_.mask = make_view(MC_DTYPE_U8, device_, {rows, cols}, data[1]);
    dst_.codes = make_view(MC_DTYPE_U8, device_, {rows, cols}, data[2]);
    dst_.scales = make_view(MC_DTYPE_F32, device_, {rows, groups}, data[3]);
    dst_.zeros = make_view(MC_DTYPE_F32, device_, {rows, groups}, data[4]);
    dst_.g_idx = make_view(MC_DTYPE_I32, device_, {cols}, data[5]);
    return call_plugin(host_, label_, "finish_layer",
                       [&] { return table_.finish_layer(instance_, &dst_); });
}

Expected<LayerResult> LayerCall::collect() const {
    LayerResult result;
    result.outputs = plan_.outputs;
    result.out_features = layer_.out_features;
    result.in_features = layer_.in_features;
    result.num_groups = plan_.num_groups;
    const auto copy_back = [&](auto& dst, const Buffer& src) -> Status {
        dst.resize(src.num_bytes() / sizeof(dst[0]));
        return host_.copy_to_host(dst.data(), device_, src.data(), src.num_bytes());
    };
    MCOMP_TRY(copy_back(result.weight, *outputs_[0]));
    MCOMP_TRY(copy_back(result.mask, *outputs_[1]));
    MCOMP_TRY(copy_back(result.codes, *outputs_[2]));
    MCOMP_TRY(copy_back(result.scales, *outputs_[3]));
    MCOMP_TRY(copy_back(result.zeros, *outputs_[4]));
    MCOMP_TRY(copy_back(result.g_idx, *outputs_[5]));
    MCOMP_TRY(host_.synchronize());
    if (result.has_quant()) {
        result.bits = dst_.bits;
        result.group_size = dst_.group_size;
        result.sym = dst_.sym;
        result.desc_act = dst_.desc_act;
        if (result.bits < 2 || result.bits > 8) {
            return make_error(
                ErrorKind::internal,
                fmt::format("{}: finish_layer set bits = {}, expected 2..8", label_, result.bits));
        }
    }
    return result;
}

}  // namespace

Expected<LayerResult> LayerTechniqueInstance::run(const LayerInput& layer) {
    MCOMP_TRY(check_input(layer));
    LayerCall call(*host_, table_, instance_, label_, layer);
    MCOMP_TRY(call.begin());
    if (needs_inputs()) {
        MCOMP_TRY(call.observe_all());
    }
    MCOMP_TRY(call.plan());
    MCOMP_TRY(call.finish());
    return call.collect();
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
