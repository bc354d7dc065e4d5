// test_formats_gptq.cpp: the GPTQ layout — hand-made packings, round trips over bits,
// symmetry, group sizes and act-order, the v1 zero wrap-around, config and bad inputs.
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

// out x in layer with codes from `code(o, i)`, one group, zero points `zero(o)`, scale 1.
template <class CodeFn, class ZeroFn>
QuantizedLinear hand_layer(std::int64_t out, std::int64_t in, int bits, CodeFn code, ZeroFn zero) {
    QuantizedLinear layer;
    layer.out_features = out;
    layer.in_features = in;
    layer.bits = bits;
    layer.group_size = -1;
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

std::vector<std::uint32_t> packed_words(const QuantizedLinear& layer, const char* name,
                                        GptqCheckpointFormat format) {
    const Expected<std::vector<PackedTensor>> tensors = pack_gptq(layer, format);
    EXPECT_TRUE(tensors.has_value()) << tensors.error().message;
    const PackedTensor* tensor = find_tensor(*tensors, name);
    EXPECT_NE(tensor, nullptr) << name;
    return words_of(*tensor);
}

TEST(GptqPack, FourBitCodesRunDownTheInputDim) {
    // 8 x 8, codes[o, i] = (o + i) % 16: column o of qweight row 0 holds 8 nibbles,
    // input 0 in the low nibble (AutoGPTQ: qweight[row] |= intweight[j] << (bits * j)).
    const QuantizedLinear layer = hand_layer(
        8, 8, 4, [](auto o, auto i) { return (o + i) % 16; }, [](auto o) { return o + 1; });
    const std::vector<std::uint32_t> qweight =
        packed_words(layer, "qweight", GptqCheckpointFormat::gptq_v2);
    ASSERT_EQ(qweight.size(), 8u);  // [8 * 4 / 32, 8]
    EXPECT_EQ(qweight[0], 0x76543210u);
    EXPECT_EQ(qweight[1], 0x87654321u);
    EXPECT_EQ(qweight[7], 0xedcba987u);
    // qzeros [1, 8 * 4 / 32] along the output dim: zeros 1..8; v1 stores 0..7.
    EXPECT_EQ(packed_words(layer, "qzeros", GptqCheckpointFormat::gptq_v2),
              (std::vector<std::uint32_t>{0x87654321u}));
    EXPECT_EQ(packed_words(layer, "qzeros", GptqCheckpointFormat::gptq),
              (std::vector<std::uint32_t>{0x76543210u}));
}

TEST(GptqPack, TwoAndEightBitWords) {
    const QuantizedLinear two = hand_layer(
        16, 16, 2, [](auto, auto i) { return i % 4; }, [](auto) { return 2; });
    EXPECT_EQ(packed_words(two, "qweight", GptqCheckpointFormat::gptq_v2)[0], 0xe4e4e4e4u);
    EXPECT_EQ(packed_words(two, "qzeros", GptqCheckpointFormat::gptq_v2)[0], 0xaaaaaaaau);
    EXPECT_EQ(packed_words(two, "qzeros", GptqCheckpointFormat::gptq)[0], 0x55555555u);
    const std::uint8_t bytes[4] = {0x12, 0x34, 0x56, 0x78};
    const QuantizedLinear eight = hand_layer(
        4, 4, 8, [&](auto, auto i) { return bytes[i]; }, [](auto o) { return 128 + o; });
    EXPECT_EQ(packed_words(eight, "qweight", GptqCheckpointFormat::gptq_v2)[0], 0x78563412u);
    EXPECT_EQ(packed_words(eight, "qzeros", GptqCheckpointFormat::gptq_v2)[0], 0x83828180u);
}

TEST(GptqPack, ThreeBitValuesStraddleWords) {
    // 32 values in 3 words: value 10 is split 2 + 1 bits over words 0 and 1, value 21
    // 1 + 2 bits over words 1 and 2 (AutoGPTQ: `intweight[i] << 30`, `(intweight[i] >> 2) & 1`,
    // `intweight[i] << 31`, `(intweight[i] >> 1) & 0x3`).
    const auto only = [](std::int64_t at) {
        return hand_layer(
            32, 32, 3, [at](auto, auto i) { return i == at ? 7 : 0; }, [](auto) { return 4; });
    };
    const auto column0 = [](const std::vector<std::uint32_t>& qweight) {
        return std::vector<std::uint32_t>{qweight[0], qweight[32], qweight[64]};
    };
    const GptqCheckpointFormat v2 = GptqCheckpointFormat::gptq_v2;
    EXPECT_EQ(column0(packed_words(only(10), "qweight", v2)),
              (std::vector<std::uint32_t>{0xc0000000u, 0x1u, 0x0u}));
    EXPECT_EQ(column0(packed_words(only(21), "qweight", v2)),
              (std::vector<std::uint32_t>{0x0u, 0x80000000u, 0x3u}));
    EXPECT_EQ(column0(packed_words(only(9), "qweight", v2)),
              (std::vector<std::uint32_t>{0x38000000u, 0x0u, 0x0u}));
    EXPECT_EQ(column0(packed_words(only(11), "qweight", v2)),
              (std::vector<std::uint32_t>{0x0u, 0xeu, 0x0u}));
    EXPECT_EQ(column0(packed_words(only(31), "qweight", v2)),
              (std::vector<std::uint32_t>{0x0u, 0x0u, 0xe0000000u}));
    // Zero points 4 everywhere, v2: the repeating 3-bit pattern 100 over 96 bits.
    EXPECT_EQ(packed_words(only(0), "qzeros", v2),
              (std::vector<std::uint32_t>{0x24924924u, 0x49249249u, 0x92492492u}));
}

TEST(GptqPack, V1WrapsZeroPointZero) {
    // zero 0 is stored as (0 - 1) mod 16 = 0xf in its own field only: the neighbours keep
    // their (zero - 1), unlike AutoGPTQ's unmasked uint32 OR that spilled into them.
    const QuantizedLinear layer = hand_layer(
        8, 8, 4, [](auto, auto) { return 0; }, [](auto o) { return o == 1 ? 0 : 5; });
    EXPECT_EQ(packed_words(layer, "qzeros", GptqCheckpointFormat::gptq),
              (std::vector<std::uint32_t>{0x444444f4u}));
    EXPECT_EQ(count_gptq_v1_zero_wraps(layer), 1);
    const Expected<std::vector<PackedTensor>> tensors =
        pack_gptq(layer, GptqCheckpointFormat::gptq);
    ASSERT_TRUE(tensors.has_value());
    const Expected<QuantizedLinear> back =
        unpack_gptq(views_of(*tensors), gptq_config_for(layer, GptqCheckpointFormat::gptq));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->zeros[1], 0.0f);
}

TEST(GptqPack, TensorsNamesDtypesShapes) {
    const QuantizedLinear layer = random_layer(LayerSpec{.bits = 3, .group_size = 32});
    const Expected<std::vector<PackedTensor>> tensors =
        pack_gptq(layer, GptqCheckpointFormat::gptq);
    ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
    ASSERT_EQ(tensors->size(), 4u);
    const std::vector<std::pair<const char*, std::vector<std::int64_t>>> expected = {
        {"qweight", {256 * 3 / 32, 64}},
        {"qzeros", {8, 64 * 3 / 32}},
        {"scales", {8, 64}},
        {"g_idx", {256}}};
    for (std::size_t k = 0; k < expected.size(); ++k) {
        EXPECT_EQ((*tensors)[k].name, expected[k].first);
        EXPECT_EQ((*tensors)[k].shape, expected[k].second) << expected[k].first;
    }
    EXPECT_EQ((*tensors)[2].dtype, DType::f16);
    EXPECT_EQ((*tensors)[3].dtype, DType::i32);
}

struct RoundTrip {
    int bits;
    int group_size;
    bool sym;
    bool desc_act;
};

class GptqRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(GptqRoundTrip, UnpackOfPackIsTheLayerWithF16Scales) {
    const RoundTrip p = GetParam();
    const QuantizedLinear layer = random_layer(LayerSpec{
        .bits = p.bits, .group_size = p.group_size, .sym = p.sym, .desc_act = p.desc_act});
    const QuantizedLinear expected = with_scales_rounded(layer, DType::f16);
    for (const GptqCheckpointFormat format :
         {GptqCheckpointFormat::gptq, GptqCheckpointFormat::gptq_v2}) {
        const Expected<std::vector<PackedTensor>> tensors = pack_gptq(layer, format);
        ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
        const GptqConfig config = gptq_config_for(layer, format);
        const LayerTensors views = views_of(*tensors);
        const Expected<QuantizedLinear> back = unpack_gptq(views, config, layer.name);
        ASSERT_TRUE(back.has_value()) << back.error().message;
        EXPECT_EQ(layer_difference(*back, expected), "");
        // The checkpoint's weight is scale16 * (code - zero), bit for bit.
        const Expected<std::vector<float>> weight = dequantize_gptq(views, config);
        ASSERT_TRUE(weight.has_value());
        EXPECT_TRUE(same_bits(*weight, dequantize(expected)));
        // Packing what came back reproduces the same bytes.
        const Expected<std::vector<PackedTensor>> again = pack_gptq(*back, format);
        ASSERT_TRUE(again.has_value());
        for (std::size_t k = 0; k < tensors->size(); ++k) {
            EXPECT_EQ((*again)[k].bytes, (*tensors)[k].bytes) << (*tensors)[k].name;
        }
    }
}

std::vector<RoundTrip> all_round_trips() {
    std::vector<RoundTrip> cases;
    for (const int bits : {2, 3, 4, 8}) {
        for (const int group_size : {-1, 32, 128}) {
            for (const bool sym : {false, true}) {
                for (const bool desc_act : {false, true}) {
                    cases.push_back({bits, group_size, sym, desc_act});
                }
            }
        }
    }
    return cases;
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, GptqRoundTrip, ::testing::ValuesIn(all_round_trips()),
                         [](const ::testing::TestParamInfo<RoundTrip>& info) {
                             const RoundTrip& p = info.param;
                             return "bits" + std::to_string(p.bits) + "_g" +
                                    (p.group_size < 0 ? std::string("row")
                                                      : std::to_string(p.group_size)) +
                                    (p.sym ? "_sym" : "_asym") + (p.desc_act ? "_actorder" : "");
                         });

TEST(GptqConfig, JsonHasTheKeysLoadersRead) {
    GptqConfig config;
    config.bits = 3;
    config.group_size = 64;
    config.sym = false;
    config.desc_act = true;
    config.checkpoint_format = GptqCheckpointFormat::gptq_v2;
    const nlohmann::json json = gptq_quantization_config(config);
    EXPECT_EQ(json.dump(),
              "{\"bits\":3,\"checkpoint_format\":\"gptq_v2\",\"damp_percent\":0.01,"
              "\"desc_act\":true,\"group_size\":64,\"lm_head\":false,\"quant_method\":\"gptq\","
              "\"static_groups\":false,\"sym\":false,\"true_sequential\":true}");
    const Expected<GptqConfig> back = parse_gptq_quantization_config(json);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->bits, 3);
    EXPECT_EQ(back->group_size, 64);
    EXPECT_FALSE(back->sym);
    EXPECT_TRUE(back->desc_act);
    EXPECT_EQ(back->checkpoint_format, GptqCheckpointFormat::gptq_v2);
}

TEST(GptqConfig, DefaultsOfAutoGptqConfigs) {
    // A minimal AutoGPTQ quantize_config.json: no sym (true), no checkpoint_format (v1).
    const Expected<GptqConfig> config = parse_gptq_quantization_config(
        nlohmann::json::parse(R"({"quant_method":"gptq","bits":4,"group_size":128})"));
    ASSERT_TRUE(config.has_value()) << config.error().message;
    EXPECT_TRUE(config->sym);
    EXPECT_FALSE(config->desc_act);
    EXPECT_EQ(config->checkpoint_format, GptqCheckpointFormat::gptq);
}

struct BadConfig {
    const char* json;
    const char* message;
};

TEST(GptqConfig, BadConfigs) {
    const BadConfig cases[] = {
        {R"({"bits":4,"group_size":128})", "quantization_config: key \"quant_method\" is missing"},
        {R"({"quant_method":"awq","bits":4,"group_size":128})",
         "quantization_config.quant_method: expected \"gptq\", found \"awq\""},
        {R"({"quant_method":"gptq","group_size":128})",
         "quantization_config: key \"bits\" is missing"},
        {R"({"quant_method":"gptq","bits":"4","group_size":128})",
         "quantization_config.bits: expected an integer, found \"4\""},
        {R"({"quant_method":"gptq","bits":5,"group_size":128})",
         "quantization_config: bits 5 is not supported (use 2, 3, 4, 8)"},
        {R"({"quant_method":"gptq","bits":4,"group_size":0})",
         "quantization_config.group_size: 0 must be positive or -1"},
        {R"({"quant_method":"gptq","bits":4,"group_size":128,"desc_act":1})",
         "quantization_config.desc_act: expected true or false, found 1"},
        {R"({"quant_method":"gptq","bits":4,"group_size":128,"checkpoint_format":"marlin"})",
         "quantization_config.checkpoint_format: \"marlin\" is not supported (mcomp reads "
         "\"gptq\" and \"gptq_v2\")"},
    };
    for (const BadConfig& c : cases) {
        const Expected<GptqConfig> config =
            parse_gptq_quantization_config(nlohmann::json::parse(c.json));
        ASSERT_FALSE(config.has_value()) << c.json;
        EXPECT_EQ(config.error().message, c.message);
    }
}

TEST(GptqPack, BadLayers) {
    QuantizedLinear three = random_layer(LayerSpec{.in_features = 40, .bits = 3});
    three.name = "m.q_proj";
    Expected<std::vector<PackedTensor>> tensors = pack_gptq(three, GptqCheckpointFormat::gptq);
    ASSERT_FALSE(tensors.has_value());
    EXPECT_EQ(tensors.error().kind, ErrorKind::unsupported);
    EXPECT_EQ(tensors.error().message,
              "m.q_proj: GPTQ packs in_features * bits into whole int32 words, but in_features "
              "40 at 3 bits is 120 bits, not a multiple of 32");
    QuantizedLinear huge = random_layer(LayerSpec{.group_size = 128});
    huge.scales[5] = 70000.0f;
    tensors = pack_gptq(huge, GptqCheckpointFormat::gptq);
    ASSERT_FALSE(tensors.has_value());
    EXPECT_EQ(tensors.error().message,
              "model.layers.0.mlp.up_proj: scale 70000 at [2, 1] overflows F16 (max 65504)");
}

TEST(GptqUnpack, BadTensors) {
    const QuantizedLinear layer = random_layer(LayerSpec{.bits = 4, .group_size = 128});
    const Expected<std::vector<PackedTensor>> packed = pack_gptq(layer, GptqCheckpointFormat::gptq);
    ASSERT_TRUE(packed.has_value());
    const GptqConfig config = gptq_config_for(layer, GptqCheckpointFormat::gptq);
    const std::string m = "model.layers.0.mlp.up_proj";
    {
        LayerTensors views = views_of(*packed);
        views.erase("qzeros");
        const auto back = unpack_gptq(views, config, m);
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error().message,
                  m + ".qzeros: tensor missing from the checkpoint (this format needs qweight, "
                      "qzeros, scales and g_idx)");
    }
    {
        LayerTensors views = views_of(*packed);
        views["qweight"].dtype = DType::f32;
        const auto back = unpack_gptq(views, config, m);
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error().message, m + ".qweight: dtype F32, expected I32");
    }
    {
        GptqConfig other = config;
        other.group_size = 64;  // the checkpoint has 2 groups, this config says 4
        const auto back = unpack_gptq(views_of(*packed), other, m);
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error().message,
                  m + ".qzeros: shape [2, 8], expected [4, 8] (from qweight [32, 64], bits 4 and "
                      "group_size 64)");
    }
    {
        LayerTensors views = views_of(*packed);
        views.erase("g_idx");  // older checkpoints: sequential groups
        const auto back = unpack_gptq(views, config, m);
        ASSERT_TRUE(back.has_value()) << back.error().message;
        EXPECT_EQ(back->g_idx, layer.g_idx);
    }
}

}  // namespace
}  // namespace mcomp
