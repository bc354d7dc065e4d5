// layer_session.cpp: see layer_session.hpp. The checks and the output allocation follow
// core/layer_runner.cpp, split at the calls.
#include "compress/layer_session.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace mcomp::compress {

// Memory for one view on the session's device, released through its host services.
struct LayerSession::DeviceCopy {
    DeviceCopy(HostServices& host, mc_device device, std::size_t num_bytes)
        : host_(host), device_(device), num_bytes_(num_bytes) {
        data_ = num_bytes_ > 0 ? host_.allocate(device_, num_bytes_) : nullptr;
    }
    ~DeviceCopy() { host_.release(device_, data_); }
    DeviceCopy(const DeviceCopy&) = delete;
    DeviceCopy& operator=(const DeviceCopy&) = delete;

    bool ok() const { return num_bytes_ == 0 || data_ != nullptr; }

    HostServices& host_;
    mc_device device_;
    std::size_t num_bytes_ = 0;
    void* data_ = nullptr;
};

namespace {

mc_tensor_view make_view(mc_dtype dtype, mc_device device, std::initializer_list<int64_t> shape,
                         void* data) {
    mc_tensor_view view = {};
    view.struct_size = sizeof(mc_tensor_view);
    view.dtype = dtype;
    view.device = device;
    view.ndim = static_cast<int32_t>(shape.size());
    int32_t axis = 0;
    for (const int64_t extent : shape) {
        view.shape[axis++] = extent;
    }
    int64_t stride = 1;
    for (int32_t d = view.ndim - 1; d >= 0; --d) {
        view.strides[d] = stride;
        stride *= view.shape[d];
    }
    view.data = data;
    return view;
}

Error cancelled_error() {
    return make_error(ErrorKind::cancelled, "cancelled by the user");
}

}  // namespace

LayerSession::LayerSession(const LoadedTechnique& technique)
    : technique_(technique), label_(technique.label()) {}

Expected<std::unique_ptr<LayerSession>> LayerSession::create(const LoadedTechnique& technique,
                                                             const OwnedParams& params) {
    std::unique_ptr<LayerSession> out(new LayerSession(technique));
    MCOMP_TRY(create_layer_instance(technique, params,
                                    "the engine runs layer techniques only in this version",
                                    out->label_, out->host_, out->table_, out->instance_));
    return out;
}

LayerSession::~LayerSession() {
    weight_copy_.reset();
    batch_copy_.reset();
    if (host_ != nullptr) {
        destroy_layer_instance(*host_, label_, table_, instance_);
    }
}

bool LayerSession::needs_inputs() const {
    return (table_.flags & MC_LAYER_NEEDS_INPUTS) != 0;
}

Status LayerSession::begin(const std::string& name, std::int32_t block_index,
                           std::int64_t out_features, std::int64_t in_features,
                           std::span<const float> weight) {
    if (begun_) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: layer '{}' begun twice", label_, name));
    }
    if (out_features <= 0 || in_features <= 0 ||
        weight.size() != static_cast<std::size_t>(out_features * in_features)) {
        return make_error(ErrorKind::internal,
                          fmt::format("layer '{}': the weight has {} values, expected {} x {}",
                                      name, weight.size(), out_features, in_features));
    }
    HostServices& host = *host_;
    const mc_device device = host.device();
    void* data = const_cast<float*>(weight.data());  // read-only by contract (layer.h)
    if (device.type != MC_DEVICE_CPU) {
        weight_copy_ = std::make_unique<DeviceCopy>(host, device, weight.size_bytes());
        if (!weight_copy_->ok()) {
            return make_error(ErrorKind::internal,
                              fmt::format("{}: layer '{}': out of GPU memory for the weight "
                                          "({} bytes)",
                                          label_, name, weight.size_bytes()));
        }
        data = weight_copy_->data_;
        MCOMP_TRY(host.copy_from_host(device, data, weight.data(), weight.size_bytes()));
    }
    return begin_view(name, block_index, out_features, in_features, data);
}

Status LayerSession::begin_device(const std::string& name, std::int32_t block_index,
                                  std::int64_t out_features, std::int64_t in_features,
                                  const float* device_weight) {
    if (!on_gpu() || device_weight == nullptr || out_features <= 0 || in_features <= 0) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: layer '{}': device begin on the CPU or without a "
                                      "weight",
                                      label_, name));
    }
    return begin_view(name, block_index, out_features, in_features,
                      const_cast<float*>(device_weight));  // read-only by contract (layer.h)
}

Status LayerSession::begin_view(const std::string& name, std::int32_t block_index,
                                std::int64_t out_features, std::int64_t in_features, void* data) {
    if (begun_) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: layer '{}' begun twice", label_, name));
    }
    name_ = name;
    block_index_ = block_index;
    out_features_ = out_features;
    in_features_ = in_features;
    HostServices& host = *host_;
    const mc_tensor_view view =
        make_view(MC_DTYPE_F32, host.device(), {out_features, in_features}, data);
    const mc_layer_info info = {sizeof(mc_layer_info), name_.c_str(), block_index,
                                in_features,           out_features,  host.device()};
    MCOMP_TRY(call_plugin(host, label_, "begin_layer",
                          [&] { return table_.begin_layer(instance_, &info, &view); }));
    begun_ = true;
    return {};
}

Status LayerSession::observe(const float* src, std::int64_t tokens) {
    if (!begun_ || tokens <= 0) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: observe on layer '{}' without begin or with {} tokens",
                                      label_, name_, tokens));
    }
    if (cancel_requested()) {
        return cancelled_error();
    }
    HostServices& host = *host_;
    const mc_device device = host.device();
    const auto num_bytes = static_cast<std::size_t>(tokens * in_features_) * sizeof(float);
    void* data = const_cast<float*>(src);
    if (device.type != MC_DEVICE_CPU) {
        if (!batch_copy_ || batch_copy_->num_bytes_ < num_bytes) {
            batch_copy_ = std::make_unique<DeviceCopy>(host, device, num_bytes);
            if (!batch_copy_->ok()) {
                return make_error(ErrorKind::internal,
                                  fmt::format("{}: layer '{}': out of GPU memory for a batch "
                                              "({} bytes)",
                                              label_, name_, num_bytes));
            }
        }
        data = batch_copy_->data_;
        MCOMP_TRY(host.copy_from_host(device, data, src, num_bytes));
    }
    const mc_tensor_view view = make_view(MC_DTYPE_F32, device, {tokens, in_features_}, data);
    return call_plugin(host, label_, "observe", [&] { return table_.observe(instance_, &view); });
}

bool LayerSession::on_gpu() const {
    return host_->device().type != MC_DEVICE_CPU;
}

Status LayerSession::observe_device(const float* src, std::int64_t tokens) {
    if (!begun_ || tokens <= 0 || !on_gpu()) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: device observe on layer '{}' without begin, with {} "
                                      "tokens or on the CPU",
                                      label_, name_, tokens));
    }
    if (cancel_requested()) {
        return cancelled_error();
    }
    HostServices& host = *host_;
    const mc_tensor_view view =
        make_view(MC_DTYPE_F32, host.device(), {tokens, in_features_}, const_cast<float*>(src));
    return call_plugin(host, label_, "observe", [&] { return table_.observe(instance_, &view); });
}

Expected<LayerResult> LayerSession::finish(bool quantized_weight) {
    if (!begun_) {
        return make_error(ErrorKind::internal, fmt::format("{}: finish without begin", label_));
    }
    if (cancel_requested()) {
        return cancelled_error();
    }
    HostServices& host = *host_;
    const mc_device device = host.device();
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
    if (quant && (plan.num_groups < 1 || plan.num_groups > in_features_)) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: plan_result gave num_groups = {}, expected 1..{}",
                                      label_, plan.num_groups, in_features_));
    }
    const int64_t groups = quant ? plan.num_groups : 0;
    const auto elems = static_cast<std::size_t>(out_features_ * in_features_);
    const auto group_elems = static_cast<std::size_t>(out_features_ * groups);
    const std::size_t g_idx_bytes = quant ? static_cast<std::size_t>(in_features_) * 4 : 0;
    DeviceCopy dst_weight(host, device, elems * sizeof(float));
    DeviceCopy dst_mask(host, device, masked ? elems : 0);
    DeviceCopy dst_codes(host, device, quant ? elems : 0);
    DeviceCopy dst_scales(host, device, group_elems * sizeof(float));
    DeviceCopy dst_zeros(host, device, group_elems * sizeof(float));
    DeviceCopy dst_g_idx(host, device, g_idx_bytes);
    for (DeviceCopy* buffer :
         {&dst_weight, &dst_mask, &dst_codes, &dst_scales, &dst_zeros, &dst_g_idx}) {
        if (!buffer->ok()) {
            return make_error(ErrorKind::internal,
                              fmt::format("{}: layer '{}': out of memory allocating {} bytes",
                                          label_, name_, buffer->num_bytes_));
        }
        MCOMP_TRY(host.zero_fill(device, buffer->data_, buffer->num_bytes_));
    }
    mc_layer_result dst = {};
    dst.struct_size = sizeof(mc_layer_result);
    dst.weight = make_view(MC_DTYPE_F32, device, {out_features_, in_features_}, dst_weight.data_);
    dst.mask = make_view(MC_DTYPE_U8, device, {out_features_, in_features_}, dst_mask.data_);
    dst.codes = make_view(MC_DTYPE_U8, device, {out_features_, in_features_}, dst_codes.data_);
    dst.scales = make_view(MC_DTYPE_F32, device, {out_features_, groups}, dst_scales.data_);
    dst.zeros = make_view(MC_DTYPE_F32, device, {out_features_, groups}, dst_zeros.data_);
    dst.g_idx = make_view(MC_DTYPE_I32, device, {in_features_}, dst_g_idx.data_);
    MCOMP_TRY(call_plugin(host, label_, "finish_layer",
                          [&] { return table_.finish_layer(instance_, &dst); }));

    LayerResult result;
    result.outputs = plan.outputs;
    result.out_features = out_features_;
    result.in_features = in_features_;
    result.num_groups = groups;
    if (!quant || quantized_weight) {
        result.weight.resize(elems);
        MCOMP_TRY(host.copy_to_host(result.weight.data(), device, dst_weight.data_,
                                    dst_weight.num_bytes_));
    }
    if (masked) {
        result.mask.resize(elems);
        MCOMP_TRY(host.copy_to_host(result.mask.data(), device, dst_mask.data_, elems));
    }
    if (quant) {
        result.codes.resize(elems);
        result.scales.resize(group_elems);
        result.zeros.resize(group_elems);
        result.g_idx.resize(static_cast<std::size_t>(in_features_));
        MCOMP_TRY(host.copy_to_host(result.codes.data(), device, dst_codes.data_, elems));
        MCOMP_TRY(host.copy_to_host(result.scales.data(), device, dst_scales.data_,
                                    dst_scales.num_bytes_));
        MCOMP_TRY(
            host.copy_to_host(result.zeros.data(), device, dst_zeros.data_, dst_zeros.num_bytes_));
        MCOMP_TRY(host.copy_to_host(result.g_idx.data(), device, dst_g_idx.data_, g_idx_bytes));
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
    begun_ = false;
    weight_copy_.reset();
    batch_copy_.reset();
    return result;
}

}  // namespace mcomp::compress
