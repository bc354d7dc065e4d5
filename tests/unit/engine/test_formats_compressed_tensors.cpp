// test_formats_compressed_tensors.cpp: the compressed-tensors pack-quantized layout —
// pack_to_int32's word layout and padding, zero points along the output dim, round trips
// with F16 / BF16 / F32 scales, act-order g_idx, config and bad inputs.
#include <gtest/gtest.h>

#include <cstring>

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

// out x in, one group per row, scale 1; codes and zeros from the functions.
template <class CodeFn, class ZeroFn>
QuantizedLinear hand_layer(std::int64_t out, std::int64_t in, int bits, bool sym, CodeFn code,
                           ZeroFn zero) {
    QuantizedLinear layer;
    layer.out_features = out;
    layer.in_features = in;
    layer.bits = bits;
    layer.group_size = -1;
    layer.sym = sym;
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t i = 0; i < in; ++i) {
            layer.codes.push_back(static_cast<std::uint8_t>(code(o, i)));
        }
        layer.scales.push_back(1.0f);
        layer.zeros.push_back(static_cast<float>(zero(o)));
    }
    layer.g_idx = sequential_g_idx(in, -1);
    return layer;
}

std::vector<PackedTensor> pack(const QuantizedLinear& layer, DType scale_dtype = DType::f16) {
    const Expected<std::vector<PackedTensor>> tensors = pack_compressed_tensors(layer, scale_dtype);
    EXPECT_TRUE(tensors.has_value()) << tensors.error().message;
    return tensors.has_value() ? *tensors : std::vector<PackedTensor>{};
}

TEST(CompressedTensorsPack, DocstringExample) {
    // pack_to_int32's docstring: num_bits 8, signed [1, 2] -> +128 -> [129, 130] -> 33409.
    const QuantizedLinear layer = hand_layer(
        1, 2, 8, true, [](auto, auto i) { return 129 + i; }, [](auto) { return 128; });
    const std::vector<PackedTensor> tensors = pack(layer);
    const PackedTensor* packed = find_tensor(tensors, "weight_packed");
    ASSERT_NE(packed, nullptr);
    EXPECT_EQ(packed->shape, (std::vector<std::int64_t>{1, 1}));
    EXPECT_EQ(words_of(*packed), (std::vector<std::uint32_t>{33409u}));
}

TEST(CompressedTensorsPack, WordsArePaddedPerRow) {
    // 4 bits, in 10: eight codes in word 0, two in word 1, the rest zero padding.
    const QuantizedLinear four = hand_layer(
        2, 10, 4, true, [](auto o, auto i) { return (o + i) % 16; }, [](auto) { return 8; });
    const std::vector<PackedTensor> tensors = pack(four);
    const PackedTensor* packed = find_tensor(tensors, "weight_packed");
    ASSERT_NE(packed, nullptr);
    EXPECT_EQ(packed->shape, (std::vector<std::int64_t>{2, 2}));
    EXPECT_EQ(words_of(*packed),
              (std::vector<std::uint32_t>{0x76543210u, 0x98u, 0x87654321u, 0xa9u}));
    EXPECT_EQ(find_tensor(tensors, "weight_zero_point"), nullptr);  // symmetric
    // 3 bits: 32 // 3 = 10 values per word, the top 2 bits unused.
    const QuantizedLinear three = hand_layer(
        1, 11, 3, true, [](auto, auto) { return 7; }, [](auto) { return 4; });
    EXPECT_EQ(words_of(*find_tensor(pack(three), "weight_packed")),
              (std::vector<std::uint32_t>{0x3fffffffu, 0x7u}));
}

TEST(CompressedTensorsPack, ZeroPointsPackAlongTheOutputDim) {
    const QuantizedLinear layer = hand_layer(
        9, 8, 4, false, [](auto, auto) { return 0; }, [](auto o) { return o + 1; });
    const std::vector<PackedTensor> tensors = pack(layer);
    const PackedTensor* zeros = find_tensor(tensors, "weight_zero_point");
    ASSERT_NE(zeros, nullptr);
    EXPECT_EQ(zeros->shape, (std::vector<std::int64_t>{2, 1}));  // [ceil(9 / 8), groups]
    EXPECT_EQ(words_of(*zeros), (std::vector<std::uint32_t>{0x87654321u, 0x9u}));
    const PackedTensor* shape = find_tensor(tensors, "weight_shape");
    ASSERT_NE(shape, nullptr);
    EXPECT_EQ(shape->dtype, DType::i64);
    EXPECT_EQ(shape->shape, (std::vector<std::int64_t>{2}));
    std::int64_t extents[2] = {0, 0};
    std::memcpy(extents, shape->bytes.data(), sizeof extents);
    EXPECT_EQ(extents[0], 9);
    EXPECT_EQ(extents[1], 8);
}

struct RoundTrip {
    int bits;
    int group_size;
    bool sym;
    bool desc_act;
    DType scale_dtype;
};

class CompressedTensorsRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(CompressedTensorsRoundTrip, UnpackOfPackIsTheLayerWithRoundedScales) {
    const RoundTrip p = GetParam();
    // out 60, in 200: neither a multiple of the values per word, so padding is exercised.
    const QuantizedLinear layer = random_layer(LayerSpec{.out_features = 60,
                                                         .in_features = 200,
                                                         .bits = p.bits,
                                                         .group_size = p.group_size,
                                                         .sym = p.sym,
                                                         .desc_act = p.desc_act});
    const std::vector<PackedTensor> tensors = pack(layer, p.scale_dtype);
    ASSERT_FALSE(tensors.empty());
    EXPECT_EQ(find_tensor(tensors, "weight_scale")->dtype, p.scale_dtype);
    EXPECT_EQ(find_tensor(tensors, "weight_g_idx") != nullptr, p.desc_act);
    const CompressedTensorsConfig config = compressed_tensors_config_for(layer);
    const LayerTensors views = views_of(tensors);
    const Expected<QuantizedLinear> back = unpack_compressed_tensors(views, config, layer.name);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    const QuantizedLinear expected = with_scales_rounded(layer, p.scale_dtype);
    EXPECT_EQ(layer_difference(*back, expected), "");
    const Expected<std::vector<float>> weight = dequantize_compressed_tensors(views, config);
    ASSERT_TRUE(weight.has_value());
    EXPECT_TRUE(same_bits(*weight, dequantize(expected)));
}

std::vector<RoundTrip> all_round_trips() {
    std::vector<RoundTrip> cases;
    for (const int bits : {2, 3, 4, 8}) {
        for (const int group_size : {-1, 32, 128}) {
            for (const bool sym : {false, true}) {
                for (const bool desc_act : {false, true}) {
                    cases.push_back({bits, group_size, sym, desc_act, DType::f16});
                }
            }
        }
    }
    cases.push_back({4, 32, false, false, DType::bf16});
    cases.push_back({4, 128, true, true, DType::f32});
    return cases;
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, CompressedTensorsRoundTrip,
                         ::testing::ValuesIn(all_round_trips()),
                         [](const ::testing::TestParamInfo<RoundTrip>& info) {
                             const RoundTrip& p = info.param;
                             return "bits" + std::to_string(p.bits) + "_g" +
                                    (p.group_size < 0 ? std::string("row")
                                                      : std::to_string(p.group_size)) +
                                    (p.sym ? "_sym" : "_asym") + (p.desc_act ? "_actorder_" : "_") +
                                    std::string(dtype_name(p.scale_dtype));
                         });

TEST(CompressedTensorsConfig, JsonRoundTrip) {
    CompressedTensorsConfig config;
    config.bits = 4;
    config.group_size = 128;
    config.sym = false;
    config.desc_act = true;
    const nlohmann::json json = compressed_tensors_quantization_config(config);
    EXPECT_EQ(json["quant_method"], "compressed-tensors");
    EXPECT_EQ(json["format"], "pack-quantized");
    const nlohmann::json& weights = json["config_groups"]["group_0"]["weights"];
    EXPECT_EQ(weights.dump(),
              "{\"actorder\":\"group\",\"block_structure\":null,\"dynamic\":false,"
              "\"group_size\":128,\"num_bits\":4,\"observer\":\"minmax\",\"observer_kwargs\":{},"
              "\"strategy\":\"group\",\"symmetric\":false,\"type\":\"int\"}");
    const Expected<CompressedTensorsConfig> back =
        parse_compressed_tensors_quantization_config(json);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->bits, 4);
    EXPECT_EQ(back->group_size, 128);
    EXPECT_FALSE(back->sym);
    EXPECT_TRUE(back->desc_act);
    EXPECT_EQ(back->ignore, (std::vector<std::string>{"lm_head"}));
    config.group_size = -1;
    config.desc_act = false;
    const nlohmann::json channel = compressed_tensors_quantization_config(config);
    EXPECT_EQ(channel["config_groups"]["group_0"]["weights"]["strategy"], "channel");
    EXPECT_TRUE(channel["config_groups"]["group_0"]["weights"]["group_size"].is_null());
    const Expected<CompressedTensorsConfig> channel_back =
        parse_compressed_tensors_quantization_config(channel);
    ASSERT_TRUE(channel_back.has_value()) << channel_back.error().message;
    EXPECT_EQ(channel_back->group_size, -1);
    EXPECT_FALSE(channel_back->desc_act);
}

TEST(CompressedTensorsConfig, BadConfigs) {
    const std::string ok_group =
        R"("config_groups":{"g":{"targets":["Linear"],"weights":{"num_bits":4,"type":"int",)"
        R"("symmetric":true,"strategy":"group","group_size":128}}})";
    const std::pair<std::string, const char*> cases[] = {
        {R"({"quant_method":"compressed-tensors","format":"float-quantized",)" + ok_group + "}",
         "quantization_config.format: \"float-quantized\" is not supported (mcomp reads "
         "\"pack-quantized\")"},
        {R"({"quant_method":"compressed-tensors","format":"pack-quantized"})",
         "quantization_config: key \"config_groups\" is missing or empty"},
        {R"({"quant_method":"compressed-tensors","format":"pack-quantized","config_groups":)"
         R"({"a":{"weights":{}},"b":{"weights":{}}}})",
         "quantization_config.config_groups: 2 groups; mcomp reads one scheme per checkpoint"},
        {R"({"quant_method":"compressed-tensors","format":"pack-quantized","config_groups":)"
         R"({"g":{"weights":{"num_bits":4,"strategy":"tensor"}}}})",
         "quantization_config.config_groups.g.weights.strategy: \"tensor\" is not supported "
         "(mcomp reads \"group\" and \"channel\")"},
        {R"({"quant_method":"compressed-tensors","format":"pack-quantized","config_groups":)"
         R"({"g":{"weights":{"num_bits":4,"type":"float","strategy":"group"}}}})",
         "quantization_config.config_groups.g.weights.type: \"float\" is not supported (mcomp "
         "reads \"int\")"},
        {R"({"quant_method":"compressed-tensors","format":"pack-quantized","config_groups":)"
         R"({"g":{"weights":{"num_bits":4},"input_activations":{"num_bits":8}}}})",
         "quantization_config.config_groups.g.input_activations: activation quantization is "
         "not supported (mcomp reads weight-only schemes)"},
        {R"({"quant_method":"compressed-tensors","format":"pack-quantized","config_groups":)"
         R"({"g":{"weights":{"num_bits":4,"strategy":"group","group_size":32,"actorder":"dynamic"}}}})",
         "quantization_config.config_groups.g.weights.actorder: expected null, \"group\" or "
         "\"weight\", found \"dynamic\""},
    };
    for (const auto& [text, message] : cases) {
        const Expected<CompressedTensorsConfig> config =
            parse_compressed_tensors_quantization_config(nlohmann::json::parse(text));
        ASSERT_FALSE(config.has_value()) << text;
        EXPECT_EQ(config.error().message, message);
    }
}

TEST(CompressedTensorsUnpack, BadTensors) {
    const QuantizedLinear layer = random_layer(LayerSpec{.bits = 4, .group_size = 128});
    const std::vector<PackedTensor> tensors = pack(layer);
    const CompressedTensorsConfig config = compressed_tensors_config_for(layer);
    {
        LayerTensors views = views_of(tensors);
        views.erase("weight_zero_point");
        const auto back = unpack_compressed_tensors(views, config, "m");
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error().message,
                  "m.weight_zero_point: tensor missing from the checkpoint (this format needs "
                  "weight_zero_point when asymmetric)");
    }
    {
        CompressedTensorsConfig other = config;
        other.bits = 8;
        const auto back = unpack_compressed_tensors(views_of(tensors), other, "m");
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error().message,
                  "m.weight_packed: shape [64, 32], expected [64, 64] (from weight_shape [64, "
                  "256], num_bits 8 and group_size 128)");
    }
    const Expected<std::vector<PackedTensor>> bad = pack_compressed_tensors(layer, DType::i32);
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().message,
              "model.layers.0.mlp.up_proj: compressed-tensors scales in I32 are not supported "
              "(use F16, BF16 or F32)");
}

}  // namespace
}  // namespace mcomp
