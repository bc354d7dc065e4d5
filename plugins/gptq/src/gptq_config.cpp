// gptq_config.cpp: see gptq_config.hpp.
#include "gptq_config.hpp"

#include <string>

namespace mcomp::gptq {

Config parse_config(const sdk::Params& params) {
    Config c;
    c.bits = static_cast<int32_t>(params.get_int("bits", c.bits));
    c.group_size = static_cast<int32_t>(params.get_int("group_size", c.group_size));
    c.sym = params.get_bool("sym", c.sym);
    c.act_order = params.get_bool("act_order", c.act_order);
    c.static_groups = params.get_bool("static_groups", c.static_groups);
    c.damping.percdamp = params.get_float("damp", c.damping.percdamp);
    c.damping.increment = params.get_float("damp_auto_increment", 0.0025);
    c.block_size = static_cast<int32_t>(params.get_int("block_size", c.block_size));
    c.mse.enabled = params.get_bool("mse", c.mse.enabled);
    c.mse.norm = params.get_float("mse_norm", c.mse.norm);
    c.mse.grid = static_cast<int32_t>(params.get_int("mse_grid", c.mse.grid));
    c.mse.max_shrink = params.get_float("mse_max_shrink", c.mse.max_shrink);
    c.keep_zeros = params.get_bool("keep_zeros", c.keep_zeros);

    sdk::require(c.bits == 2 || c.bits == 3 || c.bits == 4 || c.bits == 8, MC_ERR_INVALID_ARGUMENT,
                 "gptq: bits = " + std::to_string(c.bits) + " is not supported; use 2, 3, 4 or 8");
    sdk::require(c.group_size == -1 || c.group_size > 0, MC_ERR_INVALID_ARGUMENT,
                 "gptq: group_size = " + std::to_string(c.group_size) +
                     " is invalid; use -1 (one group per row) or a positive column count");
    sdk::require(c.block_size >= 1 && c.block_size <= kMaxBlockSize, MC_ERR_INVALID_ARGUMENT,
                 "gptq: block_size = " + std::to_string(c.block_size) +
                     " is out of range; use 1.." + std::to_string(kMaxBlockSize));
    sdk::require(c.damping.percdamp >= 0.0 && c.damping.percdamp < 1.0, MC_ERR_INVALID_ARGUMENT,
                 "gptq: damp = " + std::to_string(c.damping.percdamp) +
                     " is out of range; use a value in [0, 1), e.g. 0.01");
    sdk::require(!c.mse.enabled || common::mse_candidates(c.mse) >= 1, MC_ERR_INVALID_ARGUMENT,
                 "gptq: mse_max_shrink * mse_grid leaves no shrink step to try; raise either");
    return c;
}

}  // namespace mcomp::gptq
