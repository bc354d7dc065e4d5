// wanda_technique.hpp: the `wanda` technique behind the C ABI: parameters, the layer protocol
// (begin_layer -> observe per calibration sample -> plan_result -> finish_layer), and the
// kernels each backend implements.
//
// Wanda needs the inputs of every layer (MC_LAYER_NEEDS_INPUTS): observe() folds each
// calibration sample into the running mean of ‖X_j‖² (WrappedGPT.add_batch), finish_layer()
// scores |W|·‖X_j‖₂ and masks the lowest scores of every output row. No weight is updated.
#pragma once

#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::wanda {

struct Config {
    double sparsity = 0.5;  // unstructured fraction pruned per row, used when n == 0
    int32_t n = 0;          // N:M: pruned per group; 0 = unstructured
    int32_t m = 0;          // N:M: group width
};

// Reads and checks the validated parameters; throws sdk::Error on a combination the schema
// cannot express (n without m, n >= m).
Config parse_config(const sdk::Params& params);

// What one layer's selection kernels read and write, all on the backend's device, row-major.
struct LayerViews {
    const float* weight = nullptr;      // [rows, cols]
    const float* scaler_row = nullptr;  // [cols] running mean of ‖X_j‖² over the samples
    int64_t rows = 0;
    int64_t cols = 0;
    float* dst_weight = nullptr;            // [rows, cols] pruned weights set to 0
    uint8_t* mask = nullptr;                // [rows, cols] 1 = kept
    mc_device device = {MC_DEVICE_CPU, 0};  // where scratch memory is allocated
};

// ---- implemented once per backend: src/cpu/wanda_cpu.cpp, src/cuda/wanda_cuda.cu -------------

// The device this library runs on.
mc_device_type backend_device();

// One add_batch() of one calibration sample: folds the columns of src [tokens, cols] into
// scaler_row [cols]; `samples_before` samples are already in it (0: scaler_row is not read).
void accumulate_norms(const sdk::Host& host, mc_device device, const float* src, int64_t tokens,
                      int64_t cols, int64_t samples_before, float* scaler_row);

// Prunes the `prune_per_row` lowest scores of every row (equal scores: lower column first);
// returns how many weights were pruned.
int64_t prune_unstructured(const sdk::Host& host, const LayerViews& views, int64_t prune_per_row);

// Prunes the n lowest scores of every m consecutive columns of every row (cols % m == 0);
// returns how many weights were pruned.
int64_t prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m);

// ---- the technique ----------------------------------------------------------------------------

class WandaTechnique {
  public:
    WandaTechnique(const sdk::Host& host, const sdk::Params& params);

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight);
    void observe(const mc_tensor_view& src);
    void plan_result(mc_layer_result_plan& plan);
    void finish_layer(mc_layer_result& dst);

  private:
    std::string where() const;
    void log_sparsity(int64_t num_pruned) const;

    sdk::Host host_;
    Config config_;
    std::string layer_name_;
    mc_device device_ = {MC_DEVICE_CPU, 0};
    const float* weight_ = nullptr;  // borrowed from begin_layer() until finish_layer()
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    sdk::DeviceBuffer scaler_row_;  // [cols_] f32 on device_
    int64_t num_samples_ = 0;       // add_batch's nsamples
    int64_t num_tokens_ = 0;        // for the log
};

inline constexpr mc_layer_technique kWandaTable =
    sdk::LayerTechnique<WandaTechnique>::make_table(MC_LAYER_NEEDS_INPUTS);

inline constexpr mc_technique_descriptor kTechniques[] = {sdk::describe_layer_technique(
    "wanda", "Prunes the lowest |w| * ||x||_2 scores of every output row, or n of every m columns",
    MC_KIND_PRUNER, &kWandaTable)};

}  // namespace mcomp::wanda
