// rtn_technique.cpp: the `rtn` layer protocol, shared by the CPU and CUDA libraries. It checks
// what the host hands over, then calls the backend's quantize_layer().
#include "rtn_technique.hpp"

#include <initializer_list>
#include <string>

#include "rtn_grid.hpp"

namespace mcomp::rtn {

namespace {

std::string shape_string(const mc_tensor_view& view) {
    std::string text = "[";
    for (int32_t i = 0; i < view.ndim; ++i) {
        text += (i > 0 ? ", " : "") + std::to_string(view.shape[i]);
    }
    return text + "]";
}

// The data of a view after checking dtype, shape, contiguity and device; `what` names it in
// the message.
template <class T>
T* checked_data(const mc_tensor_view& view, std::initializer_list<int64_t> shape,
                const std::string& what) {
    const sdk::Matrix<T> matrix(view, what.c_str());
    bool shape_ok = view.ndim == static_cast<int32_t>(shape.size());
    std::string expected = "[";
    int32_t dim = 0;
    for (const int64_t extent : shape) {
        shape_ok = shape_ok && view.shape[dim] == extent;
        expected += (dim > 0 ? ", " : "") + std::to_string(extent);
        ++dim;
    }
    sdk::require(shape_ok, MC_ERR_INVALID_ARGUMENT,
                 what + " is " + shape_string(view) + ", expected " + expected + "]");
    sdk::require(view.device.type == backend_device(), MC_ERR_INVALID_ARGUMENT,
                 what + " lives on the wrong device for this backend");
    return matrix.data();
}

}  // namespace

Config parse_config(const sdk::Params& params) {
    Config config;
    config.bits = static_cast<int32_t>(params.get_int("bits", config.bits));
    config.group_size = static_cast<int32_t>(params.get_int("group_size", config.group_size));
    config.sym = params.get_bool("sym", config.sym);
    sdk::require(config.bits >= 2 && config.bits <= 8, MC_ERR_INVALID_ARGUMENT,
                 "rtn: bits = " + std::to_string(config.bits) + " is out of range; use 2..8");
    sdk::require(config.group_size == -1 || config.group_size > 0, MC_ERR_INVALID_ARGUMENT,
                 "rtn: group_size = " + std::to_string(config.group_size) +
                     " is invalid; use -1 (one group per row) or a positive column count");
    return config;
}

RtnTechnique::RtnTechnique(const sdk::Host& host, const sdk::Params& params)
    : host_(host), config_(parse_config(params)) {}

void RtnTechnique::begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
    layer_name_ = info.name != nullptr ? info.name : "(unnamed layer)";
    rows_ = info.out_features;
    cols_ = info.in_features;
    weight_ = checked_data<float>(weight, {rows_, cols_}, "rtn: layer " + layer_name_ + ": weight");
}

void RtnTechnique::observe(const mc_tensor_view& /*src*/) {
    // RTN looks at the weights only; the host does not call this without
    // MC_LAYER_NEEDS_INPUTS, and a call anyway changes nothing.
}

void RtnTechnique::plan_result(mc_layer_result_plan& plan) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "rtn: plan_result() called before begin_layer()");
    plan.outputs = MC_RESULT_QUANT;
    plan.num_groups = num_groups(cols_, config_.group_size);
}

void RtnTechnique::finish_layer(mc_layer_result& dst) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "rtn: finish_layer() called before begin_layer()");
    const std::string where = "rtn: layer " + layer_name_ + ": ";
    LayerViews views;
    views.weight = weight_;
    views.rows = rows_;
    views.cols = cols_;
    views.num_groups = num_groups(cols_, config_.group_size);
    views.dst_weight = checked_data<float>(dst.weight, {rows_, cols_}, where + "result weight");
    views.codes = checked_data<uint8_t>(dst.codes, {rows_, cols_}, where + "codes");
    views.scales = checked_data<float>(dst.scales, {rows_, views.num_groups}, where + "scales");
    views.zeros = checked_data<float>(dst.zeros, {rows_, views.num_groups}, where + "zeros");
    views.g_idx = checked_data<int32_t>(dst.g_idx, {cols_}, where + "g_idx");

    quantize_layer(host_, config_, views);

    dst.bits = config_.bits;
    dst.group_size = config_.group_size;
    dst.sym = config_.sym ? 1 : 0;
    dst.desc_act = 0;
    host_.debug(where + std::to_string(rows_) + "x" + std::to_string(cols_) + " quantized to " +
                std::to_string(config_.bits) + " bits in " + std::to_string(views.num_groups) +
                " group(s) per row");
    weight_ = nullptr;
}

}  // namespace mcomp::rtn
