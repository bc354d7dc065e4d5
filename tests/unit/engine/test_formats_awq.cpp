// test_formats_awq.cpp: the AWQ GEMM layout — the 0,2,4,6,1,3,5,7 nibble order, round
// trips, config and the layers AWQ cannot hold.
#include <gtest/gtest.h>

#include "engine/formats.hpp"
#include "format_test_layers.hpp"

namespace mcomp {
namespace {

using testing::find_tensor;
using testing::layer_difference;
using testing::LayerSpec;
using testing::random_layer;
using testing::same_bits;
using testing::words_of;

TEST(AwqPack, NibbleOrderAlongTheOutputDim) {
    // 16 outputs x 2 inputs, codes[o, i] = (o + i) % 16, zeros[o] = 15 - o.
    QuantizedLinear layer;
    layer.out_features = 16;
    layer.in_features = 2;
    layer.bits = 4;
    layer.group_size = -1;
    for (int o = 0; o < 16; ++o) {
        layer.codes.push_back(static_cast<std::uint8_t>(o % 16));
        layer.codes.push_back(static_cast<std::uint8_t>((o + 1) % 16));
        layer.scales.push_back(static_cast<float>(o + 1));
        layer.zeros.push_back(static_cast<float>(15 - o));
    }
    layer.g_idx = {0, 0};
    const Expected<std::vector<PackedTensor>> tensors = pack_awq(layer);
    ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
    // Nibble k of word c holds output 8c + order[k], order = 0,2,4,6,1,3,5,7
    // (AutoAWQ: qweight[:, col] |= intweight[:, col * 8 + order_map[i]] << (i * 4)).
    const PackedTensor* qweight = find_tensor(*tensors, "qweight");
    ASSERT_NE(qweight, nullptr);
    EXPECT_EQ(qweight->shape, (std::vector<std::int64_t>{2, 2}));
    EXPECT_EQ(words_of(*qweight),
              (std::vector<std::uint32_t>{0x75316420u, 0xfdb9eca8u, 0x86427531u, 0x0ecafdb9u}));
    const PackedTensor* qzeros = find_tensor(*tensors, "qzeros");
    ASSERT_NE(qzeros, nullptr);
    EXPECT_EQ(qzeros->shape, (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(words_of(*qzeros), (std::vector<std::uint32_t>{0x8ace9bdfu, 0x02461357u}));
    const PackedTensor* scales = find_tensor(*tensors, "scales");
    ASSERT_NE(scales, nullptr);
    EXPECT_EQ(scales->dtype, DType::f16);
    EXPECT_EQ(scales->shape, (std::vector<std::int64_t>{1, 16}));
    EXPECT_EQ(find_tensor(*tensors, "g_idx"), nullptr);
}

class AwqRoundTrip : public ::testing::TestWithParam<std::pair<int, bool>> {};

TEST_P(AwqRoundTrip, UnpackOfPackIsTheLayerWithF16Scales) {
    const auto [group_size, sym] = GetParam();
    const QuantizedLinear layer =
        random_layer(LayerSpec{.bits = 4, .group_size = group_size, .sym = sym});
    const Expected<std::vector<PackedTensor>> tensors = pack_awq(layer);
    ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
    const LayerTensors views = views_of(*tensors);
    const Expected<QuantizedLinear> back = unpack_awq(views, awq_config_for(layer), layer.name);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    QuantizedLinear expected = with_scales_rounded(layer, DType::f16);
    expected.sym = false;  // AWQ does not record symmetry; the zero points (8) are kept
    EXPECT_EQ(layer_difference(*back, expected), "");
    const Expected<std::vector<float>> weight = dequantize_awq(views, awq_config_for(layer));
    ASSERT_TRUE(weight.has_value());
    EXPECT_TRUE(same_bits(*weight, dequantize(expected)));
}

INSTANTIATE_TEST_SUITE_P(GroupsAndSymmetry, AwqRoundTrip,
                         ::testing::Values(std::pair{-1, false}, std::pair{32, false},
                                           std::pair{128, false}, std::pair{-1, true},
                                           std::pair{32, true}, std::pair{128, true}));

TEST(AwqPack, LayersAwqCannotHold) {
    const struct {
        LayerSpec spec;
        const char* message;
    } cases[] = {
        {LayerSpec{.bits = 3, .group_size = 32},
         "model.layers.0.mlp.up_proj: AWQ GEMM packs 4-bit codes only, this layer has 3 bits "
         "(write it as GPTQ or compressed-tensors)"},
        {LayerSpec{.out_features = 12, .group_size = 32},
         "model.layers.0.mlp.up_proj: AWQ GEMM needs out_features a multiple of 8, found 12"},
        {LayerSpec{.in_features = 96, .group_size = 64},
         "model.layers.0.mlp.up_proj: AWQ GEMM needs in_features (96) to be a multiple of "
         "group_size (64)"},
        {LayerSpec{.group_size = 32, .desc_act = true},
         "model.layers.0.mlp.up_proj: AWQ GEMM has no g_idx, so it cannot hold an act-order "
         "(desc_act) layer; write it as GPTQ or compressed-tensors"},
    };
    for (const auto& c : cases) {
        const Expected<std::vector<PackedTensor>> tensors = pack_awq(random_layer(c.spec));
        ASSERT_FALSE(tensors.has_value()) << c.message;
        EXPECT_EQ(tensors.error().kind, ErrorKind::unsupported);
        EXPECT_EQ(tensors.error().message, c.message);
    }
}

TEST(AwqConfig, JsonRoundTripAndAutoAwqKeys) {
    const nlohmann::json json = awq_quantization_config(
        AwqConfig{.bits = 4, .group_size = 64, .modules_to_not_convert = {}});
    EXPECT_EQ(json.dump(),
              "{\"bits\":4,\"group_size\":64,\"modules_to_not_convert\":null,\"quant_method\":"
              "\"awq\",\"version\":\"gemm\",\"zero_point\":true}");
    const Expected<AwqConfig> back = parse_awq_quantization_config(json);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->group_size, 64);
    // AutoAWQ's own quant_config.json names: w_bit, q_group_size, version "GEMM".
    const Expected<AwqConfig> autoawq = parse_awq_quantization_config(nlohmann::json::parse(
        R"({"zero_point":true,"q_group_size":128,"w_bit":4,"version":"GEMM"})"));
    ASSERT_TRUE(autoawq.has_value()) << autoawq.error().message;
    EXPECT_EQ(autoawq->group_size, 128);
}

TEST(AwqConfig, BadConfigs) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"quant_method":"awq","bits":4,"group_size":128,"zero_point":true,"version":"gemv"})",
         "quantization_config.version: \"gemv\" is not supported (mcomp reads AWQ \"gemm\")"},
        {R"({"quant_method":"awq","bits":4,"group_size":128,"zero_point":false})",
         "quantization_config.zero_point: AWQ GEMM without zero points is not supported (mcomp "
         "reads zero_point true)"},
        {R"({"quant_method":"awq","bits":8,"group_size":128,"zero_point":true})",
         "quantization_config: bits 8 is not supported (use 4)"},
        {R"({"quant_method":"awq","bits":4,"zero_point":true})",
         "quantization_config: key \"group_size\" (or \"q_group_size\") is missing"},
    };
    for (const auto& [text, message] : cases) {
        const Expected<AwqConfig> config =
            parse_awq_quantization_config(nlohmann::json::parse(text));
        ASSERT_FALSE(config.has_value()) << text;
        EXPECT_EQ(config.error().message, message);
    }
}

TEST(AwqUnpack, ScalesMustMatchTheGroups) {
    const QuantizedLinear layer = random_layer(LayerSpec{.bits = 4, .group_size = 128});
    const Expected<std::vector<PackedTensor>> tensors = pack_awq(layer);
    ASSERT_TRUE(tensors.has_value());
    const Expected<QuantizedLinear> back =
        unpack_awq(views_of(*tensors),
                   AwqConfig{.bits = 4, .group_size = 32, .modules_to_not_convert = {}}, "m");
    ASSERT_FALSE(back.has_value());
    EXPECT_EQ(back.error().message,
              "m.qzeros: shape [2, 8], expected [8, 8] (from qweight [256, 8] and group_size 32)");
}

}  // namespace
}  // namespace mcomp
