// test_layer_session.cpp: a technique driven call by call (compress/layer_session.hpp) gives
// what the core layer runner gives for the same weight and batches.
#include <gtest/gtest.h>

#include <random>

#include "compress/layer_session.hpp"
#include "compress_test_util.hpp"
#include "core/layer_runner.hpp"
#include "core/params.hpp"

namespace mcomp::compress {
namespace {

std::vector<float> random_values(std::size_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> values(count);
    for (float& value : values) {
        value = normal(rng);
    }
    return values;
}

void expect_same(const LayerResult& a, const LayerResult& b) {
    EXPECT_EQ(a.outputs, b.outputs);
    EXPECT_EQ(a.weight, b.weight);
    EXPECT_EQ(a.mask, b.mask);
    EXPECT_EQ(a.codes, b.codes);
    EXPECT_EQ(a.scales, b.scales);
    EXPECT_EQ(a.zeros, b.zeros);
    EXPECT_EQ(a.g_idx, b.g_idx);
    EXPECT_EQ(a.bits, b.bits);
}

class LayerSessionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LayerSessionTest, MatchesTheLayerRunner) {
    const Registry& registry = test::test_registry();
    Expected<LoadedTechnique> technique = registry.load_technique(GetParam(), DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value()) << technique.error().message;
    Expected<OwnedParams> params = bind_params(*technique->manifest, {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    const std::int64_t out = 16;
    const std::int64_t in = 128;
    const std::vector<float> weight = random_values(static_cast<std::size_t>(out * in), 1);
    std::vector<std::vector<float>> batches;
    for (unsigned b = 0; b < 3; ++b) {
        batches.push_back(random_values(static_cast<std::size_t>(10 * in), 10 + b));
    }
    LayerInput input;
    input.name = "model.layers.0.mlp.up_proj";
    input.out_features = out;
    input.in_features = in;
    input.weight = weight;
    for (const auto& batch : batches) {
        input.batches.emplace_back(batch);
    }
    Expected<LayerResult> expected = run_layer(*technique, *params, input);
    ASSERT_TRUE(expected.has_value()) << expected.error().message;

    Expected<std::unique_ptr<LayerSession>> session = LayerSession::create(*technique, *params);
    ASSERT_TRUE(session.has_value()) << session.error().message;
    ASSERT_TRUE((*session)->begin(input.name, 0, out, in, weight).has_value());
    if ((*session)->needs_inputs()) {
        for (const auto& batch : batches) {
            ASSERT_TRUE((*session)->observe(batch.data(), 10).has_value());
        }
    }
    Expected<LayerResult> result = (*session)->finish();
    ASSERT_TRUE(result.has_value()) << result.error().message;
    expect_same(*result, *expected);
    // The session is reusable for the next layer, as an instance is.
    ASSERT_TRUE((*session)->begin(input.name, 0, out, in, weight).has_value());
    EXPECT_TRUE((*session)->finish().has_value());
}

INSTANTIATE_TEST_SUITE_P(Techniques, LayerSessionTest,
                         ::testing::Values("rtn", "magnitude", "probe", "ternary"));

TEST(LayerSession, ProbeSeesEveryBatch) {
    Expected<LoadedTechnique> technique =
        test::test_registry().load_technique("probe", DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value()) << technique.error().message;
    Expected<OwnedParams> params = bind_params(*technique->manifest, {});
    ASSERT_TRUE(params.has_value());
    Expected<std::unique_ptr<LayerSession>> session = LayerSession::create(*technique, *params);
    ASSERT_TRUE(session.has_value());
    EXPECT_TRUE((*session)->needs_inputs());
    const std::vector<float> weight(8 * 4, 1.0f);
    ASSERT_TRUE((*session)->begin("layer", 0, 8, 4, weight).has_value());
    const std::vector<float> batch(5 * 4, 0.25f);
    ASSERT_TRUE((*session)->observe(batch.data(), 5).has_value());
    ASSERT_TRUE((*session)->observe(batch.data(), 2).has_value());
    Expected<LayerResult> result = (*session)->finish();
    ASSERT_TRUE(result.has_value());
    EXPECT_FLOAT_EQ(result->weight[0], 0.25f * 7 * 4);  // sum of inputs
    EXPECT_EQ(result->weight[1], 2.0f);                 // observe calls
    EXPECT_EQ(result->weight[2], 7.0f);                 // tokens
    EXPECT_EQ(result->weight[3], 0.5f);                 // scale * 1
}

TEST(LayerSession, MisuseIsAnInternalError) {
    Expected<LoadedTechnique> technique =
        test::test_registry().load_technique("rtn", DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value());
    Expected<OwnedParams> params = bind_params(*technique->manifest, {});
    Expected<std::unique_ptr<LayerSession>> session = LayerSession::create(*technique, *params);
    ASSERT_TRUE(session.has_value());
    Expected<LayerResult> result = (*session)->finish();
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message, "plugin 'rtn' technique 'rtn': finish without begin");
    const std::vector<float> weight(6, 1.0f);
    const Status begun = (*session)->begin("x", 0, 2, 4, weight);
    ASSERT_FALSE(begun.has_value());
    EXPECT_EQ(begun.error().message, "layer 'x': the weight has 6 values, expected 2 x 4");
    // The device entry points belong to GPU sessions only.
    EXPECT_FALSE((*session)->on_gpu());
    const std::vector<float> good(8, 1.0f);
    const Status on_device = (*session)->begin_device("x", 0, 2, 4, good.data());
    ASSERT_FALSE(on_device.has_value());
    EXPECT_EQ(on_device.error().message,
              "plugin 'rtn' technique 'rtn': layer 'x': device begin on the CPU or without a "
              "weight");
    ASSERT_TRUE((*session)->begin("x", 0, 2, 4, good).has_value());
    const Status observed = (*session)->observe_device(good.data(), 2);
    ASSERT_FALSE(observed.has_value());
    EXPECT_EQ(observed.error().message,
              "plugin 'rtn' technique 'rtn': device observe on layer 'x' without begin, with 2 "
              "tokens or on the CPU");
    // A quantized result asked for without its weight comes with the codes alone.
    Expected<LayerResult> codes_only = (*session)->finish(false);
    ASSERT_TRUE(codes_only.has_value()) << codes_only.error().message;
    EXPECT_TRUE(codes_only->weight.empty());
    EXPECT_EQ(codes_only->codes.size(), 8u);
}

}  // namespace
}  // namespace mcomp::compress
