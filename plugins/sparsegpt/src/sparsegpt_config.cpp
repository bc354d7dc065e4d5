// sparsegpt_config.cpp: see sparsegpt_config.hpp.
#include "sparsegpt_config.hpp"

#include <cstdio>
#include <string>

namespace mcomp::sparsegpt {

namespace {

std::string format_fraction(double value) {
    char text[32] = {};
    std::snprintf(text, sizeof(text), "%.6g", value);
    return text;
}

}  // namespace

Config parse_config(const sdk::Params& params) {
    Config c;
    c.sparsity = params.get_float("sparsity", c.sparsity);
    c.n = static_cast<int32_t>(params.get_int("n", c.n));
    c.m = static_cast<int32_t>(params.get_int("m", c.m));
    c.block_size = static_cast<int32_t>(params.get_int("block_size", c.block_size));
    c.damping.percdamp = params.get_float("damp", c.damping.percdamp);
    c.damping.increment = params.get_float("damp_auto_increment", 0.0025);
    c.bits = static_cast<int32_t>(params.get_int("bits", c.bits));
    c.group_size = static_cast<int32_t>(params.get_int("group_size", c.group_size));
    c.sym = params.get_bool("sym", c.sym);

    // fasterprune indexes sort(tmp)[int(numel * sparsity)]: sparsity 1 is out of range there.
    sdk::require(c.sparsity >= 0.0 && c.sparsity < 1.0, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: sparsity = " + format_fraction(c.sparsity) +
                     " is out of range; use a fraction in [0, 1), e.g. 0.5");
    sdk::require((c.n == 0) == (c.m == 0), MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: n = " + std::to_string(c.n) + " and m = " + std::to_string(c.m) +
                     " do not go together; set both for N:M (e.g. n = 2, m = 4) or neither");
    sdk::require(c.m == 0 || (c.n > 0 && c.n < c.m), MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: n = " + std::to_string(c.n) + " must be below m = " +
                     std::to_string(c.m) + " (n of every m weights are pruned)");
    sdk::require(c.m <= kMaxGroupWidth, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: m = " + std::to_string(c.m) + " is above " +
                     std::to_string(kMaxGroupWidth) + ", the widest group");
    sdk::require(c.block_size >= 1 && c.block_size <= kMaxBlockSize, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: block_size = " + std::to_string(c.block_size) +
                     " is out of range; use 1.." + std::to_string(kMaxBlockSize));
    // The reference's groups start at every m-th column of a block; a block that is not a
    // multiple of m would end in a short group whose n lowest are most of it.
    sdk::require(c.m == 0 || c.block_size % c.m == 0, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: block_size = " + std::to_string(c.block_size) +
                     " is not a multiple of m = " + std::to_string(c.m) +
                     "; N:M groups must not straddle blocks (e.g. block_size = 128)");
    sdk::require(c.damping.percdamp >= 0.0 && c.damping.percdamp < 1.0, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: damp = " + format_fraction(c.damping.percdamp) +
                     " is out of range; use a value in [0, 1), e.g. 0.01");
    sdk::require(c.bits == 2 || c.bits == 3 || c.bits == 4 || c.bits == 8 || c.bits == 16,
                 MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: bits = " + std::to_string(c.bits) +
                     " is not supported; use 2, 3, 4 or 8, or 16 for no quantization");
    sdk::require(c.group_size == -1 || c.group_size > 0, MC_ERR_INVALID_ARGUMENT,
                 "sparsegpt: group_size = " + std::to_string(c.group_size) +
                     " is invalid; use -1 (one group per row) or a positive column count");
    return c;
}

void check_layer_shape(const Config& config, int64_t cols, const std::string& layer_name) {
    sdk::require(config.m == 0 || cols % config.m == 0, MC_ERR_UNSUPPORTED,
                 "sparsegpt: layer " + layer_name + " has in_features = " + std::to_string(cols) +
                     ", not a multiple of m = " + std::to_string(config.m) +
                     "; N:M sparsity needs whole groups: pick an m that divides it");
}

}  // namespace mcomp::sparsegpt
