// test_magnitude_cuda.cpp: the CUDA backend of `magnitude` agrees exactly with the CPU
// backend: identical masks and bit-identical pruned weights (tolerance 0: both compare the
// same integer magnitude keys). Skips without a usable GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "plugin_harness.hpp"

namespace mcomp::test {
namespace {

class MagnitudeCuda : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string reason = cuda_unavailable_reason("magnitude");
        if (!reason.empty()) {
            GTEST_SKIP() << "magnitude CUDA backend cannot run here: " << reason;
        }
    }
};

void expect_same_result(const LayerCase& layer, const std::vector<ParamArg>& args) {
    auto cpu = run_technique("magnitude", DeviceRequest::cpu, args, layer);
    auto cuda = run_technique("magnitude", DeviceRequest::cuda, args, layer);
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message;
    ASSERT_TRUE(cuda.has_value()) << cuda.error().message;
    EXPECT_EQ(cuda->outputs, cpu->outputs);
    EXPECT_EQ(first_difference(cuda->mask, cpu->mask), -1);
    EXPECT_EQ(first_difference(cuda->weight, cpu->weight), -1);
}

std::vector<LayerCase> sample_layers() {
    LayerCase lattice = random_layer(64, 256, 5);
    for (float& w : lattice.weight) {
        w = std::round(w * 60.0f) / 4.0f;  // many ties, many zeros, both signs of zero
    }
    return {random_layer(37, 512, 42), lattice, random_layer(1024, 4096, 9)};
}

TEST_F(MagnitudeCuda, UnstructuredAgreesWithCpu) {
    for (const LayerCase& layer : sample_layers()) {
        for (const double sparsity : {0.0, 0.3, 0.5, 0.9, 0.999}) {
            SCOPED_TRACE(std::to_string(layer.rows) + "x" + std::to_string(layer.cols) +
                         " sparsity " + std::to_string(sparsity));
            expect_same_result(layer, {{"sparsity", sparsity, ""}});
        }
    }
}

TEST_F(MagnitudeCuda, NOfMAgreesWithCpu) {
    for (const LayerCase& layer : sample_layers()) {
        for (const auto& [n, m] : {std::pair{1, 2}, std::pair{2, 4}, std::pair{4, 8},
                                   std::pair{3, 16}, std::pair{60, 64}}) {
            SCOPED_TRACE(std::to_string(layer.rows) + "x" + std::to_string(layer.cols) + " " +
                         std::to_string(n) + ":" + std::to_string(m));
            expect_same_result(layer, {{"n", int64_t{n}, ""}, {"m", int64_t{m}, ""}});
        }
    }
}

}  // namespace
}  // namespace mcomp::test
