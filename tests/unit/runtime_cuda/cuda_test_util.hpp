// cuda_test_util.hpp: shared pieces of the CUDA backend tests — the skip when no GPU
// answers, values rounded as a dtype stores them, and the error measures the tolerances
// are stated in.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/dtype.hpp"
#include "runtime/cuda/cuda_backend.hpp"

namespace mcomp::testing {

// Skips the current test, saying why, when this machine has no usable GPU.
#define MCOMP_SKIP_WITHOUT_GPU()                                                       \
    do {                                                                               \
        if (::mcomp::cuda_device_count() == 0) {                                       \
            GTEST_SKIP() << "no CUDA GPU here (" << ::mcomp::cuda_unavailable_reason() \
                         << "); the CUDA backend is tested on a GPU machine";          \
        }                                                                              \
    } while (false)

// x as `dtype` stores it: rounded to nearest even and read back.
inline float round_as(float x, DType dtype) {
    switch (dtype) {
        case DType::f16:
            return f16_to_f32(f32_to_f16(x));
        case DType::bf16:
            return bf16_to_f32(f32_to_bf16(x));
        default:
            return x;
    }
}

// Normal(0, scale) values (plus `shift`), already representable in `dtype`, so that the CPU
// twin and the device see the same inputs.
inline std::vector<float> random_values(std::int64_t count, std::uint32_t seed, DType dtype,
                                        float scale = 1.0f, float shift = 0.0f) {
    std::vector<float> values(static_cast<std::size_t>(count));
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    for (float& value : values) {
        value = round_as(shift + normal(rng), dtype);
    }
    return values;
}

inline double max_abs(const std::vector<float>& values) {
    double peak = 0.0;
    for (const float value : values) {
        peak = std::max(peak, static_cast<double>(std::abs(value)));
    }
    return peak;
}

inline double rms(const std::vector<float>& values) {
    double sum = 0.0;
    for (const float value : values) {
        sum += static_cast<double>(value) * value;
    }
    return values.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(values.size()));
}

// |got − ref| ≤ abs·scale + rel·|ref| elementwise; `scale` sets the size the absolute
// part is measured against (e.g. the rms of the reference), NaN never passes.
struct Tolerance {
    double abs = 0.0;
    double rel = 0.0;
};

inline ::testing::AssertionResult all_close(const std::vector<float>& got,
                                            const std::vector<float>& ref, Tolerance tolerance,
                                            double scale = 1.0) {
    if (got.size() != ref.size()) {
        return ::testing::AssertionFailure()
               << "sizes differ: " << got.size() << " vs " << ref.size();
    }
    std::size_t failures = 0;
    std::size_t first = 0;
    double worst = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double error = std::abs(static_cast<double>(got[i]) - ref[i]);
        const double bound = tolerance.abs * scale + tolerance.rel * std::abs(ref[i]);
        worst = std::max(worst, std::isnan(error) ? INFINITY : error);
        if (!(error <= bound)) {
            if (failures == 0) {
                first = i;
            }
            ++failures;
        }
    }
    if (failures > 0) {
        return ::testing::AssertionFailure()
               << failures << " of " << got.size() << " elements off; first at " << first
               << ": got " << got[first] << ", expected " << ref[first] << "; worst error " << worst
               << " (tolerance abs " << tolerance.abs << "·" << scale << " + rel " << tolerance.rel
               << ")";
    }
    return ::testing::AssertionSuccess();
}

inline std::string dtype_test_name(DType dtype) {
    return dtype == DType::f32 ? "F32" : dtype == DType::f16 ? "F16" : "BF16";
}

}  // namespace mcomp::testing
