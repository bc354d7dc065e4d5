// test_cpu_math.cpp: fast_exp against libm's double exp.
#include "runtime/cpu_math.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mcomp {
namespace {

TEST(CpuMath, FastExpWithinOneUlp) {
    double worst_ulp = 0.0;
    for (float x = -87.3f; x < 88.37f; x += 0.00731f * (1.0f + std::abs(x))) {
        const double exact = std::exp(static_cast<double>(x));
        const float rounded = static_cast<float>(exact);
        const double ulp =
            std::nextafter(rounded, std::numeric_limits<float>::infinity()) - rounded;
        worst_ulp = std::max(worst_ulp, std::abs(fast_exp(x) - exact) / ulp);
    }
    EXPECT_LT(worst_ulp, 1.0);
    EXPECT_EQ(fast_exp(0.0f), 1.0f);
}

TEST(CpuMath, FastExpEdges) {
    EXPECT_EQ(fast_exp(-100.0f), 0.0f);
    EXPECT_EQ(fast_exp(-std::numeric_limits<float>::infinity()), 0.0f);
    EXPECT_TRUE(std::isfinite(fast_exp(1000.0f)));
    EXPECT_GT(fast_exp(1000.0f), 1e38f);
}

}  // namespace
}  // namespace mcomp
