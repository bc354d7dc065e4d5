// gptq_technique.hpp: the `gptq` technique behind the C ABI: the layer protocol
// (begin_layer -> observe per calibration sample -> plan_result -> finish_layer) and the
// interface each backend implements (src/cpu/gptq_cpu.cpp, src/cuda/gptq_cuda.cu).
//
// Each observe() is one calibration sample [tokens, in] — the reference calls add_batch()
// once per sample, so the running mean counts samples. (H only scales GPTQ's updates through
// ratios, so a host that batched several samples into one call would change rounding, not
// the result.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gptq_config.hpp"
#include "mcomp/cpp/plugin.hpp"
#include "plugin_common/inverse_factor.hpp"

namespace mcomp::gptq {

// One layer's weight and outputs, all on the backend's device, row-major.
struct LayerViews {
    const float* weight = nullptr;  // [rows, cols]
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t num_groups = 0;
    float* dst_weight = nullptr;  // [rows, cols] dequantized, original column order
    uint8_t* codes = nullptr;     // [rows, cols] original column order
    float* scales = nullptr;      // [rows, num_groups]
    float* zeros = nullptr;       // [rows, num_groups]
    int32_t* g_idx = nullptr;     // [cols]
};

// What a backend reports about one layer (logged by the technique).
struct LayerStats {
    common::DampingOutcome damping;
    int64_t dead_columns = 0;
    double loss = 0.0;      // the reference's `error`: sum (w - q)^2 / d^2 / 2
    bool desc_act = false;  // g_idx is not monotonic
};

class Backend {
  public:
    virtual ~Backend() = default;
    // Starts a layer: H = 0 over `cols` inputs; `device` is where the host keeps its tensors.
    virtual void begin_layer(int64_t rows, int64_t cols, mc_device device) = 0;
    // add_batch() with one sample `src` [tokens, cols] on the backend's device.
    virtual void observe(const float* src, int64_t tokens) = 0;
    virtual int64_t num_samples() const = 0;
    // fasterquant(): fills every output of `views`. `where` prefixes messages.
    virtual LayerStats quantize(const Config& config, const LayerViews& views,
                                const std::string& where) = 0;
};

// ---- implemented once per backend -----------------------------------------------------------

mc_device_type backend_device();
std::unique_ptr<Backend> make_backend(const sdk::Host& host);

// ---- the technique ----------------------------------------------------------------------------

class GptqTechnique {
  public:
    GptqTechnique(const sdk::Host& host, const sdk::Params& params);

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight);
    void observe(const mc_tensor_view& src);
    void plan_result(mc_layer_result_plan& plan);
    void finish_layer(mc_layer_result& dst);

  private:
    std::string where() const { return "gptq: layer " + layer_name_ + ": "; }

    sdk::Host host_;
    Config config_;
    std::unique_ptr<Backend> backend_;
    std::string layer_name_;
    const float* weight_ = nullptr;  // borrowed from begin_layer() until finish_layer()
    int64_t rows_ = 0;
    int64_t cols_ = 0;
};

inline constexpr mc_layer_technique kGptqTable =
    sdk::LayerTechnique<GptqTechnique>::make_table(MC_LAYER_NEEDS_INPUTS);

inline constexpr mc_technique_descriptor kTechniques[] = {sdk::describe_layer_technique(
    "gptq", "GPTQ: column-by-column quantization with second-order error feedback",
    MC_KIND_QUANTIZER, &kGptqTable)};

}  // namespace mcomp::gptq
