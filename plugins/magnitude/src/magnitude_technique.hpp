// magnitude_technique.hpp: the `magnitude` technique behind the C ABI: parameters, the layer
// protocol (begin_layer -> plan_result -> finish_layer), and the kernels each backend
// implements.
//
// Magnitude pruning looks at the weights only (flags 0), so the host never calls observe().
#pragma once

#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::magnitude {

struct Config {
    double sparsity = 0.5;  // unstructured target, used when n == 0
    int32_t n = 0;          // N:M: pruned per group; 0 = unstructured
    int32_t m = 0;          // N:M: group width
};

// Reads and checks the validated parameters; throws sdk::Error on a combination the schema
// cannot express (sparsity 1, n without m, n >= m).
Config parse_config(const sdk::Params& params);

// What one layer's kernels read and write, all on the backend's device, row-major.
struct LayerViews {
    const float* weight = nullptr;  // [rows, cols]
    int64_t rows = 0;
    int64_t cols = 0;
    float* dst_weight = nullptr;            // [rows, cols] pruned weights set to 0
    uint8_t* mask = nullptr;                // [rows, cols] 1 = kept
    mc_device device = {MC_DEVICE_CPU, 0};  // where scratch memory is allocated
};

// ---- implemented once per backend: src/cpu/magnitude_cpu.cpp, src/cuda/magnitude_cuda.cu ---

// The device this library runs on.
mc_device_type backend_device();

// Prunes every |w| <= the |w| at position `rank` of all |w| sorted ascending; returns how many
// weights were pruned.
int64_t prune_unstructured(const sdk::Host& host, const LayerViews& views, int64_t rank);

// Prunes the n smallest |w| of every m consecutive columns of every row (cols % m == 0).
void prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m);

// ---- the technique ----------------------------------------------------------------------------

class MagnitudeTechnique {
  public:
    MagnitudeTechnique(const sdk::Host& host, const sdk::Params& params);

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight);
    void observe(const mc_tensor_view& src);
    void plan_result(mc_layer_result_plan& plan);
    void finish_layer(mc_layer_result& dst);

  private:
    sdk::Host host_;
    Config config_;
    std::string layer_name_;
    mc_device device_ = {MC_DEVICE_CPU, 0};
    const float* weight_ = nullptr;  // borrowed from begin_layer() until finish_layer()
    int64_t rows_ = 0;
    int64_t cols_ = 0;
};

inline constexpr mc_layer_technique kMagnitudeTable =
    sdk::LayerTechnique<MagnitudeTechnique>::make_table(0);

inline constexpr mc_technique_descriptor kTechniques[] = {sdk::describe_layer_technique(
    "magnitude", "Prunes the smallest |w|: one threshold per matrix, or n of every m columns",
    MC_KIND_PRUNER, &kMagnitudeTable)};

}  // namespace mcomp::magnitude
