// sparsegpt_technique.hpp: the `sparsegpt` technique behind the C ABI: the layer protocol
// (begin_layer -> observe per calibration sample -> plan_result -> finish_layer) and the
// interface each backend implements (src/cpu/sparsegpt_cpu.cpp, src/cuda/sparsegpt_cuda.cu).
//
// Each observe() is one calibration sample [tokens, in]: the reference's llama.py calls
// add_batch() from a forward hook once per sample, so the running mean counts samples.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mcomp/cpp/plugin.hpp"
#include "plugin_common/inverse_factor.hpp"
#include "sparsegpt_config.hpp"

namespace mcomp::sparsegpt {

// One layer's weight and outputs, all on the backend's device, row-major. The quantization
// outputs are null without joint quantization.
struct LayerViews {
    const float* weight = nullptr;  // [rows, cols]
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t num_groups = 0;
    float* dst_weight = nullptr;  // [rows, cols] pruned (and dequantized) weights
    uint8_t* mask = nullptr;      // [rows, cols] 1 = kept
    uint8_t* codes = nullptr;     // [rows, cols]
    float* scales = nullptr;      // [rows, num_groups]
    float* zeros = nullptr;       // [rows, num_groups]
    int32_t* g_idx = nullptr;     // [cols]
};

// What a backend reports about one layer (logged by the technique).
struct LayerStats {
    common::DampingOutcome damping;
    int64_t dead_columns = 0;
    int64_t pruned = 0;  // weights pruned (mask 0)
    double loss = 0.0;   // the reference's `error`: sum (w - q)^2 / d^2 / 2
};

class Backend {
  public:
    virtual ~Backend() = default;
    // Starts a layer: H = 0 over `cols` inputs; `device` is where the host keeps its tensors.
    virtual void begin_layer(int64_t rows, int64_t cols, mc_device device) = 0;
    // add_batch() with one sample `src` [tokens, cols] on the backend's device.
    virtual void observe(const float* src, int64_t tokens) = 0;
    virtual int64_t num_samples() const = 0;
    // fasterprune(): fills every output of `views`. `where` prefixes messages.
    virtual LayerStats prune(const Config& config, const LayerViews& views,
                             const std::string& where) = 0;
};

// ---- implemented once per backend -----------------------------------------------------------

mc_device_type backend_device();
std::unique_ptr<Backend> make_backend(const sdk::Host& host);

// ---- the technique ----------------------------------------------------------------------------

class SparseGptTechnique {
  public:
    SparseGptTechnique(const sdk::Host& host, const sdk::Params& params);

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight);
    void observe(const mc_tensor_view& src);
    void plan_result(mc_layer_result_plan& plan);
    void finish_layer(mc_layer_result& dst);

  private:
    std::string where() const { return "sparsegpt: layer " + layer_name_ + ": "; }
    void log_layer(const LayerStats& stats) const;

    sdk::Host host_;
    Config config_;
    std::unique_ptr<Backend> backend_;
    std::string layer_name_;
    const float* weight_ = nullptr;  // borrowed from begin_layer() until finish_layer()
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    int64_t num_tokens_ = 0;  // for the log
};

inline constexpr mc_layer_technique kSparseGptTable =
    sdk::LayerTechnique<SparseGptTechnique>::make_table(MC_LAYER_NEEDS_INPUTS);

inline constexpr mc_technique_descriptor kTechniques[] = {sdk::describe_layer_technique(
    "sparsegpt",
    "SparseGPT: prunes column by column by w^2 / [H^-1]_cc^2, feeding each column's error back "
    "through the inverse Hessian",
    MC_KIND_PRUNER, &kSparseGptTable)};

}  // namespace mcomp::sparsegpt
