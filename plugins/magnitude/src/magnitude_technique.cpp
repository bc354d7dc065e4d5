// magnitude_technique.cpp: the `magnitude` layer protocol, shared by the CPU and CUDA
// libraries. It checks what the host hands over, calls the backend's kernel, and logs the
// sparsity reached (ties at the threshold can exceed the target).
#include "magnitude_technique.hpp"

#include <cstdio>
#include <initializer_list>
#include <string>

#include "magnitude_select.hpp"

namespace mcomp::magnitude {

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

std::string format_fraction(double value) {
    char text[32] = {};
    std::snprintf(text, sizeof(text), "%.6f", value);
    return text;
}

}  // namespace

Config parse_config(const sdk::Params& params) {
    Config config;
    config.sparsity = params.get_float("sparsity", config.sparsity);
    config.n = static_cast<int32_t>(params.get_int("n", config.n));
    config.m = static_cast<int32_t>(params.get_int("m", config.m));
    sdk::require(config.sparsity >= 0.0 && config.sparsity < 1.0, MC_ERR_INVALID_ARGUMENT,
                 "magnitude: sparsity = " + format_fraction(config.sparsity) +
                     " is out of range; use a fraction in [0, 1)");
    sdk::require((config.n == 0) == (config.m == 0), MC_ERR_INVALID_ARGUMENT,
                 "magnitude: n = " + std::to_string(config.n) +
                     " and m = " + std::to_string(config.m) +
                     " do not go together; set both for N:M (e.g. n = 2, m = 4) or neither");
    sdk::require(config.m == 0 || (config.n > 0 && config.n < config.m), MC_ERR_INVALID_ARGUMENT,
                 "magnitude: n = " + std::to_string(config.n) + " must be below m = " +
                     std::to_string(config.m) + " (n of every m weights are pruned)");
    return config;
}

MagnitudeTechnique::MagnitudeTechnique(const sdk::Host& host, const sdk::Params& params)
    : host_(host), config_(parse_config(params)) {}

void MagnitudeTechnique::begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
    layer_name_ = info.name != nullptr ? info.name : "(unnamed layer)";
    device_ = info.device;
    rows_ = info.out_features;
    cols_ = info.in_features;
    weight_ =
        checked_data<float>(weight, {rows_, cols_}, "magnitude: layer " + layer_name_ + ": weight");
    sdk::require(config_.m == 0 || cols_ % config_.m == 0, MC_ERR_UNSUPPORTED,
                 "magnitude: layer " + layer_name_ + " has in_features = " + std::to_string(cols_) +
                     ", not a multiple of m = " + std::to_string(config_.m) +
                     "; N:M sparsity needs whole groups: pick an m that divides it");
}

void MagnitudeTechnique::observe(const mc_tensor_view& /*src*/) {
    // Magnitude pruning looks at the weights only; the host does not call this without
    // MC_LAYER_NEEDS_INPUTS, and a call anyway changes nothing.
}

void MagnitudeTechnique::plan_result(mc_layer_result_plan& plan) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "magnitude: plan_result() called before begin_layer()");
    plan.outputs = MC_RESULT_MASK;
    plan.num_groups = 0;
}

void MagnitudeTechnique::finish_layer(mc_layer_result& dst) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "magnitude: finish_layer() called before begin_layer()");
    const std::string where = "magnitude: layer " + layer_name_ + ": ";
    LayerViews views;
    views.weight = weight_;
    views.rows = rows_;
    views.cols = cols_;
    views.device = device_;
    views.dst_weight = checked_data<float>(dst.weight, {rows_, cols_}, where + "result weight");
    views.mask = checked_data<uint8_t>(dst.mask, {rows_, cols_}, where + "mask");
    const int64_t numel = rows_ * cols_;
    weight_ = nullptr;
    if (numel == 0) {
        return;
    }

    if (config_.n > 0) {
        prune_n_of_m(host_, views, config_.n, config_.m);
        host_.debug(where + std::to_string(config_.n) + ":" + std::to_string(config_.m) +
                    " sparsity, " + format_fraction(double(config_.n) / config_.m) + " pruned");
        return;
    }
    const int64_t num_pruned =
        prune_unstructured(host_, views, threshold_rank(numel, config_.sparsity));
    const double achieved = static_cast<double>(num_pruned) / static_cast<double>(numel);
    const std::string line = where + "target sparsity " + format_fraction(config_.sparsity) +
                             ", achieved " + format_fraction(achieved) + " (" +
                             std::to_string(num_pruned) + " of " + std::to_string(numel) +
                             " weights pruned)";
    // The reference prunes |w| <= the value at the rank, so rank + 1 weights at least; more
    // means ties at the threshold (often many exact zeros).
    const bool ties = num_pruned > threshold_rank(numel, config_.sparsity) + 1;
    host_.info(line + (ties ? "; ties at the threshold pruned extra weights" : ""));
}

}  // namespace mcomp::magnitude
