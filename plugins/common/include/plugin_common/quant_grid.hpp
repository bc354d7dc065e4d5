// quant_grid.hpp: the quantization grid of GPTQ's reference Quantizer (IST-DASLab/gptq,
// quant.py: find_params(x, weight=True) with perchannel=True, and quantize()), for one group
// of one row, on the host and on the device. Every quantizer plugin that claims the
// reference's numbers uses these formulas; they are the formulas of plugins/rtn/src/rtn_grid.hpp
// (the RTN baseline), written once here for GPTQ and SparseGPT.
//
//   xmin = min(0, min x)   xmax = max(0, max x)
//   sym:  xmax = max(|xmin|, xmax); xmin = -xmax when xmin < 0
//   xmin == xmax == 0  ->  xmin = -1, xmax = +1
//   scale = (xmax - xmin) / maxq
//   zero  = sym ? (maxq + 1) / 2 : round(-xmin / scale)
//   code  = clamp(round(x / scale) + zero, 0, maxq)     dequant = scale * (code - zero)
//
// With mse (quant.py `mse`, off in the reference runs): candidates p = 1 - i / grid for
// i < int(maxshrink * grid) shrink the range to [p xmin, p xmax]; the candidate with the
// smallest sum |dequant(x) - x|^norm over the group wins (strictly smaller, so the first of
// equal ones). The reference sums in fp32; here each term is raised in double and summed in
// double, so the CPU and CUDA backends (whose summation orders differ) pick the same candidate
// except at exact ties.
//
// round() is torch.round: half to even, nearbyint() in the default rounding mode. Every
// division is an IEEE division, and no expression has the a*b+c shape a compiler could fuse.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define MCOMP_COMMON_HD __host__ __device__
#else
#define MCOMP_COMMON_HD
#endif

namespace mcomp::common {

struct Grid {
    float scale = 1.0f;
    float zero = 0.0f;
};

// The range find_params() derives from a group's extremes, before the scale.
struct Range {
    float xmin = 0.0f;
    float xmax = 0.0f;
};

// quant.py's `mse` options (norm 2.4, grid 100, maxshrink 0.8 in the reference).
struct MseOptions {
    bool enabled = false;
    double norm = 2.4;
    int32_t grid = 100;
    double max_shrink = 0.8;
};

// The largest code of a `bits`-bit grid.
MCOMP_COMMON_HD inline int32_t max_code(int32_t bits) {
    return (1 << bits) - 1;
}

// Groups per row: one per `group_size` columns, the last one possibly shorter; -1: one.
MCOMP_COMMON_HD inline int64_t num_groups(int64_t cols, int32_t group_size) {
    return group_size <= 0 ? 1 : (cols + group_size - 1) / group_size;
}

MCOMP_COMMON_HD inline Range grid_range(float group_min, float group_max, bool sym) {
    Range r;
    r.xmin = group_min < 0.0f ? group_min : 0.0f;
    r.xmax = group_max > 0.0f ? group_max : 0.0f;
    if (sym) {
        const float abs_min = std::fabs(r.xmin);
        r.xmax = abs_min > r.xmax ? abs_min : r.xmax;
        if (r.xmin < 0.0f) {
            r.xmin = -r.xmax;
        }
    }
    if (r.xmin == 0.0f && r.xmax == 0.0f) {
        r.xmin = -1.0f;
        r.xmax = 1.0f;
    }
    return r;
}

MCOMP_COMMON_HD inline Grid grid_from_range(const Range& r, int32_t maxq, bool sym) {
    Grid grid;
    grid.scale = (r.xmax - r.xmin) / static_cast<float>(maxq);
    grid.zero = sym ? static_cast<float>(maxq + 1) / 2.0f : std::nearbyint(-r.xmin / grid.scale);
    return grid;
}

// find_params() without mse for a group whose extremes are `group_min`, `group_max`.
MCOMP_COMMON_HD inline Grid find_grid(float group_min, float group_max, int32_t maxq, bool sym) {
    return grid_from_range(grid_range(group_min, group_max, sym), maxq, sym);
}

// The integer code of quantize(): clamp(round(x / scale) + zero, 0, maxq).
MCOMP_COMMON_HD inline uint8_t quantize_code(float x, const Grid& grid, int32_t maxq) {
    float q = std::nearbyint(x / grid.scale) + grid.zero;
    q = q < 0.0f ? 0.0f : q;
    q = q > static_cast<float>(maxq) ? static_cast<float>(maxq) : q;
    return static_cast<uint8_t>(q);
}

// The weight a code stands for: scale * (code - zero).
MCOMP_COMMON_HD inline float dequantize(uint8_t code, const Grid& grid) {
    return grid.scale * (static_cast<float>(code) - grid.zero);
}

// ---- the mse grid search (quant.py find_params, `if self.mse`) --------------------------------

// Number of shrink candidates: int(maxshrink * grid), evaluated in double as Python does.
MCOMP_COMMON_HD inline int32_t mse_candidates(const MseOptions& mse) {
    return static_cast<int32_t>(mse.max_shrink * static_cast<double>(mse.grid));
}

// Candidate i: p = 1 - i / grid (a Python float, applied to the fp32 range as an fp32 scalar).
// `base` is the grid of the unshrunk range; a symmetric grid keeps its zero point.
MCOMP_COMMON_HD inline Grid mse_candidate(const Range& range, const Grid& base, int32_t i,
                                          const MseOptions& mse, int32_t maxq, bool sym) {
    const float p =
        static_cast<float>(1.0 - static_cast<double>(i) / static_cast<double>(mse.grid));
    const float xmin1 = p * range.xmin;
    const float xmax1 = p * range.xmax;
    Grid grid;
    grid.scale = (xmax1 - xmin1) / static_cast<float>(maxq);
    grid.zero = sym ? base.zero : std::nearbyint(-xmin1 / grid.scale);
    return grid;
}

// One term of a candidate's error: |dequant(quant(x)) - x|^norm.
MCOMP_COMMON_HD inline double mse_term(float x, const Grid& grid, int32_t maxq, double norm) {
    const float q = dequantize(quantize_code(x, grid, maxq), grid);
    const float diff = std::fabs(q - x);
    return std::pow(static_cast<double>(diff), norm);
}

// find_params() on `count` values at `x[0], x[stride], ...`, sequentially (host code).
inline Grid fit_grid(const float* x, int64_t count, int64_t stride, int32_t maxq, bool sym,
                     const MseOptions& mse) {
    float group_min = x[0];
    float group_max = x[0];
    for (int64_t i = 1; i < count; ++i) {
        const float v = x[i * stride];
        group_min = v < group_min ? v : group_min;
        group_max = v > group_max ? v : group_max;
    }
    const Range range = grid_range(group_min, group_max, sym);
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
        for (int64_t i = 0; i < count; ++i) {
            err += mse_term(x[i * stride], grid, maxq, mse.norm);
        }
        if (err < best) {
            best = err;
            best_grid = grid;
        }
    }
    return best_grid;
}

}  // namespace mcomp::common
