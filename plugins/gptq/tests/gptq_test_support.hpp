// gptq_test_support.hpp: what the gptq test suites share — one layer with calibration samples
// run through the real host's layer runner, deterministic test inputs, and the comparison of
// two GPTQ results that tolerates what floating point cannot promise.
//
// Why a tolerant comparison: two correct implementations whose Hessian or factorization
// round differently quantize the same weight to codes that differ when w / scale sits within
// rounding noise of a .5 boundary (a "tie"). GPTQ then feeds the different error into every
// later column of that row, so the rest of the row legitimately differs. compare_results()
// walks each row in processing order: before a row's first difference every code must match
// and every dequantized weight agree within `rel_tol`; the first difference must be a tie (codes
// one step apart); the rest of a tied row is not compared. The caller bounds the tied rows.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "plugin_harness.hpp"

namespace mcomp::test {

// One layer and its calibration samples, each [tokens, cols].
struct GptqCase {
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t tokens = 0;
    std::vector<float> weight;                // [rows, cols]
    std::vector<std::vector<float>> samples;  // each [tokens, cols]
};

inline Expected<LayerResult> run_gptq(const GptqCase& c, DeviceRequest device,
                                      const std::vector<ParamArg>& args) {
    auto technique = plugin_registry().load_technique("gptq", device);
    if (!technique) {
        return technique.error();
    }
    auto params = bind_params(*technique->manifest, args);
    if (!params) {
        return params.error();
    }
    LayerInput input;
    input.name = "test.layer";
    input.out_features = c.rows;
    input.in_features = c.cols;
    input.weight = c.weight;
    for (const std::vector<float>& sample : c.samples) {
        input.batches.emplace_back(sample);
    }
    return run_layer(*technique, *params, input);
}

// Weights N(0, 0.05); inputs with per-column scales spread over 1/4..4 (so act-order
// reorders) and neighbouring columns correlated (so the error feedback matters).
inline GptqCase random_gptq_case(int64_t rows, int64_t cols, int64_t tokens, int64_t samples,
                                 uint32_t seed) {
    GptqCase c;
    c.rows = rows;
    c.cols = cols;
    c.tokens = tokens;
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    c.weight.resize(static_cast<size_t>(rows * cols));
    for (float& w : c.weight) {
        w = 0.05f * normal(rng);
    }
    std::vector<float> column_scale(static_cast<size_t>(cols));
    for (float& s : column_scale) {
        s = std::exp2(4.0f * (static_cast<float>(rng() % 1000) / 1000.0f) - 2.0f);
    }
    for (int64_t s = 0; s < samples; ++s) {
        std::vector<float> x(static_cast<size_t>(tokens * cols));
        for (int64_t t = 0; t < tokens; ++t) {
            float previous = 0.0f;
            for (int64_t j = 0; j < cols; ++j) {
                const float z = normal(rng);
                x[t * cols + j] = column_scale[j] * (z + 0.5f * previous);
                previous = z;
            }
        }
        c.samples.push_back(std::move(x));
    }
    return c;
}

struct Comparison {
    int64_t tied_rows = 0;
    int64_t compared_codes = 0;
    double max_rel_error = 0.0;  // dequantized weights and scales before ties
    std::string problem;         // the first hard mismatch, "" when none
};

// `order`: the processing order (layer column of each permuted position).
inline Comparison compare_results(const LayerResult& actual, const LayerResult& expected,
                                  const std::vector<int32_t>& order, double rel_tol) {
    Comparison cmp;
    const int64_t rows = expected.out_features;
    const int64_t cols = expected.in_features;
    const auto fail = [&](const std::string& what) {
        if (cmp.problem.empty()) {
            cmp.problem = what;
        }
    };
    if (actual.codes.size() != expected.codes.size() || actual.g_idx != expected.g_idx ||
        actual.num_groups != expected.num_groups) {
        fail("shapes or g_idx differ");
        return cmp;
    }
    const int64_t groups = expected.num_groups;
    for (int64_t r = 0; r < rows; ++r) {
        bool tied = false;
        for (int64_t p = 0; p < cols && !tied; ++p) {
            const int64_t i = r * cols + order[p];
            const int a = actual.codes[i];
            const int b = expected.codes[i];
            if (a != b) {
                if (std::abs(a - b) != 1) {
                    fail("row " + std::to_string(r) + " column " + std::to_string(order[p]) +
                         ": code " + std::to_string(a) + ", expected " + std::to_string(b));
                }
                tied = true;
                break;
            }
            cmp.compared_codes += 1;
            const int64_t gi = r * groups + expected.g_idx[order[p]];
            const double scale = std::fabs(expected.scales[gi]);
            const double err =
                std::fabs(static_cast<double>(actual.weight[i]) - expected.weight[i]);
            const double rel = err / std::max(scale, 1e-30);
            cmp.max_rel_error = std::max(cmp.max_rel_error, rel);
            const double scale_rel =
                std::fabs(actual.scales[gi] - expected.scales[gi]) / std::max(scale, 1e-30);
            cmp.max_rel_error = std::max(cmp.max_rel_error, scale_rel);
            if (rel > rel_tol || scale_rel > rel_tol || actual.zeros[gi] != expected.zeros[gi]) {
                fail("row " + std::to_string(r) + " column " + std::to_string(order[p]) +
                     ": weight " + std::to_string(actual.weight[i]) + " vs " +
                     std::to_string(expected.weight[i]) + ", scale " +
                     std::to_string(actual.scales[gi]) + " vs " +
                     std::to_string(expected.scales[gi]) + ", zero " +
                     std::to_string(actual.zeros[gi]) + " vs " +
                     std::to_string(expected.zeros[gi]));
            }
        }
        cmp.tied_rows += tied ? 1 : 0;
    }
    return cmp;
}

}  // namespace mcomp::test
