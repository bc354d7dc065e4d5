// test_rope.cpp: rotary frequencies — default, linear and llama3 scaling — against values
// worked out by hand from transformers' formulas.
#include "runtime/rope.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace mcomp {
namespace {

ModelConfig config_with(std::int64_t head_dim, double theta) {
    ModelConfig config;
    config.head_dim = head_dim;
    config.rope_theta = theta;
    return config;
}

TEST(Rope, DefaultFrequencies) {
    const std::vector<float> inv_freq = rope_inv_freq(config_with(16, 10000.0));
    ASSERT_EQ(inv_freq.size(), 8u);
    for (std::size_t i = 0; i < 8; ++i) {
        EXPECT_FLOAT_EQ(inv_freq[i], static_cast<float>(std::pow(10000.0, -(2.0 * i) / 16.0)));
    }
    EXPECT_EQ(inv_freq[0], 1.0f);
    EXPECT_FLOAT_EQ(inv_freq[1], 0.31622776f);  // 10000^(-1/8)
}

TEST(Rope, LinearScalingDividesEveryFrequency) {
    ModelConfig config = config_with(8, 10000.0);
    const std::vector<float> plain = rope_inv_freq(config);
    config.rope_scaling.type = RopeScalingType::linear;
    config.rope_scaling.factor = 4.0;
    const std::vector<float> scaled = rope_inv_freq(config);
    for (std::size_t i = 0; i < plain.size(); ++i) {
        EXPECT_FLOAT_EQ(scaled[i], plain[i] / 4.0f);
    }
}

TEST(Rope, Llama3ScalingBands) {
    // Llama 3.1 8B: head_dim 128, theta 500000, factor 8, low 1, high 4, original 8192.
    // Wavelengths below 8192/4 = 2048 keep their frequency, above 8192 are divided by 8,
    // and in between interpolate with smooth = (8192/wavelen - 1) / 3.
    ModelConfig config = config_with(128, 500000.0);
    const std::vector<float> plain = rope_inv_freq(config);
    config.rope_scaling = {RopeScalingType::llama3, 8.0, 1.0, 4.0, 8192};
    const std::vector<float> scaled = rope_inv_freq(config);
    int high = 0, low = 0, medium = 0;
    for (std::size_t i = 0; i < plain.size(); ++i) {
        const double wavelen = 2 * std::numbers::pi / plain[i];
        if (wavelen < 2048) {
            EXPECT_EQ(scaled[i], plain[i]) << i;
            ++high;
        } else if (wavelen > 8192) {
            EXPECT_FLOAT_EQ(scaled[i], plain[i] / 8.0f) << i;
            ++low;
        } else {
            const double smooth = (8192 / wavelen - 1) / 3;
            EXPECT_NEAR(scaled[i], (1 - smooth) * plain[i] / 8 + smooth * plain[i], 1e-6 * plain[i])
                << i;
            ++medium;
        }
    }
    // The split of this config (worked out in Python): 29 kept, 29 divided, 6 interpolated.
    EXPECT_EQ(high, 29);
    EXPECT_EQ(low, 29);
    EXPECT_EQ(medium, 6);
}

TEST(Rope, TablesHoldCosAndSinOfPositionTimesFrequency) {
    const std::vector<float> inv_freq = {1.0f, 0.01f};
    const RopeTables tables = rope_tables(inv_freq, 3);
    ASSERT_EQ(tables.cos.size(), 6u);
    EXPECT_EQ(tables.cos[0], 1.0f);
    EXPECT_EQ(tables.sin[0], 0.0f);
    EXPECT_FLOAT_EQ(tables.cos[2 * 2 + 0], std::cos(2.0f));
    EXPECT_FLOAT_EQ(tables.sin[2 * 2 + 1], std::sin(0.02f));
}

}  // namespace
}  // namespace mcomp
