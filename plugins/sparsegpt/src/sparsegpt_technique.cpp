// sparsegpt_technique.cpp: the `sparsegpt` layer protocol, shared by the CPU and CUDA libraries.
// It checks what the host hands over, leaves the arithmetic to the backend, and logs the
// sparsity reached.
#include "sparsegpt_technique.hpp"

#include <cstdio>
#include <string>

#include "plugin_common/checked_view.hpp"

namespace mcomp::sparsegpt {

namespace {

std::string format_double(const char* format, double value) {
    char text[48] = {};
    std::snprintf(text, sizeof(text), format, value);
    return text;
}

template <class T>
T* checked(const mc_tensor_view& view, std::initializer_list<int64_t> shape,
           const std::string& what) {
    return common::checked_data<T>(view, shape, backend_device(), what);
}

}  // namespace

SparseGptTechnique::SparseGptTechnique(const sdk::Host& host, const sdk::Params& params)
    : host_(host), config_(parse_config(params)), backend_(make_backend(host)) {}

void SparseGptTechnique::begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
    weight_ = nullptr;
    layer_name_ = info.name != nullptr ? info.name : "(unnamed layer)";
    rows_ = info.out_features;
    cols_ = info.in_features;
    num_tokens_ = 0;
    const float* data = checked<const float>(weight, {rows_, cols_}, where() + "weight");
    check_layer_shape(config_, cols_, layer_name_);
    backend_->begin_layer(rows_, cols_, weight.device);
    weight_ = data;
}

void SparseGptTechnique::observe(const mc_tensor_view& src) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: observe() called before begin_layer()");
    host_.check_cancelled();
    const float* data = checked<const float>(src, {-1, cols_}, where() + "calibration input");
    backend_->observe(data, src.shape[0]);
    num_tokens_ += src.shape[0];
}

void SparseGptTechnique::plan_result(mc_layer_result_plan& plan) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: plan_result() called before begin_layer()");
    plan.outputs = static_cast<uint32_t>(MC_RESULT_MASK) |
                   (config_.quantized() ? static_cast<uint32_t>(MC_RESULT_QUANT) : 0u);
    plan.num_groups = config_.quantized() ? common::num_groups(cols_, config_.group_size) : 0;
}

void SparseGptTechnique::finish_layer(mc_layer_result& dst) {
    sdk::require(weight_ != nullptr, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: finish_layer() called before begin_layer()");
    sdk::require(backend_->num_samples() > 0, MC_ERR_INVALID_ARGUMENT,
                 where() +
                     "no calibration sample was observed; SparseGPT needs the layer's inputs "
                     "(give the pipeline a [calibration] section)");
    LayerViews views;
    views.weight = weight_;
    views.rows = rows_;
    views.cols = cols_;
    views.dst_weight = checked<float>(dst.weight, {rows_, cols_}, where() + "result weight");
    views.mask = checked<uint8_t>(dst.mask, {rows_, cols_}, where() + "mask");
    if (config_.quantized()) {
        views.num_groups = common::num_groups(cols_, config_.group_size);
        views.codes = checked<uint8_t>(dst.codes, {rows_, cols_}, where() + "codes");
        views.scales = checked<float>(dst.scales, {rows_, views.num_groups}, where() + "scales");
        views.zeros = checked<float>(dst.zeros, {rows_, views.num_groups}, where() + "zeros");
        views.g_idx = checked<int32_t>(dst.g_idx, {cols_}, where() + "g_idx");
    }
    weight_ = nullptr;
    if (rows_ * cols_ == 0) {
        return;
    }
    const LayerStats stats = backend_->prune(config_, views, where());
    if (config_.quantized()) {
        dst.bits = config_.bits;
        dst.group_size = config_.group_size;
        dst.sym = config_.sym ? 1 : 0;
        dst.desc_act = 0;
    }
    log_layer(stats);
}

void SparseGptTechnique::log_layer(const LayerStats& stats) const {
    const int64_t numel = rows_ * cols_;
    const std::string target =
        config_.structured()
            ? std::to_string(config_.n) + ":" + std::to_string(config_.m) + " sparsity"
            : "target sparsity " + format_double("%.6f", config_.sparsity) + " per block of " +
                  std::to_string(config_.block_size) + " columns";
    const std::string quant =
        config_.quantized() ? ", joint " + std::to_string(config_.bits) + "-bit quantization" : "";
    host_.info(where() + target + quant + ", achieved " +
               format_double("%.6f", static_cast<double>(stats.pruned) / numel) + " (" +
               std::to_string(stats.pruned) + " of " + std::to_string(numel) +
               " weights pruned) from " + std::to_string(backend_->num_samples()) +
               " calibration samples, " + std::to_string(num_tokens_) + " tokens; " +
               std::to_string(stats.dead_columns) + " dead columns, damp " +
               format_double("%.6g", stats.damping.percdamp) + " (" +
               std::to_string(stats.damping.attempts) + " attempt(s)), error " +
               format_double("%.6g", stats.loss));
}

}  // namespace mcomp::sparsegpt
