// test_compressed_linear.cpp: the rule that keeps the weight later blocks see equal to what
// the checkpoint stores (compress/compressed_linear.hpp), and format names.
#include <gtest/gtest.h>

#include <cmath>

#include "compress/compressed_linear.hpp"

namespace mcomp::compress {
namespace {

// A 4-bit asymmetric layer [2, 64], one group per row, scales that are not fp16 values.
LayerResult quantized_result() {
    LayerResult result;
    result.outputs = MC_RESULT_QUANT;
    result.out_features = 2;
    result.in_features = 64;
    result.num_groups = 1;
    result.bits = 4;
    result.group_size = -1;
    result.codes.resize(128);
    for (std::size_t i = 0; i < result.codes.size(); ++i) {
        result.codes[i] = static_cast<std::uint8_t>(i % 16);
    }
    result.scales = {0.0123456789f, 0.0987654321f};
    result.zeros = {7.0f, 3.0f};
    result.g_idx.assign(64, 0);
    result.weight.resize(128);
    for (std::size_t i = 0; i < 128; ++i) {
        const std::size_t row = i / 64;
        result.weight[i] =
            result.scales[row] * (static_cast<float>(result.codes[i]) - result.zeros[row]);
    }
    return result;
}

CompressedLinear empty_record() {
    CompressedLinear record;
    record.prefix = "model.layers.0.mlp.up_proj";
    record.out_features = 2;
    record.in_features = 64;
    return record;
}

TEST(CompressedLinear, PackedFormatsRoundScalesBeforeDequantizing) {
    CompressedLinear record = empty_record();
    const WeightPolicy policy = weight_policy_for({OutputFormat::gptq}, DType::f32);
    ASSERT_EQ(policy.scale_dtype, DType::f16);
    ASSERT_TRUE(apply_layer_result(record, quantized_result(), 0, policy).has_value());
    ASSERT_TRUE(record.quantized);
    for (std::size_t row = 0; row < 2; ++row) {
        const float scale16 = f16_to_f32(f32_to_f16(quantized_result().scales[row]));
        EXPECT_EQ(record.quant.scales[row], scale16);
        for (std::size_t col = 0; col < 64; ++col) {
            const std::size_t i = row * 64 + col;
            EXPECT_EQ(record.weight[i], scale16 * (static_cast<float>(record.quant.codes[i]) -
                                                   record.quant.zeros[row]));
        }
    }
    EXPECT_EQ(record.stages, std::vector<int>{0});
}

TEST(CompressedLinear, TechniqueWeightsDownstreamKeepFp32ScalesForLaterLayers) {
    CompressedLinear record = empty_record();
    WeightPolicy policy = weight_policy_for({OutputFormat::gptq}, DType::f32);
    policy.technique_weights_downstream = true;
    ASSERT_TRUE(apply_layer_result(record, quantized_result(), 0, policy).has_value());
    ASSERT_TRUE(record.quantized);
    EXPECT_EQ(record.weight, quantized_result().weight);  // what later layers see
    EXPECT_EQ(record.quant.scales[0], f16_to_f32(f32_to_f16(quantized_result().scales[0])));
}

TEST(CompressedLinear, DenseOutputKeepsThePluginWeight) {
    CompressedLinear record = empty_record();
    const WeightPolicy policy = weight_policy_for({OutputFormat::dense}, DType::f32);
    EXPECT_FALSE(policy.scale_dtype.has_value());
    ASSERT_TRUE(apply_layer_result(record, quantized_result(), 0, policy).has_value());
    EXPECT_FALSE(record.quantized);
    EXPECT_EQ(record.weight, quantized_result().weight);
}

TEST(CompressedLinear, Bf16DenseOutputRoundsTheWeight) {
    CompressedLinear record = empty_record();
    const WeightPolicy policy = weight_policy_for({OutputFormat::dense}, DType::bf16);
    ASSERT_TRUE(apply_layer_result(record, quantized_result(), 0, policy).has_value());
    for (std::size_t i = 0; i < record.weight.size(); ++i) {
        EXPECT_EQ(record.weight[i], bf16_to_f32(f32_to_bf16(quantized_result().weight[i])));
    }
}

TEST(CompressedLinear, CompressedTensorsAloneKeepsScalesInTheModelDtype) {
    EXPECT_EQ(weight_policy_for({OutputFormat::compressed_tensors}, DType::f32).scale_dtype,
              DType::f32);
    EXPECT_EQ(weight_policy_for({OutputFormat::compressed_tensors}, DType::bf16).scale_dtype,
              DType::bf16);
    EXPECT_EQ(weight_policy_for({OutputFormat::compressed_tensors, OutputFormat::awq}, DType::f32)
                  .scale_dtype,
              DType::f16);
}

TEST(CompressedLinear, APruningStageAfterQuantizationDropsTheCodes) {
    CompressedLinear record = empty_record();
    const WeightPolicy policy = weight_policy_for({OutputFormat::gptq}, DType::f32);
    ASSERT_TRUE(apply_layer_result(record, quantized_result(), 0, policy).has_value());
    LayerResult pruned;
    pruned.outputs = MC_RESULT_MASK;
    pruned.out_features = 2;
    pruned.in_features = 64;
    pruned.weight.assign(128, 0.0f);
    pruned.mask.assign(128, 0);
    ASSERT_TRUE(apply_layer_result(record, pruned, 1, policy).has_value());
    EXPECT_FALSE(record.quantized);
    EXPECT_TRUE(record.masked);
    EXPECT_EQ(record.zero_count(), 128);
    EXPECT_EQ(record.stages, (std::vector<int>{0, 1}));
}

TEST(CompressedLinear, InconsistentQuantizedResultIsRefused) {
    CompressedLinear record = empty_record();
    LayerResult result = quantized_result();
    result.codes[5] = 200;  // outside a 4-bit grid
    const Status status =
        apply_layer_result(record, result, 2, weight_policy_for({OutputFormat::gptq}, DType::f32));
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().kind, ErrorKind::internal);
    EXPECT_NE(status.error().message.find("stage 3: the technique returned an inconsistent "
                                          "quantized layer"),
              std::string::npos)
        << status.error().message;
}

TEST(CompressedLinear, FormatNames) {
    for (const char* name :
         {"dense", "gptq", "gptq_v2", "awq", "compressed-tensors", "sparse-24-bitmask"}) {
        Expected<OutputFormat> format = parse_output_format(name);
        ASSERT_TRUE(format.has_value()) << name;
        EXPECT_EQ(output_format_name(*format), name);
    }
    Expected<OutputFormat> bad = parse_output_format("gguf");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().message,
              "unknown output format 'gguf'; expected one of dense, gptq, gptq_v2, awq, "
              "compressed-tensors, sparse-24-bitmask");
    EXPECT_FALSE(is_packed(OutputFormat::sparse_24_bitmask));  // stores no codes
}

}  // namespace
}  // namespace mcomp::compress
