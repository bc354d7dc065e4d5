// wanda_technique.cpp: the `wanda` layer protocol, shared by the CPU and CUDA libraries. It
// checks what the host hands over, keeps the layer's running mean of ‖X_j‖² between observe()
// calls, calls the backend's kernels, and logs the sparsity reached.
#include "wanda_technique.hpp"

#include <cstdio>
#include <initializer_list>
#include <string>

#include "wanda_score.hpp"

namespace mcomp::wanda {

namespace {

std::string shape_string(const mc_tensor_view& view) {
    std::string text = "[";
    for (int32_t i = 0; i < view.ndim; ++i) {
        text += (i > 0 ? ", " : "") + std::to_string(view.shape[i]);
    }
    return text + "]";
}

// The data of a view after checking dtype, contiguity, device and the extents that are given
// (-1: any); `what` names it in the message.
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
    sdk::require(config.sparsity >= 0.0 && config.sparsity <= 1.0, MC_ERR_INVALID_ARGUMENT,
                 "wanda: sparsity = " + format_fraction(config.sparsity) +
                     " is out of range; use a fraction in [0, 1]");
    sdk::require((config.n == 0) == (config.m == 0), MC_ERR_INVALID_ARGUMENT,
                 "wanda: n = " + std::to_string(config.n) + " and m = " + std::to_string(config.m) +
                     " do not go together; set both for N:M (e.g. n = 2, m = 4) or neither");
    sdk::require(config.m == 0 || (config.n > 0 && config.n < config.m), MC_ERR_INVALID_ARGUMENT,
                 "wanda: n = " + std::to_string(config.n) + " must be below m = " +
                     std::to_string(config.m) + " (n of every m weights are pruned)");
    sdk::require(config.m <= 64, MC_ERR_INVALID_ARGUMENT,
                 "wanda: m = " + std::to_string(config.m) + " is above 64, the widest group");
    return config;
}

WandaTechnique::WandaTechnique(const sdk::Host& host, const sdk::Params& params)
    : host_(host), config_(parse_config(params)) {}

std::string WandaTechnique::where() const {
    return "wanda: layer " + layer_name_ + ": ";
}

void WandaTechnique::begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
    layer_name_ = info.name != nullptr ? info.name : "(unnamed layer)";
    device_ = info.device;
    rows_ = info.out_features;
    cols_ = info.in_features;
    weight_ = nullptr;
    scaler_row_ = sdk::DeviceBuffer();
    num_samples_ = 0;
    num_tokens_ = 0;
    const float* weight_data = checked_data<float>(weight, {rows_, cols_}, where() + "weight");
    sdk::require(config_.m == 0 || cols_ % config_.m == 0, MC_ERR_UNSUPPORTED,
                 "wanda: layer " + layer_name_ + " has in_features = " + std::to_string(cols_) +
                     ", not a multiple of m = " + std::to_string(config_.m) +
                     "; N:M sparsity needs whole groups: pick an m that divides it");
    scaler_row_ = sdk::DeviceBuffer(host_, device_, static_cast<size_t>(cols_) * sizeof(float));
    weight_ = weight_data;
}

void WandaTechnique::observe(const mc_tensor_view& src) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "wanda: observe() called before begin_layer()");
    host_.check_cancelled();
    const float* data = checked_data<float>(src, {-1, cols_}, where() + "calibration input");
    const int64_t tokens = src.shape[0];
    if (cols_ > 0) {
        accumulate_norms(host_, device_, data, tokens, cols_, num_samples_,
                         scaler_row_.as<float>());
    }
    num_samples_ += 1;
    num_tokens_ += tokens;
}

void WandaTechnique::plan_result(mc_layer_result_plan& plan) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "wanda: plan_result() called before begin_layer()");
    plan.outputs = MC_RESULT_MASK;
    plan.num_groups = 0;
}

void WandaTechnique::finish_layer(mc_layer_result& dst) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "wanda: finish_layer() called before begin_layer()");
    sdk::require(num_samples_ > 0, MC_ERR_INVALID_ARGUMENT,
                 where() +
                     "no calibration inputs were observed; Wanda scores |w| by the norms of the "
                     "layer's inputs: give the stage calibration data");
    host_.check_cancelled();
    LayerViews views;
    views.weight = weight_;
    views.scaler_row = scaler_row_.as<float>();
    views.rows = rows_;
    views.cols = cols_;
    views.device = device_;
    views.dst_weight = checked_data<float>(dst.weight, {rows_, cols_}, where() + "result weight");
    views.mask = checked_data<uint8_t>(dst.mask, {rows_, cols_}, where() + "mask");
    weight_ = nullptr;
    if (rows_ * cols_ > 0) {
        const int64_t num_pruned =
            config_.n > 0
                ? prune_n_of_m(host_, views, config_.n, config_.m)
                : prune_unstructured(host_, views, prune_count_per_row(cols_, config_.sparsity));
        log_sparsity(num_pruned);
    }
    scaler_row_ = sdk::DeviceBuffer();
}

void WandaTechnique::log_sparsity(int64_t num_pruned) const {
    const int64_t numel = rows_ * cols_;
    const std::string target =
        config_.n > 0 ? std::to_string(config_.n) + ":" + std::to_string(config_.m) + " sparsity"
                      : "target sparsity " + format_fraction(config_.sparsity) + " per row (" +
                            std::to_string(prune_count_per_row(cols_, config_.sparsity)) + " of " +
                            std::to_string(cols_) + " columns)";
    host_.info(where() + target + ", achieved " +
               format_fraction(static_cast<double>(num_pruned) / static_cast<double>(numel)) +
               " (" + std::to_string(num_pruned) + " of " + std::to_string(numel) +
               " weights pruned) from " + std::to_string(num_samples_) + " calibration samples, " +
               std::to_string(num_tokens_) + " tokens");
}

}  // namespace mcomp::wanda
