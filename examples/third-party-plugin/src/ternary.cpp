// ternary.cpp: a complete mcomp plugin in one file — Ternary Weight Networks as a layer
// quantizer, CPU only. Copy it to start your own technique.
//
// TWN (Li, Zhang, Liu 2016, arXiv:1605.04711) approximates each output row w of a weight
// matrix by alpha * t with t in {-1, 0, +1}:
//
//   delta = 0.7 * mean |w|                 (eq. 9, the ratio is the `delta_ratio` param)
//   t_i   = +1 if w_i > delta, -1 if w_i < -delta, else 0
//   alpha = mean of |w_i| over |w_i| > delta     (eq. 7)
//
// mcomp hands quantized layers over as integer codes with a scale and zero point per group,
// dequantized as scale * (code - zero). Ternary fits that as a 2-bit grid with one group per
// row: code = t + 1 in {0, 1, 2}, scale = alpha, zero = 1. A row of zeros has no |w| > delta;
// it gets alpha = 1 so that the scale stays usable, and every code is 1 (weight 0).
//
// The recipe:
//   1. the technique class: constructor (params) + begin_layer / observe / plan_result /
//      finish_layer, throwing mcomp::sdk::Error on bad input;
//   2. the function table and descriptor, built by the SDK's C++ helper;
//   3. MCOMP_PLUGIN_ENTRY: the one exported symbol, with the id and version of plugin.toml.
#include <cmath>
#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace ternary {

using mcomp::sdk::Host;
using mcomp::sdk::Matrix;
using mcomp::sdk::Params;
using mcomp::sdk::require;

// ---- 1. the technique -------------------------------------------------------------------------

// Quantizes one row: writes codes and dequantized weights, returns alpha.
float quantize_row(const float* src, int64_t cols, float delta_ratio, uint8_t* codes, float* dst) {
    double sum_abs = 0.0;
    for (int64_t i = 0; i < cols; ++i) {
        sum_abs += std::fabs(src[i]);
    }
    const auto delta = static_cast<float>(delta_ratio * sum_abs / static_cast<double>(cols));

    double sum_kept = 0.0;
    int64_t num_kept = 0;
    for (int64_t i = 0; i < cols; ++i) {
        if (std::fabs(src[i]) > delta) {
            sum_kept += std::fabs(src[i]);
            ++num_kept;
        }
    }
    const float alpha = num_kept > 0 ? static_cast<float>(sum_kept / num_kept) : 1.0f;

    for (int64_t i = 0; i < cols; ++i) {
        codes[i] = src[i] > delta ? 2 : (src[i] < -delta ? 0 : 1);
        dst[i] = alpha * static_cast<float>(codes[i] - 1);
    }
    return alpha;
}

class Ternary {
  public:
    // `params` was validated by the host against [technique.params] of plugin.toml, with
    // defaults filled in: every declared parameter is present with its declared type.
    Ternary(const Host& host, const Params& params)
        : host_(host), delta_ratio_(static_cast<float>(params.get_float("delta_ratio", 0.7))) {}

    // The weight stays valid and unchanged until finish_layer() returns: keep the pointer.
    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
        const Matrix<float> matrix(weight, "ternary: weight");  // checks dtype, rank, layout
        require(matrix.rows() == info.out_features && matrix.cols() == info.in_features,
                MC_ERR_INVALID_ARGUMENT, "ternary: weight shape does not match the layer info");
        weight_ = matrix.data();
        rows_ = matrix.rows();
        cols_ = matrix.cols();
        name_ = info.name != nullptr ? info.name : "";
    }

    // TWN needs no calibration data (the table's flags are 0), so the host never calls this.
    void observe(const mc_tensor_view& /*src*/) {}

    // Codes with one scale and zero per row.
    void plan_result(mc_layer_result_plan& plan) {
        plan.outputs = MC_RESULT_QUANT;
        plan.num_groups = 1;
    }

    // The host allocated every planned view (host memory: this is a CPU backend).
    void finish_layer(mc_layer_result& dst) {
        const Matrix<float> weight(dst.weight, "ternary: result weight");
        const Matrix<uint8_t> codes(dst.codes, "ternary: codes");
        const Matrix<float> scales(dst.scales, "ternary: scales");
        const Matrix<float> zeros(dst.zeros, "ternary: zeros");
        const Matrix<int32_t> g_idx(dst.g_idx, "ternary: g_idx");
        for (int64_t row = 0; row < rows_; ++row) {
            host_.check_cancelled();
            scales.at(row, 0) = quantize_row(weight_ + row * cols_, cols_, delta_ratio_,
                                             codes.row(row), weight.row(row));
            zeros.at(row, 0) = 1.0f;
        }
        for (int64_t col = 0; col < cols_; ++col) {
            g_idx.data()[col] = 0;
        }
        dst.bits = 2;
        dst.group_size = -1;
        dst.sym = 0;  // the zero point is stored explicitly (1), not implied by the grid
        dst.desc_act = 0;
        host_.debug("ternary: " + name_ + " quantized");
    }

  private:
    Host host_;
    float delta_ratio_ = 0.7f;
    const float* weight_ = nullptr;  // borrowed from begin_layer() until finish_layer()
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    std::string name_;
};

// ---- 2. the function table and the descriptor -------------------------------------------------

constexpr mc_layer_technique kTable = mcomp::sdk::LayerTechnique<Ternary>::make_table(0);

constexpr mc_technique_descriptor kTechniques[] = {mcomp::sdk::describe_layer_technique(
    "ternary", "Ternary weights per output row (TWN: delta = 0.7 * mean|w|)", MC_KIND_QUANTIZER,
    &kTable)};

}  // namespace ternary

// ---- 3. the exported entry: id and version must equal plugin.toml ------------------------------

MCOMP_PLUGIN_ENTRY("ternary", "0.1.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), ternary::kTechniques)
