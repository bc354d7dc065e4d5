// test_rtn_cuda.cpp: the CUDA backend of `rtn` agrees exactly with the CPU backend: identical
// codes and g_idx, bit-identical scales, zeros and dequantized weights (tolerance 0: both run
// rtn_grid.hpp with IEEE division and round-half-even). Skips without a usable GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "plugin_harness.hpp"

namespace mcomp::test {
namespace {

class RtnCuda : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string reason = cuda_unavailable_reason("rtn");
        if (!reason.empty()) {
            GTEST_SKIP() << "rtn CUDA backend cannot run here: " << reason;
        }
    }
};

void expect_same_result(const LayerCase& layer, const std::vector<ParamArg>& args) {
    auto cpu = run_technique("rtn", DeviceRequest::cpu, args, layer);
    auto cuda = run_technique("rtn", DeviceRequest::cuda, args, layer);
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message;
    ASSERT_TRUE(cuda.has_value()) << cuda.error().message;
    EXPECT_EQ(cuda->outputs, cpu->outputs);
    EXPECT_EQ(cuda->num_groups, cpu->num_groups);
    EXPECT_EQ(first_difference(cuda->codes, cpu->codes), -1);
    EXPECT_EQ(first_difference(cuda->scales, cpu->scales), -1);
    EXPECT_EQ(first_difference(cuda->zeros, cpu->zeros), -1);
    EXPECT_EQ(first_difference(cuda->weight, cpu->weight), -1);
    EXPECT_EQ(cuda->g_idx, cpu->g_idx);
    EXPECT_EQ(cuda->bits, cpu->bits);
    EXPECT_EQ(cuda->group_size, cpu->group_size);
    EXPECT_EQ(cuda->sym, cpu->sym);
}

TEST_F(RtnCuda, AgreesWithCpuOnRandomWeights) {
    const LayerCase layer = random_layer(37, 1000, 7);
    for (int bits = 2; bits <= 8; ++bits) {
        for (const bool sym : {false, true}) {
            for (const int group_size : {-1, 1, 32, 64, 100, 128, 4096}) {
                SCOPED_TRACE("bits " + std::to_string(bits) + " sym " + std::to_string(sym) +
                             " group_size " + std::to_string(group_size));
                expect_same_result(layer, {{"bits", int64_t{bits}, ""},
                                           {"group_size", int64_t{group_size}, ""},
                                           {"sym", sym, ""}});
            }
        }
    }
}

TEST_F(RtnCuda, AgreesWithCpuOnTiesZerosAndALargeLayer) {
    // Weights on a coarse lattice put many x / scale exactly on .5: round-half-even must agree.
    LayerCase lattice = random_layer(64, 512, 11);
    for (float& w : lattice.weight) {
        w = static_cast<float>(static_cast<int>(w * 400.0f)) / 8.0f;
    }
    for (int64_t col = 0; col < lattice.cols; ++col) {
        lattice.weight[3 * lattice.cols + col] = 0.0f;  // one all-zero row
    }
    expect_same_result(lattice, {{"bits", int64_t{4}, ""}, {"group_size", int64_t{64}, ""}});
    expect_same_result(lattice, {{"bits", int64_t{3}, ""}, {"sym", true, ""}});

    const LayerCase large = random_layer(1024, 4096, 3);
    expect_same_result(large, {{"bits", int64_t{4}, ""}, {"group_size", int64_t{128}, ""}});
}

}  // namespace
}  // namespace mcomp::test
