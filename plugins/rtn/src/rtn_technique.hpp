// rtn_technique.hpp: the `rtn` technique behind the C ABI: parameters, the layer protocol
// (begin_layer -> plan_result -> finish_layer), and the kernel each backend implements.
//
// RTN needs no calibration inputs (flags 0), so the host never calls observe().
#pragma once

#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::rtn {

struct Config {
    int32_t bits = 4;
    int32_t group_size = 128;  // -1: one group per row
    bool sym = false;
};

// Reads and checks the validated parameters; throws sdk::Error on a combination the schema
// cannot express (group_size 0).
Config parse_config(const sdk::Params& params);

// What one layer's kernel reads and writes, all on the backend's device, row-major.
struct LayerViews {
    const float* weight = nullptr;  // [rows, cols]
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t num_groups = 0;
    float* dst_weight = nullptr;  // [rows, cols] dequantized
    uint8_t* codes = nullptr;     // [rows, cols]
    float* scales = nullptr;      // [rows, num_groups]
    float* zeros = nullptr;       // [rows, num_groups]
    int32_t* g_idx = nullptr;     // [cols]
};

// ---- implemented once per backend: src/cpu/rtn_cpu.cpp, src/cuda/rtn_cuda.cu ---------------

// The device this library runs on.
mc_device_type backend_device();

// Quantizes every group of every row and fills all outputs of `views`.
void quantize_layer(const sdk::Host& host, const Config& config, const LayerViews& views);

// ---- the technique ----------------------------------------------------------------------------

class RtnTechnique {
  public:
    RtnTechnique(const sdk::Host& host, const sdk::Params& params);

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight);
    void observe(const mc_tensor_view& src);
    void plan_result(mc_layer_result_plan& plan);
    void finish_layer(mc_layer_result& dst);

  private:
    sdk::Host host_;
    Config config_;
    std::string layer_name_;
    const float* weight_ = nullptr;  // borrowed from begin_layer() until finish_layer()
    int64_t rows_ = 0;
    int64_t cols_ = 0;
};

inline constexpr mc_layer_technique kRtnTable = sdk::LayerTechnique<RtnTechnique>::make_table(0);

inline constexpr mc_technique_descriptor kTechniques[] = {sdk::describe_layer_technique(
    "rtn", "Round-to-nearest onto a per-group min/max grid (GPTQ's RTN baseline)",
    MC_KIND_QUANTIZER, &kRtnTable)};

}  // namespace mcomp::rtn
