// test_wanda_cuda.cpp: the CUDA backend of `wanda` agrees exactly with the CPU backend and
// with the hand-checked cases: identical masks and bit-identical pruned weights (tolerance 0:
// both sum squares in double in the same chunk order and compare the same integer score keys;
// see wanda_score.hpp). Skips without a usable GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wanda_reference.hpp"

namespace mcomp::test {
namespace {

std::string cuda_skip_reason() {
    const std::string reason = wanda_cuda_unavailable_reason();
    return reason.empty() ? "" : "wanda CUDA backend cannot run here: " + reason;
}

class WandaCuda : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string reason = cuda_skip_reason();
        if (!reason.empty()) {
            GTEST_SKIP() << reason;
        }
    }
};

void expect_same_result(const WandaCase& c, const std::vector<ParamArg>& args) {
    auto cpu = run_wanda(DeviceRequest::cpu, args, c);
    auto cuda = run_wanda(DeviceRequest::cuda, args, c);
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message;
    ASSERT_TRUE(cuda.has_value()) << cuda.error().message;
    EXPECT_EQ(cuda->outputs, cpu->outputs);
    EXPECT_EQ(first_difference(cuda->mask, cpu->mask), -1);
    EXPECT_EQ(first_difference(cuda->weight, cpu->weight), -1);
}

// Long samples (several chunks), ties, silent columns; rows that keep their keys in shared
// memory (<= 16384 columns) and rows that do not.
std::vector<WandaCase> sample_cases() {
    return {random_case(37, 512, 4, 130, 42), tie_case(64, 264, 5),
            random_case(256, 4096, 2, 512, 9), random_case(8, 20000, 1, 70, 3),
            tie_case(4, 16392, 8)};
}

TEST_F(WandaCuda, UnstructuredAgreesWithCpu) {
    for (const WandaCase& c : sample_cases()) {
        for (const double sparsity : {0.0, 0.3, 0.5, 0.9, 0.999, 1.0}) {
            SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " sparsity " +
                         std::to_string(sparsity));
            expect_same_result(c, unstructured(sparsity));
        }
    }
}

TEST_F(WandaCuda, NOfMAgreesWithCpu) {
    for (const WandaCase& c : sample_cases()) {
        for (const auto& [n, m] : {std::pair{1, 2}, std::pair{2, 4}, std::pair{4, 8},
                                   std::pair{3, 8}, std::pair{60, 64}}) {
            if (c.cols % m != 0) {
                continue;
            }
            SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " " +
                         std::to_string(n) + ":" + std::to_string(m));
            expect_same_result(c, n_of_m(n, m));
        }
    }
}

class WandaCudaHandCase : public ::testing::TestWithParam<HandCase> {};

TEST_P(WandaCudaHandCase, MatchesHandComputedMask) {
    const std::string reason = cuda_skip_reason();
    if (!reason.empty()) {
        GTEST_SKIP() << reason;
    }
    const HandCase& h = GetParam();
    const WandaCase c = hand_layer(h);
    auto result = run_wanda(DeviceRequest::cuda, h.args, c);
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_EQ(result->mask, h.mask);
    EXPECT_EQ(first_difference(result->weight, apply_mask(c, h.mask)), -1);
}

INSTANTIATE_TEST_SUITE_P(Table, WandaCudaHandCase, ::testing::ValuesIn(hand_cases()),
                         hand_case_name);

}  // namespace
}  // namespace mcomp::test
