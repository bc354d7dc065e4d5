// test_formats.cpp: the format-independent parts of engine/formats.hpp — the checks on a
// quantized layer, dequantization and the rounding of scales.
#include "engine/formats.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "format_test_layers.hpp"

namespace mcomp {
namespace {

using testing::LayerSpec;
using testing::random_layer;

// A 2 x 4 layer, 4 bits, groups of 2: small enough to write out by hand.
QuantizedLinear tiny_layer() {
    QuantizedLinear layer;
    layer.name = "tiny";
    layer.out_features = 2;
    layer.in_features = 4;
    layer.bits = 4;
    layer.group_size = 2;
    layer.codes = {0, 15, 7, 8, 3, 4, 5, 6};
    layer.scales = {0.5f, 2.0f, -1.0f, 0.25f};
    layer.zeros = {8.0f, 0.0f, 15.0f, 1.0f};
    layer.g_idx = {0, 0, 1, 1};
    return layer;
}

TEST(QuantizedLinear, NumGroupsAndSequentialGIdx) {
    QuantizedLinear layer;
    layer.in_features = 100;
    layer.group_size = 32;
    EXPECT_EQ(layer.num_groups(), 4);  // the last group is partial, as in AutoGPTQ
    layer.group_size = -1;
    EXPECT_EQ(layer.num_groups(), 1);
    EXPECT_EQ(sequential_g_idx(5, 2), (std::vector<std::int32_t>{0, 0, 1, 1, 2}));
    EXPECT_EQ(sequential_g_idx(3, -1), (std::vector<std::int32_t>{0, 0, 0}));
}

TEST(QuantizedLinear, DequantizeByHand) {
    const std::vector<float> expected = {
        0.5f * (0 - 8),   0.5f * (15 - 8),  2.0f * (7 - 0),  2.0f * (8 - 0),
        -1.0f * (3 - 15), -1.0f * (4 - 15), 0.25f * (5 - 1), 0.25f * (6 - 1),
    };
    EXPECT_EQ(dequantize(tiny_layer()), expected);
}

TEST(QuantizedLinear, DequantizeFollowsGIdx) {
    QuantizedLinear layer = tiny_layer();
    layer.desc_act = true;
    layer.g_idx = {1, 0, 1, 0};
    const std::vector<float> weight = dequantize(layer);
    EXPECT_EQ(weight[0], 2.0f * (0 - 0));
    EXPECT_EQ(weight[1], 0.5f * (15 - 8));
    EXPECT_EQ(weight[6], 0.25f * (5 - 1));
    EXPECT_EQ(weight[7], -1.0f * (6 - 15));
}

TEST(QuantizedLinear, ScalesRoundToNearestEven) {
    QuantizedLinear layer = tiny_layer();
    layer.scales = {1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11),
                    1.0f + std::ldexp(1.0f, -8), 0.1f};
    const QuantizedLinear f16 = with_scales_rounded(layer, DType::f16);
    EXPECT_EQ(f16.scales[0], 1.0f);                         // tie to even
    EXPECT_EQ(f16.scales[1], 1.0f + std::ldexp(1.0f, -9));  // tie to even (up)
    EXPECT_EQ(f16.scales[3], f16_to_f32(f32_to_f16(0.1f)));
    const QuantizedLinear bf16 = with_scales_rounded(layer, DType::bf16);
    EXPECT_EQ(bf16.scales[2], 1.0f);  // tie to even
    EXPECT_EQ(with_scales_rounded(layer, DType::f32).scales, layer.scales);
}

TEST(QuantizedLinear, RandomLayersAreValid) {
    for (const int bits : {2, 3, 4, 8}) {
        for (const bool sym : {false, true}) {
            for (const bool desc_act : {false, true}) {
                const QuantizedLinear layer = random_layer(
                    LayerSpec{.bits = bits, .group_size = 32, .sym = sym, .desc_act = desc_act});
                const Status status = validate_quantized_linear(layer);
                EXPECT_TRUE(status.has_value()) << status.error().message;
            }
        }
    }
}

struct BadLayer {
    const char* what;
    void (*mutate)(QuantizedLinear&);
    ErrorKind kind;
    const char* message;
};

TEST(QuantizedLinear, BadLayers) {
    const BadLayer cases[] = {
        {"bits", [](QuantizedLinear& l) { l.bits = 5; }, ErrorKind::unsupported,
         "tiny: bits 5 is not supported (use 2, 3, 4 or 8)"},
        {"extent", [](QuantizedLinear& l) { l.out_features = 0; }, ErrorKind::bad_input,
         "tiny: out_features 0 and in_features 4 must be positive"},
        {"group size", [](QuantizedLinear& l) { l.group_size = 0; }, ErrorKind::bad_input,
         "tiny: group_size 0 must be positive or -1 (one group per row)"},
        {"codes size", [](QuantizedLinear& l) { l.codes.pop_back(); }, ErrorKind::bad_input,
         "tiny: codes has 7 values, expected out_features * in_features = 8"},
        {"scales size", [](QuantizedLinear& l) { l.scales.push_back(1.0f); }, ErrorKind::bad_input,
         "tiny: scales has 5 values, expected out_features * groups (groups = 2 for group_size "
         "2) = 4"},
        {"zeros size", [](QuantizedLinear& l) { l.zeros.clear(); }, ErrorKind::bad_input,
         "tiny: zeros has 0 values, expected out_features * groups (groups = 2 for group_size "
         "2) = 4"},
        {"g_idx size", [](QuantizedLinear& l) { l.g_idx.pop_back(); }, ErrorKind::bad_input,
         "tiny: g_idx has 3 values, expected in_features = 4"},
        {"code range", [](QuantizedLinear& l) { l.codes[6] = 16; }, ErrorKind::bad_input,
         "tiny: code 16 at [1, 2] does not fit in 4 bits (max 15)"},
        {"scale nan", [](QuantizedLinear& l) { l.scales[3] = NAN; }, ErrorKind::bad_input,
         "tiny: scale nan at [1, 1] is not finite"},
        {"zero fraction", [](QuantizedLinear& l) { l.zeros[1] = 2.5f; }, ErrorKind::bad_input,
         "tiny: zero point 2.5 at [0, 1] is not an integer in [0, 15]"},
        {"zero range", [](QuantizedLinear& l) { l.zeros[2] = 16.0f; }, ErrorKind::bad_input,
         "tiny: zero point 16 at [1, 0] is not an integer in [0, 15]"},
        {"sym zero", [](QuantizedLinear& l) { l.sym = true; }, ErrorKind::bad_input,
         "tiny: symmetric layer has zero point 0 at [0, 1]; a symmetric grid has every zero "
         "at 8"},
        {"g_idx range", [](QuantizedLinear& l) { l.g_idx[3] = 2; }, ErrorKind::bad_input,
         "tiny: g_idx[3] = 2 is outside [0, 2)"},
        {"g_idx order",
         [](QuantizedLinear& l) {
             l.g_idx = {1, 1, 0, 0};
         },
         ErrorKind::bad_input,
         "tiny: g_idx[0] = 1 but i / group_size = 0; without desc_act the groups are "
         "sequential (set desc_act for act-order)"},
    };
    for (const BadLayer& c : cases) {
        QuantizedLinear layer = tiny_layer();
        c.mutate(layer);
        const Status status = validate_quantized_linear(layer);
        ASSERT_FALSE(status.has_value()) << c.what;
        EXPECT_EQ(status.error().kind, c.kind) << c.what;
        EXPECT_EQ(status.error().message, c.message) << c.what;
    }
    // The unmutated layer is valid, so each case above fails for its own reason.
    EXPECT_TRUE(validate_quantized_linear(tiny_layer()).has_value());
}

TEST(PackedTensor, ViewsBorrowTheBytes) {
    PackedTensor tensor;
    tensor.name = "qweight";
    tensor.shape = {1, 2};
    tensor.bytes.resize(8);
    const std::vector<PackedTensor> tensors = {tensor};
    const LayerTensors views = views_of(tensors);
    ASSERT_EQ(views.count("qweight"), 1u);
    const TensorView& view = views.at("qweight");
    EXPECT_EQ(view.dtype, DType::i32);
    EXPECT_EQ(view.shape, (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(view.data, tensors[0].bytes.data());
    EXPECT_EQ(view.num_bytes, 8u);
}

}  // namespace
}  // namespace mcomp
