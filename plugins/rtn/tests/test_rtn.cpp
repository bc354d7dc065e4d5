// test_rtn.cpp: the CPU backend of `rtn`, loaded and run through the real host, against
// hand-checked cases and against a plain reference written here from GPTQ's quant.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "plugin_harness.hpp"

namespace mcomp::test {
namespace {

// ---- the reference: quant.py Quantizer (perchannel, mse=False) applied per group ----------

struct Reference {
    std::vector<uint8_t> codes;
    std::vector<float> weight;
    std::vector<float> scales;
    std::vector<float> zeros;
    std::vector<int32_t> g_idx;
    int64_t num_groups = 0;
};

// Written as torch would evaluate it, one group slice W[:, i:i+group_size] at a time (the
// slice of the last group is simply shorter), everything in fp32.
Reference reference_rtn(const LayerCase& layer, int bits, int group_size, bool sym) {
    const float maxq = static_cast<float>((1 << bits) - 1);
    const int64_t width = group_size > 0 ? group_size : layer.cols;
    Reference ref;
    ref.num_groups = (layer.cols + width - 1) / width;
    ref.codes.resize(layer.weight.size());
    ref.weight.resize(layer.weight.size());
    for (int64_t col = 0; col < layer.cols; ++col) {
        ref.g_idx.push_back(static_cast<int32_t>(col / width));
    }
    for (int64_t row = 0; row < layer.rows; ++row) {
        for (int64_t begin = 0; begin < layer.cols; begin += width) {
            const int64_t end = std::min(begin + width, layer.cols);
            const float* x = layer.weight.data() + row * layer.cols;
            float xmin = std::min(0.0f, *std::min_element(x + begin, x + end));
            float xmax = std::max(0.0f, *std::max_element(x + begin, x + end));
            if (sym) {
                xmax = std::max(std::fabs(xmin), xmax);
                if (xmin < 0) {
                    xmin = -xmax;
                }
            }
            if (xmin == 0 && xmax == 0) {
                xmin = -1;
                xmax = +1;
            }
            const float scale = (xmax - xmin) / maxq;
            const float zero = sym ? (maxq + 1) / 2 : std::nearbyint(-xmin / scale);
            ref.scales.push_back(scale);
            ref.zeros.push_back(zero);
            for (int64_t col = begin; col < end; ++col) {
                const float q = std::clamp(std::nearbyint(x[col] / scale) + zero, 0.0f, maxq);
                ref.codes[row * layer.cols + col] = static_cast<uint8_t>(q);
                ref.weight[row * layer.cols + col] = scale * (q - zero);
            }
        }
    }
    return ref;
}

std::vector<ParamArg> rtn_args(int bits, int group_size, bool sym) {
    return {{"bits", int64_t{bits}, ""}, {"group_size", int64_t{group_size}, ""}, {"sym", sym, ""}};
}

LayerResult run_rtn(const LayerCase& layer, int bits, int group_size, bool sym) {
    auto result = run_technique("rtn", DeviceRequest::cpu, rtn_args(bits, group_size, sym), layer);
    EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
    return result ? std::move(*result) : LayerResult{};
}

// ---- hand-checked cases ---------------------------------------------------------------------

struct HandCase {
    const char* name;
    int bits;
    int group_size;
    bool sym;
    std::vector<float> row;
    std::vector<uint8_t> codes;
    std::vector<float> weight;
    std::vector<float> scales;
    std::vector<float> zeros;
    std::vector<int32_t> g_idx;
};

// Values chosen so every scale is exact: the expected numbers follow by hand from the rules in
// rtn_grid.hpp.
const std::vector<HandCase>& hand_cases() {
    static const std::vector<HandCase> cases = {
        // scale = (10 - -5) / 15 = 1, zero = round(5) = 5; 0.5, 1.5, 2.5, -0.5 round to even.
        {"asym ties round half to even",
         4,
         -1,
         false,
         {-5, 10, 0.5f, 1.5f, 2.5f, -0.5f},
         {0, 15, 5, 7, 7, 5},
         {-5, 10, 0, 2, 2, 0},
         {1},
         {5},
         {0, 0, 0, 0, 0, 0}},
        // xmin = 0, so zero = 0 and the grid starts at 0.
        {"asym all positive",
         4,
         -1,
         false,
         {1, 2, 3, 15},
         {1, 2, 3, 15},
         {1, 2, 3, 15},
         {1},
         {0},
         {0, 0, 0, 0}},
        // xmax = 0, so zero = 15 and the grid ends at 0.
        {"asym all negative", 4, -1, false, {-15, -1}, {0, 14}, {-15, -1}, {1}, {15}, {0, 0}},
        // sym: range [-3.5, 3.5], scale 1, zero 4; 3.5 -> 4 + 4 = 8 is clamped to 7.
        {"sym clamps the top code",
         3,
         -1,
         true,
         {-3.5f, 1.5f, 2.5f, 3.5f, -0.5f},
         {0, 6, 6, 7, 4},
         {-4, 2, 2, 3, 0},
         {1},
         {4},
         {0, 0, 0, 0, 0}},
        // sym with no negative weight keeps xmin = 0 (the reference only mirrors xmin < 0).
        {"sym all positive keeps xmin at 0",
         3,
         -1,
         true,
         {0.5f, 7},
         {4, 7},
         {0, 3},
         {1},
         {4},
         {0, 0}},
        // An all-zero group gets the range [-1, 1].
        {"sym zero row", 4, -1, true, {0, 0}, {8, 8}, {0, 0}, {2.0f / 15.0f}, {8}, {0, 0}},
        // 5 columns in groups of 2: the third group has one column.
        {"partial last group",
         4,
         2,
         false,
         {-15, 0, 0, 15, 3},
         {0, 15, 0, 15, 15},
         {-15, 0, 0, 15, 3},
         {1, 1, 3.0f / 15.0f},
         {15, 0, 0},
         {0, 0, 1, 1, 2}},
        // A group wider than the row is one group.
        {"group wider than the row", 4, 128, false, {-5, 10}, {0, 15}, {-5, 10}, {1}, {5}, {0, 0}},
    };
    return cases;
}

class RtnHandCase : public ::testing::TestWithParam<HandCase> {};

TEST_P(RtnHandCase, MatchesHandComputedGrid) {
    const HandCase& c = GetParam();
    const LayerCase layer{1, static_cast<int64_t>(c.row.size()), c.row};
    const LayerResult result = run_rtn(layer, c.bits, c.group_size, c.sym);
    EXPECT_EQ(result.outputs, static_cast<uint32_t>(MC_RESULT_QUANT));
    EXPECT_EQ(result.codes, c.codes);
    EXPECT_EQ(result.weight, c.weight);
    EXPECT_EQ(result.scales, c.scales);
    EXPECT_EQ(result.zeros, c.zeros);
    EXPECT_EQ(result.g_idx, c.g_idx);
    EXPECT_EQ(result.num_groups, static_cast<int64_t>(c.scales.size()));
    EXPECT_EQ(result.bits, c.bits);
    EXPECT_EQ(result.group_size, c.group_size);
    EXPECT_EQ(result.sym, c.sym ? 1 : 0);
    EXPECT_EQ(result.desc_act, 0);
}

INSTANTIATE_TEST_SUITE_P(Table, RtnHandCase, ::testing::ValuesIn(hand_cases()),
                         [](const ::testing::TestParamInfo<HandCase>& info) {
                             std::string name = info.param.name;
                             std::replace(name.begin(), name.end(), ' ', '_');
                             return name;
                         });

TEST(Rtn, AsymZeroRowDequantizesToZero) {
    // The zero point of the [-1, 1] fallback grid depends on fp32 rounding of 1 / (2 / maxq);
    // whatever it is, every code must equal it and every weight must stay 0.
    const LayerCase layer{2, 3, {0, 0, 0, 0, 0, 0}};
    for (int bits = 2; bits <= 8; ++bits) {
        const LayerResult result = run_rtn(layer, bits, -1, false);
        const Reference ref = reference_rtn(layer, bits, -1, false);
        ASSERT_EQ(result.codes.size(), 6u);
        for (size_t i = 0; i < result.codes.size(); ++i) {
            EXPECT_EQ(static_cast<float>(result.codes[i]), result.zeros[i / 3]) << bits;
            EXPECT_EQ(result.weight[i], 0.0f) << bits;
        }
        EXPECT_EQ(result.zeros, ref.zeros) << bits;
    }
}

// ---- against the reference on random weights ------------------------------------------------

TEST(Rtn, MatchesReferenceBitForBitOnRandomWeights) {
    const LayerCase layer = random_layer(7, 300, 1234);
    for (int bits = 2; bits <= 8; ++bits) {
        for (const bool sym : {false, true}) {
            for (const int group_size : {-1, 1, 7, 64, 128, 300, 512}) {
                SCOPED_TRACE("bits " + std::to_string(bits) + " sym " + std::to_string(sym) +
                             " group_size " + std::to_string(group_size));
                const LayerResult result = run_rtn(layer, bits, group_size, sym);
                const Reference ref = reference_rtn(layer, bits, group_size, sym);
                EXPECT_EQ(result.num_groups, ref.num_groups);
                EXPECT_EQ(first_difference(result.codes, ref.codes), -1);
                EXPECT_EQ(first_difference(result.scales, ref.scales), -1);
                EXPECT_EQ(first_difference(result.zeros, ref.zeros), -1);
                EXPECT_EQ(first_difference(result.weight, ref.weight), -1);
                EXPECT_EQ(result.g_idx, ref.g_idx);
            }
        }
    }
}

TEST(Rtn, DequantizedWeightsStayWithinHalfAStepOfTheOriginal) {
    // Inside the grid's range, round-to-nearest moves a weight by at most scale / 2 (plus
    // fp32 rounding); asym grids always contain the group's range.
    const LayerCase layer = random_layer(16, 256, 99, 1.0f);
    const LayerResult result = run_rtn(layer, 4, 64, false);
    for (int64_t row = 0; row < layer.rows; ++row) {
        for (int64_t col = 0; col < layer.cols; ++col) {
            const float scale = result.scales[row * result.num_groups + col / 64];
            const int64_t i = row * layer.cols + col;
            EXPECT_LE(std::fabs(result.weight[i] - layer.weight[i]), 0.5f * scale * 1.0001f)
                << "row " << row << " col " << col;
        }
    }
}

TEST(Rtn, NeedsNoCalibrationInputs) {
    auto technique = plugin_registry().load_technique("rtn", DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value()) << technique.error().message;
    auto params = bind_params(*technique->manifest, {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    auto instance = LayerTechniqueInstance::create(*technique, *params);
    ASSERT_TRUE(instance.has_value()) << instance.error().message;
    EXPECT_FALSE((*instance)->needs_inputs());
}

TEST(Rtn, OneInstanceQuantizesLayersOfDifferentShapes) {
    auto technique = plugin_registry().load_technique("rtn", DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value()) << technique.error().message;
    auto params = bind_params(*technique->manifest, rtn_args(3, 16, true));
    ASSERT_TRUE(params.has_value()) << params.error().message;
    auto instance = LayerTechniqueInstance::create(*technique, *params);
    ASSERT_TRUE(instance.has_value()) << instance.error().message;
    for (const auto& [rows, cols] : {std::pair{4, 40}, std::pair{9, 16}, std::pair{1, 3}}) {
        const LayerCase layer = random_layer(rows, cols, static_cast<uint32_t>(rows * cols));
        LayerInput input;
        input.out_features = rows;
        input.in_features = cols;
        input.weight = layer.weight;
        auto result = (*instance)->run(input);
        ASSERT_TRUE(result.has_value()) << result.error().message;
        EXPECT_EQ(result->codes, reference_rtn(layer, 3, 16, true).codes);
    }
}

}  // namespace
}  // namespace mcomp::test
