// warp_grid.cuh: find_params() of quant_grid.hpp for one group of one row, computed by a whole
// warp (lanes stride over the group, then butterfly reductions), so every lane ends with the
// same grid. min/max are exact in any order, so the grid equals the CPU's fit_grid(); with
// mse the candidates' double sums are added in another order than on the CPU and can pick a
// different candidate only at an exact tie.
#pragma once

#include <cstdint>

#include "plugin_common/quant_grid.hpp"

namespace mcomp::common {

inline constexpr unsigned kFullWarp = 0xffffffffu;

__device__ inline float warp_min(float v) {
    for (int offset = 16; offset > 0; offset /= 2) {
        v = fminf(v, __shfl_xor_sync(kFullWarp, v, offset));
    }
    return v;
}

__device__ inline float warp_max(float v) {
    for (int offset = 16; offset > 0; offset /= 2) {
        v = fmaxf(v, __shfl_xor_sync(kFullWarp, v, offset));
    }
    return v;
}

__device__ inline double warp_sum(double v) {
    for (int offset = 16; offset > 0; offset /= 2) {
        v += __shfl_xor_sync(kFullWarp, v, offset);
    }
    return v;
}

// All 32 lanes must call it with the same arguments; `x` has `count` >= 1 values, contiguous.
__device__ inline Grid warp_fit_grid(const float* x, int64_t count, int32_t maxq, bool sym,
                                     const MseOptions& mse) {
    const int lane = static_cast<int>(threadIdx.x % 32);
    float lo = x[0];
    float hi = x[0];
    for (int64_t i = lane; i < count; i += 32) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    const Range range = grid_range(warp_min(lo), warp_max(hi), sym);
    Grid best_grid = grid_from_range(range, maxq, sym);
    if (!mse.enabled) {
        return best_grid;
    }
    const Grid base = best_grid;
    double best = INFINITY;
    const int32_t candidates = mse_candidates(mse);
    for (int32_t c = 0; c < candidates; ++c) {
        const Grid grid = mse_candidate(range, base, c, mse, maxq, sym);
        double err = 0.0;
        for (int64_t i = lane; i < count; i += 32) {
            err += mse_term(x[i], grid, maxq, mse.norm);
        }
        err = warp_sum(err);
        if (err < best) {
            best = err;
            best_grid = grid;
        }
    }
    return best_grid;
}

}  // namespace mcomp::common
