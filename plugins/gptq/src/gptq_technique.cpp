// gptq_technique.cpp: the `gptq` layer protocol, shared by the CPU and CUDA libraries. It
// checks what the host hands over and leaves the arithmetic to the backend.
#include "gptq_technique.hpp"

#include <cstdio>
#include <initializer_list>
#include <string>

namespace mcomp::gptq {

namespace {

std::string shape_string(const mc_tensor_view& view) {
    std::string text = "[";
    for (int32_t i = 0; i < view.ndim; ++i) {
        text += (i > 0 ? ", " : "") + std::to_string(view.shape[i]);
    }
    return text + "]";
}

// The data of a view after checking dtype, rank, contiguity, device and the extents given
// (-1: any); `what` names it in messages.
template <class T>
T* checked_data(const mc_tensor_view& view, std::initializer_list<int64_t> shape,
                const std::string& what) {
    const sdk::Matrix<T> matrix(view, what.c_str());
    bool shape_ok = view.ndim == static_cast<int32_t>(shape.size());
    std::string expected = "[";
    int32_t dim = 0;
    for (const int64_t extent : shape) {
        shape_ok = shape_ok && (extent < 0 || view.shape[dim] == extent);
        expected += (dim > 0 ? ", " : "") + (extent < 0 ? "tokens" : std::to_string(extent));
        ++dim;
    }
    sdk::require(shape_ok, MC_ERR_INVALID_ARGUMENT,
                 what + " is " + shape_string(view) + ", expected " + expected + "]");
    sdk::require(view.device.type == backend_device(), MC_ERR_INVALID_ARGUMENT,
                 what + " lives on the wrong device for this backend");
    return matrix.data();
}

std::string format_double(const char* format, double value) {
    char text[48] = {};
    std::snprintf(text, sizeof(text), format, value);
    return text;
}

}  // namespace

GptqTechnique::GptqTechnique(const sdk::Host& host, const sdk::Params& params)
    : host_(host), config_(parse_config(params)), backend_(make_backend(host)) {}

void GptqTechnique::begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
    layer_name_ = info.name != nullptr ? info.name : "(unnamed layer)";
    rows_ = info.out_features;
    cols_ = info.in_features;
    weight_ = checked_data<float>(weight, {rows_, cols_}, where() + "weight");
    backend_->begin_layer(rows_, cols_, weight.device);
}

void GptqTechnique::observe(const mc_tensor_view& src) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "gptq: observe() called before begin_layer()");
    const float* data = checked_data<float>(src, {-1, cols_}, where() + "calibration input");
    backend_->observe(data, src.shape[0]);
}

void GptqTechnique::plan_result(mc_layer_result_plan& plan) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "gptq: plan_result() called before begin_layer()");
    plan.outputs = MC_RESULT_QUANT;
    plan.num_groups = common::num_groups(cols_, config_.group_size);
}

void GptqTechnique::finish_layer(mc_layer_result& dst) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "gptq: finish_layer() called before begin_layer()");
    sdk::require(backend_->num_samples() > 0, MC_ERR_INVALID_ARGUMENT,
                 where() +
                     "no calibration sample was observed; GPTQ needs the layer's inputs "
                     "(give the stage a [calibration] section)");
    LayerViews views;
    views.weight = weight_;
    views.rows = rows_;
    views.cols = cols_;
    views.num_groups = common::num_groups(cols_, config_.group_size);
    views.dst_weight = checked_data<float>(dst.weight, {rows_, cols_}, where() + "result weight");
    views.codes = checked_data<uint8_t>(dst.codes, {rows_, cols_}, where() + "codes");
    views.scales = checked_data<float>(dst.scales, {rows_, views.num_groups}, where() + "scales");
    views.zeros = checked_data<float>(dst.zeros, {rows_, views.num_groups}, where() + "zeros");
    views.g_idx = checked_data<int32_t>(dst.g_idx, {cols_}, where() + "g_idx");

    const LayerStats stats = backend_->quantize(config_, views, where());

    dst.bits = config_.bits;
    dst.group_size = config_.group_size;
    dst.sym = config_.sym ? 1 : 0;
    dst.desc_act = stats.desc_act ? 1 : 0;
    host_.debug(where() + std::to_string(rows_) + "x" + std::to_string(cols_) + ", " +
                std::to_string(backend_->num_samples()) + " samples, " +
                std::to_string(stats.dead_columns) + " dead columns, damp " +
                format_double("%.6g", stats.damping.percdamp) + " (" +
                std::to_string(stats.damping.attempts) + " attempt(s)), error " +
                format_double("%.6g", stats.loss));
    weight_ = nullptr;
}

}  // namespace mcomp::gptq
