// test_magnitude.cpp: the CPU backend of `magnitude`, loaded and run through the real host,
// against hand-checked cases and against a plain reference written here from Wanda's
// prune_magnitude() (locuslab/wanda, lib/prune.py).
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/host_services.hpp"
#include "plugin_harness.hpp"

namespace mcomp::test {
namespace {

// ---- the reference ----------------------------------------------------------------------------

// Unstructured: thresh = sort(|W|.flatten())[int(numel * sparsity)]; prune |W| <= thresh.
std::vector<uint8_t> reference_unstructured(const LayerCase& layer, double sparsity) {
    std::vector<float> magnitudes;
    for (const float w : layer.weight) {
        magnitudes.push_back(std::fabs(w));
    }
    std::sort(magnitudes.begin(), magnitudes.end());
    const auto rank = static_cast<size_t>(static_cast<double>(magnitudes.size()) * sparsity);
    const float thresh = magnitudes[rank];
    std::vector<uint8_t> mask;
    for (const float w : layer.weight) {
        mask.push_back(std::fabs(w) <= thresh ? 0 : 1);
    }
    return mask;
}

// N:M: in every m consecutive columns of a row, the n smallest |W| are pruned; equal
// magnitudes are taken in column order (a stable sort), so the lower index goes first.
std::vector<uint8_t> reference_n_of_m(const LayerCase& layer, int n, int m) {
    std::vector<uint8_t> mask(layer.weight.size(), 1);
    for (int64_t row = 0; row < layer.rows; ++row) {
        for (int64_t begin = 0; begin < layer.cols; begin += m) {
            const float* group = layer.weight.data() + row * layer.cols + begin;
            std::vector<int> order(static_cast<size_t>(m));
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
                return std::fabs(group[a]) < std::fabs(group[b]);
            });
            for (int k = 0; k < n; ++k) {
                mask[row * layer.cols + begin + order[k]] = 0;
            }
        }
    }
    return mask;
}

std::vector<float> apply_mask(const LayerCase& layer, const std::vector<uint8_t>& mask) {
    std::vector<float> pruned(layer.weight.size());
    for (size_t i = 0; i < pruned.size(); ++i) {
        pruned[i] = mask[i] != 0 ? layer.weight[i] : 0.0f;
    }
    return pruned;
}

LayerResult run_magnitude(const LayerCase& layer, const std::vector<ParamArg>& args) {
    auto result = run_technique("magnitude", DeviceRequest::cpu, args, layer);
    EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
    return result ? std::move(*result) : LayerResult{};
}

std::vector<ParamArg> unstructured(double sparsity) {
    return {{"sparsity", sparsity, ""}};
}

std::vector<ParamArg> n_of_m(int n, int m) {
    return {{"n", int64_t{n}, ""}, {"m", int64_t{m}, ""}};
}

// ---- hand-checked cases ---------------------------------------------------------------------

struct HandCase {
    const char* name;
    std::vector<ParamArg> args;
    int64_t rows;
    std::vector<float> weight;
    std::vector<uint8_t> mask;
};

const std::vector<HandCase>& hand_cases() {
    static const std::vector<HandCase> cases = {
        // sorted |W| = 0.5 1 2 3 [4] 6 7 8: position int(8 * 0.5) = 4 holds 4, and |w| <= 4
        // prunes five weights: the reference always prunes at least rank + 1.
        {"threshold is inclusive",
         unstructured(0.5),
         2,
         {1, -2, 3, -4, 0.5f, -6, 7, -8},
         {0, 0, 0, 0, 0, 1, 1, 1}},
        // position int(8 * 0.25) = 2 holds 1; six weights tie at 1 and all go.
        {"ties at the threshold exceed the target",
         unstructured(0.25),
         2,
         {1, 1, 1, 1, 1, 1, 2, 3},
         {0, 0, 0, 0, 0, 0, 1, 1}},
        // -0 and +0 have the same magnitude.
        {"signed zeros tie", unstructured(0.25), 1, {-0.0f, 0.0f, 5, -5}, {0, 0, 1, 1}},
        // sparsity 0 still prunes every weight of the smallest magnitude, as the reference.
        {"sparsity zero prunes the minima", unstructured(0.0), 1, {3, -1, 2, 1}, {1, 0, 1, 0}},
        // 2:4: {4,-1,3,2} drops -1 and 2; an all-zero group drops its first two; all-equal
        // magnitudes drop the two lowest indices.
        {"two of four",
         n_of_m(2, 4),
         1,
         {4, -1, 3, 2, 0, 0, 0, 0, 1, -1, 1, -1},
         {1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1}},
        // 1:2 over two rows: groups never cross a row.
        {"one of two per row",
         n_of_m(1, 2),
         2,
         {-3, 3, 2, -1, 0, 7, 7, 0},
         {0, 1, 1, 0, 0, 1, 1, 0}},
        // sparsity is ignored once n is set.
        {"n of m overrides sparsity",
         {{"sparsity", 0.9, ""}, {"n", int64_t{1}, ""}, {"m", int64_t{4}, ""}},
         1,
         {1, 2, 3, 4},
         {0, 1, 1, 1}},
    };
    return cases;
}

class MagnitudeHandCase : public ::testing::TestWithParam<HandCase> {};

TEST_P(MagnitudeHandCase, MatchesHandComputedMask) {
    const HandCase& c = GetParam();
    const auto cols = static_cast<int64_t>(c.weight.size()) / c.rows;
    const LayerCase layer{c.rows, cols, c.weight};
    const LayerResult result = run_magnitude(layer, c.args);
    EXPECT_EQ(result.outputs, static_cast<uint32_t>(MC_RESULT_MASK));
    EXPECT_EQ(result.mask, c.mask);
    EXPECT_EQ(first_difference(result.weight, apply_mask(layer, c.mask)), -1);
    EXPECT_TRUE(result.codes.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, MagnitudeHandCase, ::testing::ValuesIn(hand_cases()),
                         [](const ::testing::TestParamInfo<HandCase>& info) {
                             std::string name = info.param.name;
                             std::replace(name.begin(), name.end(), ' ', '_');
                             return name;
                         });

// ---- against the reference on random weights ------------------------------------------------

// Random weights, and the same on a coarse lattice so that many magnitudes tie.
std::vector<LayerCase> sample_layers() {
    LayerCase lattice = random_layer(9, 64, 5);
    for (float& w : lattice.weight) {
        w = std::round(w * 60.0f) / 4.0f;
    }
    return {random_layer(13, 96, 42), lattice};
}

TEST(Magnitude, UnstructuredMatchesReference) {
    for (const LayerCase& layer : sample_layers()) {
        for (const double sparsity : {0.0, 0.1, 0.5, 0.7, 0.9, 0.99}) {
            SCOPED_TRACE("sparsity " + std::to_string(sparsity));
            const LayerResult result = run_magnitude(layer, unstructured(sparsity));
            const std::vector<uint8_t> mask = reference_unstructured(layer, sparsity);
            EXPECT_EQ(first_difference(result.mask, mask), -1);
            EXPECT_EQ(first_difference(result.weight, apply_mask(layer, mask)), -1);
        }
    }
}

TEST(Magnitude, UnstructuredReachesAtLeastTheTarget) {
    const LayerCase layer = random_layer(32, 128, 8);
    for (const double sparsity : {0.25, 0.5, 0.75}) {
        const LayerResult result = run_magnitude(layer, unstructured(sparsity));
        const auto pruned = std::count(result.mask.begin(), result.mask.end(), uint8_t{0});
        // Distinct magnitudes: exactly int(numel * sparsity) + 1 weights are at or below.
        EXPECT_EQ(pruned, static_cast<int64_t>(layer.weight.size() * sparsity) + 1);
    }
}

TEST(Magnitude, NOfMMatchesReferenceAndIsExact) {
    for (const LayerCase& layer : sample_layers()) {
        for (const auto& [n, m] : {std::pair{1, 2}, std::pair{2, 4}, std::pair{4, 8},
                                   std::pair{3, 8}, std::pair{5, 16}, std::pair{31, 32}}) {
            SCOPED_TRACE(std::to_string(n) + ":" + std::to_string(m));
            const LayerResult result = run_magnitude(layer, n_of_m(n, m));
            const std::vector<uint8_t> mask = reference_n_of_m(layer, n, m);
            EXPECT_EQ(first_difference(result.mask, mask), -1);
            EXPECT_EQ(first_difference(result.weight, apply_mask(layer, mask)), -1);
            // Exactly m - n kept in every group.
            for (size_t begin = 0; begin < result.mask.size(); begin += m) {
                const auto kept = std::count(result.mask.begin() + begin,
                                             result.mask.begin() + begin + m, uint8_t{1});
                ASSERT_EQ(kept, m - n) << "group at " << begin;
            }
        }
    }
}

TEST(Magnitude, LogsTheSparsityReachedAndTiesAtTheThreshold) {
    // The host routes plugin log lines into the spdlog logger "plugin.magnitude".
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(8);
    const auto logger = plugin_logger("magnitude");
    logger->sinks().push_back(sink);
    const LayerCase layer{2, 4, {1, 1, 1, 1, 1, 1, 2, 3}};
    run_magnitude(layer, unstructured(0.25));
    logger->sinks().pop_back();
    std::string lines;
    for (const std::string& line : sink->last_formatted()) {
        lines += line;
    }
    EXPECT_NE(lines.find("magnitude: layer test.layer: target sparsity 0.250000, achieved "
                         "0.750000 (6 of 8 weights pruned); ties at the threshold pruned extra "
                         "weights"),
              std::string::npos)
        << lines;
}

TEST(Magnitude, NOfMRejectsARowThatIsNotWholeGroups) {
    const LayerCase layer{2, 6, std::vector<float>(12, 1.0f)};
    auto result = run_technique("magnitude", DeviceRequest::cpu, n_of_m(2, 4), layer);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'magnitude' technique 'magnitude': begin_layer failed with "
              "MC_ERR_UNSUPPORTED: magnitude: layer test.layer has in_features = 6, not a "
              "multiple of m = 4; N:M sparsity needs whole groups: pick an m that divides it");
}

}  // namespace
}  // namespace mcomp::test
