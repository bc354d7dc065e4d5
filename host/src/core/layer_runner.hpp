// layer_runner.hpp: runs a layer-granularity technique (layer.h) on one linear layer from
// host memory and returns its results in host memory. Used by `mcomp plugins test`, by plugin
// tests, and by the compression engine.
//
// Per layer: begin_layer(info, weight) → observe(batch) for every calibration batch (only when
// the technique sets MC_LAYER_NEEDS_INPUTS) → plan_result(plan) → the host allocates the
// planned outputs on the backend's device (zero-filled) → finish_layer(dst) → results copied
// back. A CUDA backend gets device copies of the weight and batches, ordered on its
// instance's stream, which the host synchronizes after each call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/loader.hpp"
#include "core/params.hpp"
#include "mcomp/layer.h"
#include "util/expected.hpp"

namespace mcomp {

// One linear layer to compress. The spans are borrowed for the call.
struct LayerInput {
    std::string name = "layer";  // e.g. "model.layers.0.self_attn.q_proj"
    int32_t block_index = 0;
    int64_t out_features = 0;                     // rows of the weight
    int64_t in_features = 0;                      // columns of the weight
    std::span<const float> weight;                // [out, in] row-major
    std::vector<std::span<const float>> batches;  // each [tokens, in] row-major
};

// What finish_layer() produced, in host memory. Vectors of outputs the plan did not ask for
// are empty.
struct LayerResult {
    uint32_t outputs = 0;  // MC_RESULT_* bits from the plan
    int64_t out_features = 0;
    int64_t in_features = 0;
    int64_t num_groups = 0;      // with MC_RESULT_QUANT
    std::vector<float> weight;   // [out, in]
    std::vector<uint8_t> mask;   // [out, in], 1 = kept
    std::vector<uint8_t> codes;  // [out, in]
    std::vector<float> scales;   // [out, num_groups]
    std::vector<float> zeros;    // [out, num_groups]
    std::vector<int32_t> g_idx;  // [in]
    int32_t bits = 0;
    int32_t group_size = 0;
    int32_t sym = 0;
    int32_t desc_act = 0;

    bool has_mask() const { return (outputs & MC_RESULT_MASK) != 0; }
    bool has_quant() const { return (outputs & MC_RESULT_QUANT) != 0; }
};

// One instance of a layer technique (create() … destroy()); it compresses any number of
// layers in turn, as the engine does for a stage. Not thread-safe: calls are serialized.
class LayerTechniqueInstance {
  public:
    // Calls create() with `params`; the technique must have layer granularity.
    static Expected<std::unique_ptr<LayerTechniqueInstance>> create(
        const LoadedTechnique& technique, const OwnedParams& params);
    ~LayerTechniqueInstance();  // calls destroy()
    LayerTechniqueInstance(const LayerTechniqueInstance&) = delete;
    LayerTechniqueInstance& operator=(const LayerTechniqueInstance&) = delete;

    bool needs_inputs() const;
    // Compresses one layer (begin_layer … finish_layer) and copies the results back.
    Expected<LayerResult> run(const LayerInput& layer);

    const LoadedTechnique& technique() const { return technique_; }

  private:
    explicit LayerTechniqueInstance(const LoadedTechnique& technique);

    LoadedTechnique technique_;
    std::string label_;
    std::unique_ptr<HostServices> host_;
    mc_layer_technique table_ = {};  // the plugin's table, zero-extended
    mc_instance* instance_ = nullptr;
};

// The create()/destroy() half every holder of a layer-technique instance shares (the layer
// runner here, the engine's streaming session): checks the granularity (`holder` names who
// refuses otherwise, e.g. "the layer runner runs layer techniques only"), makes the instance's
// host services on the technique's device, copies the plugin's table zero-extended, and calls
// create(). On failure nothing is left to destroy.
Status create_layer_instance(const LoadedTechnique& technique, const OwnedParams& params,
                             std::string_view holder, const std::string& label,
                             std::unique_ptr<HostServices>& host, mc_layer_technique& table,
                             mc_instance*& instance);

// Calls destroy() on an instance made by create_layer_instance (nothing when it is null) and
// logs a failure, since destructors cannot report one.
void destroy_layer_instance(HostServices& host, const std::string& label,
                            const mc_layer_technique& table, mc_instance* instance);

// create → run one layer → destroy.
Expected<LayerResult> run_layer(const LoadedTechnique& technique, const OwnedParams& params,
                                const LayerInput& layer);

}  // namespace mcomp
