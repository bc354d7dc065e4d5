// test_layer_runner.cpp: the layer runner drives the test plugins' layer techniques through
// create / begin_layer / observe / plan_result / finish_layer / destroy — results checked
// exactly, failures of each call reported with the plugin's message, exceptions contained,
// cancellation honoured.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "core/layer_runner.hpp"
#include "core/registry.hpp"

namespace mcomp {
namespace {

const Registry& registry() {
    static const Registry* instance =
        new Registry({std::filesystem::canonical(MCOMP_TEST_PLUGIN_DIR)});
    return *instance;
}

LoadedTechnique technique(const char* id) {
    Expected<LoadedTechnique> loaded = registry().load_technique(id, DeviceRequest::cpu);
    EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().message);
    return *loaded;
}

OwnedParams params(const LoadedTechnique& t, const std::vector<ParamArg>& args) {
    Expected<OwnedParams> bound = bind_params(*t.manifest, args);
    EXPECT_TRUE(bound) << (bound ? "" : bound.error().message);
    return bound ? *bound : OwnedParams();
}

// A 3x4 layer and two calibration batches of 5 and 3 rows.
struct SmallLayer {
    std::vector<float> weight = {0.1f,  -0.7f, 0.5f, 2.0f,  -0.2f, 0.6f,
                                 -1.5f, 0.0f,  0.4f, -0.4f, 0.9f,  -3.0f};
    std::vector<float> batch0 = std::vector<float>(5 * 4, 1.0f);
    std::vector<float> batch1 = std::vector<float>(3 * 4, -1.0f);
    LayerInput input() const {
        LayerInput in;
        in.name = "model.layers.0.mlp.down_proj";
        in.out_features = 3;
        in.in_features = 4;
        in.weight = weight;
        in.batches = {batch0, batch1};
        return in;
    }
};

TEST(LayerRunner, ScaleAndThresholdExactly) {
    const LoadedTechnique scale = technique("tp_scale");
    const SmallLayer layer;
    Expected<LayerResult> result = run_layer(
        scale,
        params(scale,
               {{"scale", 2.0, ""}, {"threshold", 0.5, ""}, {"expect_tokens", int64_t{8}, ""}}),
        layer.input());
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outputs, static_cast<uint32_t>(MC_RESULT_MASK));
    EXPECT_TRUE(result->has_mask());
    EXPECT_FALSE(result->has_quant());
    EXPECT_EQ(result->out_features, 3);
    EXPECT_EQ(result->in_features, 4);
    EXPECT_EQ(result->mask, (std::vector<uint8_t>{0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1}));
    EXPECT_EQ(result->weight, (std::vector<float>{0.0f, -1.4f, 1.0f, 4.0f, 0.0f, 1.2f, -3.0f, 0.0f,
                                                  0.0f, 0.0f, 1.8f, -6.0f}));
    EXPECT_TRUE(result->codes.empty());
    EXPECT_TRUE(result->scales.empty());
}

TEST(LayerRunner, ObserveSeesEveryBatch) {
    const LoadedTechnique scale = technique("tp_scale");
    const SmallLayer layer;
    Expected<LayerResult> result =
        run_layer(scale, params(scale, {{"expect_tokens", int64_t{9}, ""}}), layer.input());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message,
              "plugin 'tp_good' technique 'tp_scale': finish_layer failed with "
              "MC_ERR_INVALID_ARGUMENT: observe saw 8 rows, expected 9");
}

TEST(LayerRunner, QuantizerWithoutInputsIsNotObserved) {
    const LoadedTechnique quant = technique("tp_quant");
    const SmallLayer layer;  // has batches; tp_quant's observe() would fail if called
    Expected<LayerResult> result =
        run_layer(quant, params(quant, {{"bits", int64_t{3}, ""}, {"group_size", int64_t{2}, ""}}),
                  layer.input());
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_TRUE(result->has_quant());
    EXPECT_FALSE(result->has_mask());
    EXPECT_EQ(result->num_groups, 2);
    EXPECT_EQ(result->bits, 3);
    EXPECT_EQ(result->group_size, 2);
    EXPECT_EQ(result->codes.size(), 12u);
    EXPECT_EQ(result->scales.size(), 6u);
    EXPECT_EQ(result->zeros.size(), 6u);
    EXPECT_EQ(result->g_idx, (std::vector<int32_t>{0, 0, 1, 1}));
    for (size_t i = 0; i < 12; ++i) {
        const size_t group = (i / 4) * 2 + (i % 4) / 2;
        const float s = result->scales[group];
        EXPECT_LE(result->codes[i], 7);
        EXPECT_FLOAT_EQ(result->weight[i], (result->codes[i] - result->zeros[group]) * s);
        EXPECT_LE(std::fabs(result->weight[i] - layer.weight[i]), s / 2 + 1e-6f) << i;
    }
}

TEST(LayerRunner, OneInstanceManyLayers) {
    const LoadedTechnique scale = technique("tp_scale");
    Expected<std::unique_ptr<LayerTechniqueInstance>> instance =
        LayerTechniqueInstance::create(scale, params(scale, {{"scale", 3.0, ""}}));
    ASSERT_TRUE(instance) << instance.error().message;
    EXPECT_TRUE((*instance)->needs_inputs());
    const SmallLayer small;
    std::vector<float> wide(2 * 6, 1.0f);
    std::vector<float> batch(6, 0.5f);
    LayerInput second;
    second.name = "second";
    second.out_features = 2;
    second.in_features = 6;
    second.weight = wide;
    second.batches = {batch};
    Expected<LayerResult> a = (*instance)->run(small.input());
    Expected<LayerResult> b = (*instance)->run(second);
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_FLOAT_EQ(a->weight[3], 6.0f);
    EXPECT_EQ(b->weight, std::vector<float>(12, 3.0f));
}

struct FailCase {
    const char* function;
};

void PrintTo(const FailCase& c, std::ostream* os) {
    *os << c.function;
}

class LayerRunnerFails : public ::testing::TestWithParam<FailCase> {};

TEST_P(LayerRunnerFails, InEachCallWithThePluginsMessage) {
    const LoadedTechnique scale = technique("tp_scale");
    const std::string function = GetParam().function;
    Expected<LayerResult> result =
        run_layer(scale, params(scale, {{"fail_in", function, ""}}), SmallLayer().input());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(result.error().message,
              "plugin 'tp_good' technique 'tp_scale': " + function +
                  " failed with MC_ERR_INVALID_ARGUMENT: asked to fail in " + function);
}

INSTANTIATE_TEST_SUITE_P(Calls, LayerRunnerFails,
                         ::testing::Values(FailCase{"create"}, FailCase{"begin_layer"},
                                           FailCase{"observe"}, FailCase{"plan_result"},
                                           FailCase{"finish_layer"}),
                         [](const auto& info) { return std::string(info.param.function); });

TEST(LayerRunner, ExceptionsAreContained) {
    const SmallLayer layer;
    const LoadedTechnique guarded = technique("tp_throw_guarded");
    Expected<LayerResult> by_helper = run_layer(guarded, params(guarded, {}), layer.input());
    ASSERT_FALSE(by_helper);
    EXPECT_EQ(by_helper.error().message,
              "plugin 'tp_throws' technique 'tp_throw_guarded': finish_layer failed with "
              "MC_ERR_INTERNAL: finish_layer: boom in finish_layer");

    const LoadedTechnique raw = technique("tp_throw_raw");
    Expected<LayerResult> by_host = run_layer(raw, params(raw, {}), layer.input());
    ASSERT_FALSE(by_host);
    EXPECT_EQ(by_host.error().kind, ErrorKind::internal);
    EXPECT_EQ(by_host.error().message,
              "plugin 'tp_throws' technique 'tp_throw_raw': begin_layer let a C++ exception "
              "escape (std::logic_error: raw boom); a plugin must return an mc_status instead, "
              "so this is a bug in the plugin");
}

TEST(LayerRunner, BlockTechniquesAreRefused) {
    const LoadedTechnique block = technique("tp_block");
    Expected<LayerResult> result = run_layer(block, params(block, {}), SmallLayer().input());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::unsupported);
    EXPECT_EQ(result.error().message,
              "plugin 'tp_good' technique 'tp_block' has block granularity; the layer runner "
              "runs layer techniques only");
}

TEST(LayerRunner, RefusesMalformedInput) {
    const LoadedTechnique scale = technique("tp_scale");
    const OwnedParams defaults = params(scale, {});
    const SmallLayer layer;
    std::vector<float> short_weight(5, 0.0f);
    std::vector<float> odd_batch(7, 0.0f);
    struct Case {
        LayerInput input;
        std::string message;
    };
    std::vector<Case> cases(3, Case{layer.input(), ""});
    cases[0].input.weight = short_weight;
    cases[0].message =
        "layer 'model.layers.0.mlp.down_proj': the weight has 5 values, expected 3 "
        "x 4 = 12";
    cases[1].input.batches.push_back(odd_batch);
    cases[1].message =
        "layer 'model.layers.0.mlp.down_proj': calibration batch 2 has 7 values, "
        "expected a positive multiple of in_features = 4";
    cases[2].input.in_features = 0;
    cases[2].message =
        "layer 'model.layers.0.mlp.down_proj': expected positive out/in features, "
        "found [3, 0]";
    for (const Case& c : cases) {
        Expected<LayerResult> result = run_layer(scale, defaults, c.input);
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(result.error().message, c.message);
    }
}

TEST(LayerRunner, CancellationReachesThePlugin) {
    const LoadedTechnique scale = technique("tp_scale");
    request_cancel();
    Expected<LayerResult> result = run_layer(scale, params(scale, {}), SmallLayer().input());
    reset_cancel();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::cancelled);
    EXPECT_EQ(result.error().message,
              "plugin 'tp_good' technique 'tp_scale': begin_layer failed with MC_ERR_CANCELLED: "
              "cancelled by the user");
}

TEST(LayerRunner, CtrlCDuringACall) {
    const LoadedTechnique scale = technique("tp_scale");
    install_sigint_handler();
    Expected<LayerResult> result =
        run_layer(scale, params(scale, {{"raise_sigint", true, ""}}), SmallLayer().input());
    EXPECT_TRUE(cancel_requested());
    reset_cancel();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::cancelled);
}

}  // namespace
}  // namespace mcomp
