// test_gptq_cuda.cpp: the CUDA backend of `gptq` agrees with the CPU backend on the same layers.
// Tolerance (see gptq_test_support.hpp): codes identical up to each row's first rounding tie
// (codes one step apart where w / scale sits within rounding noise of .5, after which GPTQ's
// error feedback carries the difference along the row), at most 1/8 of the rows tied; before
// a tie, dequantized weights and scales within 1e-5 of the group's range (scale * maxq). The
// backends differ only in summation orders: SSYRK vs oneDNN for H, cuSOLVER vs the blocked CPU
// Cholesky, cuBLAS vs oneDNN for the lazy updates; the in-block arithmetic is the same code
// (gptq_column.hpp). Skips without a usable GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "gptq_test_support.hpp"

namespace mcomp::test {
namespace {

class GptqCuda : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string reason = cuda_unavailable_reason("gptq");
        if (!reason.empty()) {
            GTEST_SKIP() << "gptq CUDA backend cannot run here: " << reason;
        }
    }
};

// The processing order: by descending diag(H) (in double; ties are not expected in random
// data) with act-order, else the identity.
std::vector<int32_t> processing_order(const GptqCase& c, bool act_order) {
    std::vector<int32_t> order(static_cast<size_t>(c.cols));
    std::iota(order.begin(), order.end(), 0);
    if (act_order) {
        std::vector<double> diag(static_cast<size_t>(c.cols), 0.0);
        for (const std::vector<float>& x : c.samples) {
            for (int64_t t = 0; t < c.tokens; ++t) {
                for (int64_t j = 0; j < c.cols; ++j) {
                    diag[j] += static_cast<double>(x[t * c.cols + j]) * x[t * c.cols + j];
                }
            }
        }
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return diag[a] > diag[b]; });
    }
    return order;
}

void expect_backends_agree(const GptqCase& c, int bits, int group_size, bool sym, bool act_order,
                           bool static_groups, bool mse, bool keep_zeros = false) {
    SCOPED_TRACE("bits " + std::to_string(bits) + " group_size " + std::to_string(group_size) +
                 (sym ? " sym" : "") + (act_order ? " act_order" : "") +
                 (static_groups ? " static" : "") + (mse ? " mse" : "") +
                 (keep_zeros ? " keep_zeros" : ""));
    const std::vector<ParamArg> args = {
        {"bits", int64_t{bits}, ""},   {"group_size", int64_t{group_size}, ""}, {"sym", sym, ""},
        {"act_order", act_order, ""},  {"static_groups", static_groups, ""},    {"mse", mse, ""},
        {"keep_zeros", keep_zeros, ""}};
    auto cpu = run_gptq(c, DeviceRequest::cpu, args);
    auto cuda = run_gptq(c, DeviceRequest::cuda, args);
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message;
    ASSERT_TRUE(cuda.has_value()) << cuda.error().message;
    EXPECT_EQ(cuda->g_idx, cpu->g_idx);
    if (keep_zeros) {
        for (size_t e = 0; e < c.weight.size(); ++e) {
            if (c.weight[e] == 0.0f) {
                ASSERT_EQ(cuda->weight[e], 0.0f) << "a zero of the input moved at element " << e;
            }
        }
    }
    EXPECT_EQ(cuda->desc_act, cpu->desc_act);
    const double maxq = static_cast<double>((1 << bits) - 1);
    const Comparison cmp =
        compare_results(*cuda, *cpu, processing_order(c, act_order), 1e-5 * maxq);
    EXPECT_EQ(cmp.problem, "");
    EXPECT_LE(cmp.tied_rows, c.rows / 8);
    std::printf("  %s: %lld tied rows of %lld, max error %.3g steps\n",
                ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                static_cast<long long>(cmp.tied_rows), static_cast<long long>(c.rows),
                cmp.max_rel_error);
}

TEST_F(GptqCuda, AgreesWithCpuOnSmallLayers) {
    const GptqCase c = random_gptq_case(64, 320, 64, 4, 11);
    for (const int bits : {2, 3, 4, 8}) {
        for (const int group_size : {-1, 32, 100}) {
            expect_backends_agree(c, bits, group_size, false, false, false, false);
            expect_backends_agree(c, bits, group_size, true, true, false, false);
        }
    }
    expect_backends_agree(c, 4, 64, false, true, true, false);
    expect_backends_agree(c, 3, 32, false, true, false, true);
}

TEST_F(GptqCuda, AgreesWithCpuOnALargerLayerWithDeadColumns) {
    GptqCase c = random_gptq_case(512, 1024, 128, 4, 12);
    for (std::vector<float>& x : c.samples) {
        for (int64_t t = 0; t < c.tokens; ++t) {
            x[t * c.cols + 7] = 0.0f;
        }
    }
    expect_backends_agree(c, 4, 128, false, true, false, false);
    expect_backends_agree(c, 4, 32, true, false, false, false);
}

TEST_F(GptqCuda, KeepZerosAgreesWithCpuAndKeepsEveryZero) {
    GptqCase c = random_gptq_case(256, 512, 64, 4, 13);
    for (int64_t e = 0; e < c.rows * c.cols; e += 4) {  // a 2:4 pattern: two zeros in four
        c.weight[e + (e / 4) % 4] = 0.0f;
        c.weight[e + (e / 4 + 1) % 4] = 0.0f;
    }
    expect_backends_agree(c, 4, -1, false, false, false, false, true);
    expect_backends_agree(c, 4, 128, false, true, false, false, true);
    expect_backends_agree(c, 3, 32, true, false, true, false, true);
}

}  // namespace
}  // namespace mcomp::test
