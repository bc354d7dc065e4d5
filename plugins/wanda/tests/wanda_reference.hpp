// wanda_reference.hpp: what the wanda tests share — a straightforward transcription of the
// reference (locuslab/wanda: WrappedGPT.add_batch in lib/layerwrapper.py, prune_wanda in
// lib/prune.py), one-layer runs with calibration batches through the real host's layer runner,
// and the hand-checked cases both backends must reproduce.
//
// The reference sums each column's squares in double in token order, where the plugin sums
// chunks of 64 tokens and then the chunk sums (wanda_score.hpp); with batches of at most 64
// tokens both orders are the same, so comparisons with the reference expect identical bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/discovery.hpp"
#include "core/layer_runner.hpp"
#include "plugin_harness.hpp"

namespace mcomp::test {

// One layer and its calibration samples (each [tokens, cols]).
struct WandaCase {
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<float> weight;                // [rows, cols]
    std::vector<std::vector<float>> batches;  // one add_batch() each
};

// ---- the reference ----------------------------------------------------------------------------

// WrappedGPT.add_batch, once per batch with tmp = 1 (the reference's one sample per forward):
//   scaler_row *= nsamples / (nsamples + 1); nsamples += 1; scaler_row += ‖x_j‖² / nsamples.
inline std::vector<float> reference_scaler_row(const WandaCase& c) {
    std::vector<float> scaler_row(static_cast<size_t>(c.cols), 0.0f);
    int64_t nsamples = 0;
    for (const std::vector<float>& batch : c.batches) {
        const auto decay =
            static_cast<float>(static_cast<double>(nsamples) / static_cast<double>(nsamples + 1));
        nsamples += 1;
        const int64_t tokens = static_cast<int64_t>(batch.size()) / c.cols;
        for (int64_t j = 0; j < c.cols; ++j) {
            double sum = 0.0;
            for (int64_t t = 0; t < tokens; ++t) {
                const double x = batch[t * c.cols + j];
                sum += x * x;
            }
            const float norm = std::sqrt(static_cast<float>(sum));
            scaler_row[j] *= decay;
            scaler_row[j] += norm * norm / static_cast<float>(nsamples);
        }
    }
    return scaler_row;
}

// W_metric = |W| * sqrt(scaler_row).
inline std::vector<float> reference_metric(const WandaCase& c) {
    const std::vector<float> scaler_row = reference_scaler_row(c);
    std::vector<float> metric(c.weight.size());
    for (int64_t i = 0; i < c.rows; ++i) {
        for (int64_t j = 0; j < c.cols; ++j) {
            metric[i * c.cols + j] = std::fabs(c.weight[i * c.cols + j]) * std::sqrt(scaler_row[j]);
        }
    }
    return metric;
}

// The columns [begin, begin + count) of one row of `metric` in the order of torch.sort(stable):
// ascending, NaN last, equal scores in column order.
inline std::vector<int64_t> stable_order(const float* metric, int64_t count) {
    std::vector<int64_t> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return !std::isnan(metric[a]) && (std::isnan(metric[b]) || metric[a] < metric[b]);
    });
    return order;
}

// Unstructured: per row, the first int(cols * sparsity) columns of the stable sort.
inline std::vector<uint8_t> reference_unstructured(const WandaCase& c, double sparsity) {
    const std::vector<float> metric = reference_metric(c);
    const auto count = static_cast<int64_t>(static_cast<double>(c.cols) * sparsity);
    std::vector<uint8_t> mask(c.weight.size(), 1);
    for (int64_t i = 0; i < c.rows; ++i) {
        const std::vector<int64_t> order = stable_order(metric.data() + i * c.cols, c.cols);
        for (int64_t k = 0; k < count; ++k) {
            mask[i * c.cols + order[k]] = 0;
        }
    }
    return mask;
}

// N:M: in every m consecutive columns, the n lowest scores (topk(largest=False) as CUDA breaks
// ties: the lower column first).
inline std::vector<uint8_t> reference_n_of_m(const WandaCase& c, int n, int m) {
    const std::vector<float> metric = reference_metric(c);
    std::vector<uint8_t> mask(c.weight.size(), 1);
    for (int64_t begin = 0; begin < static_cast<int64_t>(metric.size()); begin += m) {
        const std::vector<int64_t> order = stable_order(metric.data() + begin, m);
        for (int k = 0; k < n; ++k) {
            mask[begin + order[k]] = 0;
        }
    }
    return mask;
}

inline std::vector<float> apply_mask(const WandaCase& c, const std::vector<uint8_t>& mask) {
    std::vector<float> pruned(c.weight.size());
    for (size_t i = 0; i < pruned.size(); ++i) {
        pruned[i] = mask[i] != 0 ? c.weight[i] : 0.0f;
    }
    return pruned;
}

// ---- running the plugin -----------------------------------------------------------------------

// $MCOMP_PLUGIN_PATH and the test binary's ../lib/mcomp/plugins first, then the build tree's
// plugin folder, so that the tests also run from a relocated build (the GPU machine's device
// bundle), where the build tree's absolute path does not exist. Folders are deduplicated.
inline const Registry& wanda_registry() {
    static const Registry registry = [] {
        std::vector<std::filesystem::path> dirs = default_plugin_search_path();
        dirs.push_back(build_plugin_dir());
        return Registry(dirs);
    }();
    return registry;
}

// Why the CUDA backend of wanda cannot run here, or "" when it can.
inline std::string wanda_cuda_unavailable_reason() {
    const PluginManifest* plugin = wanda_registry().find_plugin("wanda");
    if (plugin == nullptr) {
        return "plugin 'wanda' is not on the plugin search path";
    }
    const BackendState state = wanda_registry().backend_state(*plugin, DeviceKind::cuda);
    return state == BackendState::available ? "" : describe_backend(DeviceKind::cuda, state);
}

inline Expected<LayerResult> run_wanda(DeviceRequest device, const std::vector<ParamArg>& args,
                                       const WandaCase& c) {
    auto technique = wanda_registry().load_technique("wanda", device);
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
    for (const std::vector<float>& batch : c.batches) {
        input.batches.emplace_back(batch);
    }
    return run_layer(*technique, *params, input);
}

inline std::vector<ParamArg> unstructured(double sparsity) {
    return {{"sparsity", sparsity, ""}};
}

inline std::vector<ParamArg> n_of_m(int n, int m) {
    return {{"n", int64_t{n}, ""}, {"m", int64_t{m}, ""}};
}

// ---- sample layers ----------------------------------------------------------------------------

// N(0, 0.05) weights and `num_batches` batches of `tokens` N(0, 1) inputs, each column scaled
// by its own log-normal factor (as activations with outlier features), with every 7th column
// silent (zero norm), reproducible from `seed`.
inline WandaCase random_case(int64_t rows, int64_t cols, int num_batches, int64_t tokens,
                             uint32_t seed) {
    WandaCase c{rows, cols, random_layer(rows, cols, seed).weight, {}};
    std::mt19937 rng(seed + 1000);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> column_scale(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
        column_scale[j] = j % 7 == 3 ? 0.0f : std::exp(normal(rng));
    }
    for (int b = 0; b < num_batches; ++b) {
        std::vector<float> batch(static_cast<size_t>(tokens * cols));
        for (size_t i = 0; i < batch.size(); ++i) {
            batch[i] = normal(rng) * column_scale[i % cols];
        }
        c.batches.push_back(std::move(batch));
    }
    return c;
}

// Many equal scores: weights on a coarse lattice (zeros included) and inputs that give whole
// groups of columns the same norm (one token of 0, 1 or 2 per column).
inline WandaCase tie_case(int64_t rows, int64_t cols, uint32_t seed) {
    WandaCase c{rows, cols, random_layer(rows, cols, seed).weight, {}};
    for (float& w : c.weight) {
        w = std::round(w * 40.0f) / 4.0f;
    }
    std::vector<float> token(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
        token[j] = static_cast<float>((j / 3) % 3);
    }
    c.batches = {token, token};
    return c;
}

// ---- hand-checked cases -----------------------------------------------------------------------

struct HandCase {
    const char* name;
    std::vector<ParamArg> args;
    int64_t rows;
    std::vector<float> weight;
    std::vector<std::vector<float>> batches;
    std::vector<uint8_t> mask;
};

inline const std::vector<HandCase>& hand_cases() {
    static const float nan = std::nanf("");
    static const std::vector<HandCase> cases = {
        // sqrt(scaler_row) = [1 2 3 4]: row 0 scores [4 6 6 4] (the two 4s go), row 1 [1 2 3 4].
        {"scores weigh the input norms",
         unstructured(0.5),
         2,
         {4, 3, 2, 1, 1, 1, 1, 1},
         {{1, 2, 3, 4}},
         {0, 1, 1, 0, 0, 0, 1, 1}},
        // All four scores are 2: the stable sort takes the lowest columns first.
        {"equal scores go in column order",
         unstructured(0.5),
         1,
         {2, 1, 1, -2},
         {{1, 2, 2, 1}},
         {0, 0, 1, 1}},
        // A column that never sees input scores 0, however large its weight.
        {"a silent column scores zero",
         unstructured(0.5),
         1,
         {100, 1, 2, 3},
         {{0, 1, 1, 1}, {0, -1, 1, 1}},
         {0, 0, 1, 1}},
        // int(5 * 0.3) = 1 weight of every row.
        {"exactly int of in times sparsity per row",
         unstructured(0.3),
         2,
         {5, 4, 3, 2, 1, -1, -2, -3, -4, -5},
         {{1, 1, 1, 1, 1}},
         {1, 1, 1, 1, 0, 0, 1, 1, 1, 1}},
        {"sparsity zero prunes nothing",
         unstructured(0.0),
         1,
         {0, 1, 0, 1},
         {{1, 1, 1, 1}},
         {1, 1, 1, 1}},
        {"sparsity one prunes everything",
         unstructured(1.0),
         1,
         {1, 2, 3, 4},
         {{1, 1, 1, 1}},
         {0, 0, 0, 0}},
        // scaler_row = [9 0] after the first sample, then [9/2, 16/2]: scores [3.18 2.83].
        // Keeping only the last sample would give [0 4] and prune column 0 instead.
        {"the running mean spans samples",
         unstructured(0.5),
         1,
         {1.5f, 1},
         {{3, 0}, {0, 4}},
         {1, 0}},
        // torch.sort puts NaN last: it is kept, the two lowest finite scores go.
        {"a NaN score sorts last",
         unstructured(0.5),
         1,
         {nan, 1, 2, 3},
         {{1, 1, 1, 1}},
         {1, 0, 0, 1}},
        // 2:4: scores [4 6 6 4 | 5 5 5 5]: the two 4s go, then the two lowest columns.
        {"two of four",
         n_of_m(2, 4),
         1,
         {4, 3, 2, 1, 5, 5, 5, -5},
         {{1, 2, 3, 4, 1, 1, 1, 1}},
         {0, 1, 1, 0, 0, 0, 1, 1}},
        {"four of eight",
         n_of_m(4, 8),
         1,
         {8, 1, 7, 2, 6, 3, 5, 4},
         {{1, 1, 1, 1, 1, 1, 1, 1}},
         {1, 0, 1, 0, 1, 0, 1, 0}},
        // Groups never cross a row.
        {"one of two per row",
         n_of_m(1, 2),
         2,
         {-3, 3, 2, -1, 0, 7, 7, 0},
         {{1, 1, 1, 1}},
         {0, 1, 1, 0, 0, 1, 1, 0}},
        {"n of m overrides sparsity",
         {{"sparsity", 0.9, ""}, {"n", int64_t{1}, ""}, {"m", int64_t{4}, ""}},
         1,
         {1, 2, 3, 4},
         {{1, 1, 1, 1}},
         {0, 1, 1, 1}},
    };
    return cases;
}

// Test listings (and ctest names) show the case's name instead of its bytes.
inline void PrintTo(const HandCase& h, std::ostream* os) {
    *os << h.name;
}

inline WandaCase hand_layer(const HandCase& h) {
    const auto cols = static_cast<int64_t>(h.weight.size()) / h.rows;
    return WandaCase{h.rows, cols, h.weight, h.batches};
}

inline std::string hand_case_name(const ::testing::TestParamInfo<HandCase>& info) {
    std::string name = info.param.name;
    std::replace(name.begin(), name.end(), ' ', '_');
    return name;
}

}  // namespace mcomp::test
