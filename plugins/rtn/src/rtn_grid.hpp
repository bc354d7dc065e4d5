// rtn_grid.hpp: the arithmetic of round-to-nearest, shared verbatim by the CPU and CUDA
// kernels so both produce bit-identical scales and identical codes.
//
// It reproduces GPTQ's Quantizer (IST-DASLab/gptq, quant.py: find_params with perchannel=True,
// mse=False, and quantize()) on one group of weights, in fp32 like the reference:
//
//   xmin = min(0, min x)   xmax = max(0, max x)
//   sym:  xmax = max(|xmin|, xmax); xmin = -xmax when xmin < 0
//   xmin == xmax == 0  ->  xmin = -1, xmax = +1
//   scale = (xmax - xmin) / maxq
//   zero  = sym ? (maxq + 1) / 2 : round(-xmin / scale)
//   q     = clamp(round(x / scale) + zero, 0, maxq)     dequant = scale * (q - zero)
//
// round() is torch.round: half to even, which is nearbyint() in the default rounding mode.
// Every division is a true IEEE division (never a multiply by the reciprocal), and no
// expression here has the a*b+c shape a compiler could contract into an FMA.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define MCOMP_RTN_HD __host__ __device__
#else
#define MCOMP_RTN_HD
#endif

namespace mcomp::rtn {

struct Grid {
    float scale = 1.0f;
    float zero = 0.0f;
};

// The largest code of a `bits`-bit grid.
MCOMP_RTN_HD inline int32_t max_code(int32_t bits) {
    return (1 << bits) - 1;
}

// find_params() of the reference for one group whose extremes are `group_min`, `group_max`.
MCOMP_RTN_HD inline Grid find_grid(float group_min, float group_max, int32_t maxq, bool sym) {
    float xmin = group_min < 0.0f ? group_min : 0.0f;
    float xmax = group_max > 0.0f ? group_max : 0.0f;
    if (sym) {
        const float abs_min = std::fabs(xmin);
        xmax = abs_min > xmax ? abs_min : xmax;
        if (xmin < 0.0f) {
            xmin = -xmax;
        }
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    Grid grid;
    grid.scale = (xmax - xmin) / static_cast<float>(maxq);
    grid.zero = sym ? static_cast<float>(maxq + 1) / 2.0f : std::nearbyint(-xmin / grid.scale);
    return grid;
}

// quantize() of the reference, stopping at the integer code.
MCOMP_RTN_HD inline uint8_t quantize_code(float x, const Grid& grid, int32_t maxq) {
    float q = std::nearbyint(x / grid.scale) + grid.zero;
    q = q < 0.0f ? 0.0f : q;
    q = q > static_cast<float>(maxq) ? static_cast<float>(maxq) : q;
    return static_cast<uint8_t>(q);
}

// The weight a code stands for: scale * (q - zero).
MCOMP_RTN_HD inline float dequantize(uint8_t code, const Grid& grid) {
    return grid.scale * (static_cast<float>(code) - grid.zero);
}

// Groups per row: one per `group_size` columns, the last one possibly shorter.
MCOMP_RTN_HD inline int64_t num_groups(int64_t cols, int32_t group_size) {
    return group_size <= 0 ? 1 : (cols + group_size - 1) / group_size;
}

}  // namespace mcomp::rtn
