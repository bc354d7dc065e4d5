// gptq_config.hpp: the parameters of a `gptq` instance, read from the validated params.
#pragma once

#include <cstdint>

#include "mcomp/cpp/plugin.hpp"
#include "plugin_common/inverse_factor.hpp"
#include "plugin_common/quant_grid.hpp"

namespace mcomp::gptq {

// Largest lazy-update block: the CUDA column loop keeps a block of H^-1 in shared memory.
inline constexpr int32_t kMaxBlockSize = 128;

struct Config {
    int32_t bits = 4;
    int32_t group_size = 128;  // -1: one group per row
    bool sym = false;
    bool act_order = false;
    bool static_groups = false;
    common::DampingPolicy damping;  // damp, damp_auto_increment
    int32_t block_size = 128;
    common::MseOptions mse;
    // Weights that are exactly 0 on entry stay 0: the column step masks them as SparseGPT's
    // joint quantization does (plugin_common/masked_step.hpp), so a pruner's zeros survive a
    // GPTQ stage after it. Without it GPTQ's error feedback moves them off 0.
    bool keep_zeros = false;

    int32_t maxq() const { return common::max_code(bits); }
    bool grouped() const { return group_size > 0; }
    // Static groups only mean something with groups (the reference's loop over
    // range(0, columns, -1) makes none).
    bool uses_static_groups() const { return static_groups && grouped(); }
};

// Reads the parameters; throws sdk::Error for what the schema cannot express (group_size 0).
Config parse_config(const sdk::Params& params);

}  // namespace mcomp::gptq
