// test_sparsegpt_then_gptq.cpp: a quantizer stage after SparseGPT must keep every zero of the
// pruning stage (manifests/pipelines/sparsegpt-2of4-then-gptq-w4.toml). The engine hands the
// second stage the pruned weight (exact zeros) and nothing else; whether the zeros survive is the
// quantizer's business:
//
//   - the column step that keeps them is plugins/common masked_step.hpp (SparseGPT's joint
//     quantization: a masked weight is forced to 0, which every grid represents exactly, and
//     its error is fed back); checked here over every grid shape;
//   - SparseGPT's own joint quantization (one stage) keeps its N:M pattern exactly;
//   - GPTQ keeps them only with a `keep_zeros` parameter that runs masked_step with the
//     incoming zeros as the mask. The test runs the two stages on one layer through the real
//     host; while gptq has no such parameter it reports how many zeros GPTQ loses and skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/manifest.hpp"
#include "plugin_common/masked_step.hpp"
#include "sparsegpt_reference.hpp"

namespace mcomp::test {
namespace {

TEST(MaskedStep, AMaskedWeightIsExactlyZeroOnEveryGrid) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (const int bits : {2, 3, 4, 8}) {
        const int32_t maxq = common::max_code(bits);
        for (const bool sym : {false, true}) {
            for (int trial = 0; trial < 200; ++trial) {
                // Ranges on both sides of 0, only one side, and the degenerate all-zero row.
                float lo = uniform(rng);
                float hi = uniform(rng);
                if (trial % 4 == 1) {
                    lo = std::fabs(lo);
                } else if (trial % 4 == 2) {
                    hi = -std::fabs(hi);
                } else if (trial % 4 == 3 && trial % 8 == 3) {
                    lo = hi = 0.0f;
                }
                const common::Grid grid =
                    common::find_grid(std::min(lo, hi), std::max(lo, hi), maxq, sym);
                const float w = uniform(rng);
                const common::MaskedStep step =
                    common::masked_step(w, true, true, grid, maxq, 0.5f);
                EXPECT_EQ(step.q, 0.0f) << "bits " << bits << " range " << lo << " " << hi;
                EXPECT_EQ(static_cast<float>(step.code), grid.zero);
                EXPECT_EQ(step.diff, w);
                EXPECT_EQ(step.err, w / 0.5f);
            }
        }
    }
}

std::vector<uint8_t> zeros_of(const std::vector<float>& weight) {
    std::vector<uint8_t> zero(weight.size());
    for (size_t e = 0; e < weight.size(); ++e) {
        zero[e] = weight[e] == 0.0f ? 1 : 0;
    }
    return zero;
}

int64_t zeros_lost(const std::vector<uint8_t>& zero, const std::vector<float>& weight) {
    int64_t lost = 0;
    for (size_t e = 0; e < weight.size(); ++e) {
        lost += zero[e] != 0 && weight[e] != 0.0f ? 1 : 0;
    }
    return lost;
}

TEST(SparseGptThenGptq, JointQuantizationKeepsTheTwoOfFourPattern) {
    const SgptCase c = random_case(32, 256, 64, 4, 31);
    auto joint =
        run_sparsegpt(c, DeviceRequest::cpu,
                      {{"n", int64_t{2}, ""}, {"m", int64_t{4}, ""}, {"bits", int64_t{4}, ""}});
    ASSERT_TRUE(joint.has_value()) << joint.error().message;
    for (int64_t begin = 0; begin < c.rows * c.cols; begin += 4) {
        int zeros = 0;
        for (int k = 0; k < 4; ++k) {
            zeros += joint->weight[begin + k] == 0.0f ? 1 : 0;
            if (joint->mask[begin + k] == 0) {
                EXPECT_EQ(joint->weight[begin + k], 0.0f);
            }
        }
        EXPECT_GE(zeros, 2) << "group at element " << begin;
    }
}

TEST(SparseGptThenGptq, TheGptqStageKeepsEveryZero) {
    const SgptCase c = random_case(32, 256, 64, 4, 32);
    auto pruned =
        run_sparsegpt(c, DeviceRequest::cpu, {{"n", int64_t{2}, ""}, {"m", int64_t{4}, ""}});
    ASSERT_TRUE(pruned.has_value()) << pruned.error().message;
    const std::vector<uint8_t> zero = zeros_of(pruned->weight);
    SgptCase second = c;
    second.weight = pruned->weight;

    const std::vector<ParamArg> w4 = {{"bits", int64_t{4}, ""}, {"group_size", int64_t{-1}, ""}};
    const auto gptq = plugin_registry().find_technique("gptq");
    if (!gptq) {
        GTEST_SKIP() << "the gptq plugin is not built in " << build_plugin_dir();
    }
    if (gptq->technique->find_param("keep_zeros") == nullptr) {
        auto plain = run_with_samples("gptq", second, DeviceRequest::cpu, w4);
        ASSERT_TRUE(plain.has_value()) << plain.error().message;
        GTEST_SKIP() << "gptq has no keep_zeros parameter yet: after SparseGPT 2:4, GPTQ w4 "
                     << "turns " << zeros_lost(zero, plain->weight) << " of "
                     << std::count(zero.begin(), zero.end(), uint8_t{1})
                     << " zeros into non-zero weights (see "
                        "manifests/pipelines/sparsegpt-2of4-then-gptq-w4.toml)";
    }
    std::vector<ParamArg> keep = w4;
    keep.push_back({"keep_zeros", true, ""});
    auto kept = run_with_samples("gptq", second, DeviceRequest::cpu, keep);
    ASSERT_TRUE(kept.has_value()) << kept.error().message;
    EXPECT_EQ(zeros_lost(zero, kept->weight), 0);
}

}  // namespace
}  // namespace mcomp::test
