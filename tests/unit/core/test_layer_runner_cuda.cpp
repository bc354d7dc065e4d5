// test_layer_runner_cuda.cpp: the layer runner's device path — a CUDA instance gets a stream,
// device copies of the weight and batches, pool allocations for the outputs, and its results
// copied back — through the CUDA-only test plugin tp_cuda. Skips without a GPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/layer_runner.hpp"
#include "core/registry.hpp"

namespace mcomp {
namespace {

class LayerRunnerCuda : public ::testing::Test {
  protected:
    void SetUp() override {
        const CudaProbe& cuda = probe_cuda();
        if (!cuda.available()) {
            GTEST_SKIP() << "CUDA is not usable here: " << cuda.detail;
        }
        registry_ = std::make_unique<Registry>(
            std::vector<std::filesystem::path>{std::filesystem::canonical(MCOMP_TEST_PLUGIN_DIR)});
    }
    std::unique_ptr<Registry> registry_;
};

TEST_F(LayerRunnerCuda, RunsOnTheDevice) {
    Expected<LoadedTechnique> technique =
        registry_->load_technique("tp_cuda_scale", DeviceRequest::auto_select);
    ASSERT_TRUE(technique) << technique.error().message;
    EXPECT_EQ(technique->device(), DeviceKind::cuda);  // auto takes the GPU

    const int64_t rows = 37;
    const int64_t cols = 300;  // not a multiple of the kernel's block size
    std::vector<float> weight(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < weight.size(); ++i) {
        weight[i] = static_cast<float>(i % 101) * 0.25f - 12.0f;
    }
    std::vector<float> batch0(static_cast<size_t>(7 * cols), 1.0f);
    std::vector<float> batch1(static_cast<size_t>(2 * cols), 2.0f);
    LayerInput input;
    input.out_features = rows;
    input.in_features = cols;
    input.weight = weight;
    input.batches = {batch0, batch1};

    Expected<OwnedParams> params =
        bind_params(*technique->manifest, {{"scale", 3.0, ""}, {"expect_tokens", int64_t{9}, ""}});
    ASSERT_TRUE(params) << params.error().message;
    Expected<std::unique_ptr<LayerTechniqueInstance>> instance =
        LayerTechniqueInstance::create(*technique, *params);
    ASSERT_TRUE(instance) << instance.error().message;
    for (int layer = 0; layer < 3; ++layer) {  // the instance, stream and pool are reused
        Expected<LayerResult> result = (*instance)->run(input);
        ASSERT_TRUE(result) << result.error().message;
        ASSERT_EQ(result->weight.size(), weight.size());
        for (size_t i = 0; i < weight.size(); ++i) {
            ASSERT_EQ(result->weight[i], weight[i] * 3.0f) << i;
        }
        EXPECT_EQ(result->mask, std::vector<uint8_t>(weight.size(), 1));
    }
}

TEST_F(LayerRunnerCuda, DeviceFailuresAreReported) {
    Expected<LoadedTechnique> technique =
        registry_->load_technique("tp_cuda_scale", DeviceRequest::cuda);
    ASSERT_TRUE(technique) << technique.error().message;
    std::vector<float> weight(16, 1.0f);
    std::vector<float> batch(4, 1.0f);
    LayerInput input;
    input.out_features = 4;
    input.in_features = 4;
    input.weight = weight;
    input.batches = {batch};
    Expected<LayerResult> result = run_layer(
        *technique, *bind_params(*technique->manifest, {{"expect_tokens", int64_t{2}, ""}}), input);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message,
              "plugin 'tp_cuda' technique 'tp_cuda_scale': finish_layer failed with "
              "MC_ERR_INVALID_ARGUMENT: observe saw 1 rows, expected 2");
}

}  // namespace
}  // namespace mcomp
