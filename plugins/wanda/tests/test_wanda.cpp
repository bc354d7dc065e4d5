// test_wanda.cpp: the CPU backend of `wanda`, loaded and run through the real host with
// calibration batches, against hand-checked cases and against the plain reference of
// wanda_reference.hpp (locuslab/wanda: WrappedGPT.add_batch, prune_wanda).
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/host_services.hpp"
#include "wanda_reference.hpp"

namespace mcomp::test {
namespace {

LayerResult run_cpu(const WandaCase& c, const std::vector<ParamArg>& args) {
    auto result = run_wanda(DeviceRequest::cpu, args, c);
    EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
    return result ? std::move(*result) : LayerResult{};
}

// ---- hand-checked cases ---------------------------------------------------------------------

class WandaHandCase : public ::testing::TestWithParam<HandCase> {};

TEST_P(WandaHandCase, MatchesHandComputedMask) {
    const HandCase& h = GetParam();
    const WandaCase c = hand_layer(h);
    const LayerResult result = run_cpu(c, h.args);
    EXPECT_EQ(result.outputs, static_cast<uint32_t>(MC_RESULT_MASK));
    EXPECT_EQ(result.mask, h.mask);
    EXPECT_EQ(first_difference(result.weight, apply_mask(c, h.mask)), -1);
    EXPECT_TRUE(result.codes.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, WandaHandCase, ::testing::ValuesIn(hand_cases()), hand_case_name);

// ---- against the reference ------------------------------------------------------------------

// Batches of at most 64 tokens: the reference's token-order sums are the plugin's bits.
std::vector<WandaCase> sample_cases() {
    return {random_case(13, 96, 3, 17, 42), random_case(8, 200, 5, 64, 7), tie_case(9, 64, 5)};
}

TEST(Wanda, UnstructuredMatchesReference) {
    for (const WandaCase& c : sample_cases()) {
        for (const double sparsity : {0.0, 0.1, 0.29, 0.5, 0.7, 0.9, 0.99, 1.0}) {
            SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " sparsity " +
                         std::to_string(sparsity));
            const LayerResult result = run_cpu(c, unstructured(sparsity));
            const std::vector<uint8_t> mask = reference_unstructured(c, sparsity);
            EXPECT_EQ(first_difference(result.mask, mask), -1);
            EXPECT_EQ(first_difference(result.weight, apply_mask(c, mask)), -1);
        }
    }
}

TEST(Wanda, UnstructuredPrunesExactlyTheRatioOfEveryRow) {
    // int(100 * 0.29) = 28 in Python (the double product is 28.999999999999996).
    const WandaCase c = random_case(6, 100, 2, 10, 3);
    for (const auto& [sparsity, per_row] :
         {std::pair{0.29, 28}, std::pair{0.5, 50}, std::pair{0.333, 33}, std::pair{0.999, 99}}) {
        const LayerResult result = run_cpu(c, unstructured(sparsity));
        for (int64_t row = 0; row < c.rows; ++row) {
            const auto begin = result.mask.begin() + row * c.cols;
            EXPECT_EQ(std::count(begin, begin + c.cols, uint8_t{0}), per_row)
                << "row " << row << " sparsity " << sparsity;
        }
    }
}

TEST(Wanda, NOfMMatchesReferenceAndIsExact) {
    for (const WandaCase& c : sample_cases()) {
        for (const auto& [n, m] : {std::pair{1, 2}, std::pair{2, 4}, std::pair{4, 8},
                                   std::pair{3, 8}, std::pair{5, 16}, std::pair{31, 32}}) {
            if (c.cols % m != 0) {
                continue;
            }
            SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " " +
                         std::to_string(n) + ":" + std::to_string(m));
            const LayerResult result = run_cpu(c, n_of_m(n, m));
            const std::vector<uint8_t> mask = reference_n_of_m(c, n, m);
            EXPECT_EQ(first_difference(result.mask, mask), -1);
            EXPECT_EQ(first_difference(result.weight, apply_mask(c, mask)), -1);
            for (size_t begin = 0; begin < result.mask.size(); begin += m) {
                const auto kept = std::count(result.mask.begin() + begin,
                                             result.mask.begin() + begin + m, uint8_t{1});
                ASSERT_EQ(kept, m - n) << "group at " << begin;
            }
        }
    }
}

TEST(Wanda, LongSamplesAgreeWithTheReference) {
    // 300 tokens a sample: the plugin sums 5 chunks, the reference one run; in double the two
    // orders round to the same fp32 norms here.
    const WandaCase c = random_case(16, 128, 3, 300, 11);
    const LayerResult unstructured_result = run_cpu(c, unstructured(0.5));
    EXPECT_EQ(first_difference(unstructured_result.mask, reference_unstructured(c, 0.5)), -1);
    const LayerResult n_of_m_result = run_cpu(c, n_of_m(2, 4));
    EXPECT_EQ(first_difference(n_of_m_result.mask, reference_n_of_m(c, 2, 4)), -1);
}

TEST(Wanda, ScoresDependOnTheInputsNotOnlyTheWeights) {
    // The same weights with two calibration sets: column 0 silent, then column 3 silent.
    WandaCase c{1, 4, {4, 3, 2, 1}, {{0, 1, 1, 1}}};
    EXPECT_EQ(run_cpu(c, unstructured(0.25)).mask, (std::vector<uint8_t>{0, 1, 1, 1}));
    c.batches = {{1, 1, 1, 0}};
    EXPECT_EQ(run_cpu(c, unstructured(0.25)).mask, (std::vector<uint8_t>{1, 1, 1, 0}));
}

// ---- refusals and the log ---------------------------------------------------------------------

TEST(Wanda, RefusesToFinishWithoutCalibrationInputs) {
    const WandaCase c{2, 4, std::vector<float>(8, 1.0f), {}};
    auto result = run_wanda(DeviceRequest::cpu, unstructured(0.5), c);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(result.error().message,
              "plugin 'wanda' technique 'wanda': finish_layer failed with "
              "MC_ERR_INVALID_ARGUMENT: wanda: layer test.layer: no calibration inputs were "
              "observed; Wanda scores |w| by the norms of the layer's inputs: give the stage "
              "calibration data");
}

TEST(Wanda, NOfMRejectsARowThatIsNotWholeGroups) {
    const WandaCase c{2, 6, std::vector<float>(12, 1.0f), {std::vector<float>(6, 1.0f)}};
    auto result = run_wanda(DeviceRequest::cpu, n_of_m(2, 4), c);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'wanda' technique 'wanda': begin_layer failed with "
              "MC_ERR_UNSUPPORTED: wanda: layer test.layer has in_features = 6, not a "
              "multiple of m = 4; N:M sparsity needs whole groups: pick an m that divides it");
}

std::string logged_lines(const WandaCase& c, const std::vector<ParamArg>& args) {
    // The host routes plugin log lines into the spdlog logger "plugin.wanda".
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(8);
    const auto logger = plugin_logger("wanda");
    logger->sinks().push_back(sink);
    run_cpu(c, args);
    logger->sinks().pop_back();
    std::string lines;
    for (const std::string& line : sink->last_formatted()) {
        lines += line;
    }
    return lines;
}

TEST(Wanda, LogsTheSparsityReached) {
    const WandaCase c{2, 8, std::vector<float>(16, 1.0f), {std::vector<float>(24, 1.0f)}};
    std::string lines = logged_lines(c, unstructured(0.3));
    EXPECT_NE(lines.find("wanda: layer test.layer: target sparsity 0.300000 per row (2 of 8 "
                         "columns), achieved 0.250000 (4 of 16 weights pruned) from 1 calibration "
                         "samples, 3 tokens"),
              std::string::npos)
        << lines;
    lines = logged_lines(c, n_of_m(2, 4));
    EXPECT_NE(lines.find("wanda: layer test.layer: 2:4 sparsity, achieved 0.500000 (8 of 16 "
                         "weights pruned) from 1 calibration samples, 3 tokens"),
              std::string::npos)
        << lines;
}

}  // namespace
}  // namespace mcomp::test
