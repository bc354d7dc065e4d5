// sparsegpt_reference.hpp: what the sparsegpt test suites share — a straightforward
// transcription of the reference (IST-DASLab/sparsegpt: sparsegpt.py add_batch and
// fasterprune, quant.py Quantizer), one layer with calibration samples run through the real
// host's layer runner, deterministic test inputs, and the comparison of two SparseGPT results
// that tolerates what floating point cannot promise.
//
// The transcription keeps H and its factorization in double and the weights in fp32 as the
// reference keeps them; the column loop is fasterprune's, one fp32 operation per written
// operation (the test targets compile with -ffp-contract=off). It also records, for every
// weight, how far its score sat from the boundary that decided its fate (the block threshold,
// or the n-th / (n+1)-th score of its N:M group), relative to that boundary: the "margin".
//
// Why a tolerant comparison: two correct implementations whose Hessians or factorizations
// round differently can order two scores that lie within rounding noise of each other (a
// "tie") differently; SparseGPT then feeds a different error into the rest of that row. Ties
// of the quantizer (w / scale within rounding noise of .5, codes one step apart) do the same.
// compare_results() walks each row in column order: before the row's first difference every
// mask bit and code must match and every weight agree within `weight_tol` (relative to the row's
// largest |w|); the first difference must be a tie (a mask flip whose reference margin is below
// `tie_margin`, or codes one step apart); the rest of a tied row is not compared. The caller
// bounds the number of tied rows.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "plugin_harness.hpp"

namespace mcomp::test {

// One layer and its calibration samples, each [tokens, cols].
struct SgptCase {
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t tokens = 0;
    std::vector<float> weight;                // [rows, cols]
    std::vector<std::vector<float>> samples;  // each [tokens, cols]
};

// One layer of `c` through technique `technique_id` with c's samples as calibration batches.
inline Expected<LayerResult> run_with_samples(std::string_view technique_id, const SgptCase& c,
                                              DeviceRequest device,
                                              const std::vector<ParamArg>& args) {
    auto technique = plugin_registry().load_technique(technique_id, device);
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

inline Expected<LayerResult> run_sparsegpt(const SgptCase& c, DeviceRequest device,
                                           const std::vector<ParamArg>& args) {
    return run_with_samples("sparsegpt", c, device, args);
}

// Weights N(0, 0.05); inputs with per-column scales spread over 1/4..4 and neighbouring columns
// correlated (so the error feedback matters).
inline SgptCase random_case(int64_t rows, int64_t cols, int64_t tokens, int64_t samples,
                            uint32_t seed) {
    SgptCase c;
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

// ---- the reference, transcribed -------------------------------------------------------------

struct RefOptions {
    double sparsity = 0.5;
    int n = 0;
    int m = 0;
    int block_size = 128;
    double percdamp = 0.01;
    int bits = 16;  // 16: no quantizer
    int group_size = -1;
    bool sym = false;
};

inline std::vector<ParamArg> args_of(const RefOptions& o) {
    return {{"sparsity", o.sparsity, ""},
            {"n", int64_t{o.n}, ""},
            {"m", int64_t{o.m}, ""},
            {"block_size", int64_t{o.block_size}, ""},
            {"damp", o.percdamp, ""},
            {"bits", int64_t{o.bits}, ""},
            {"group_size", int64_t{o.group_size}, ""},
            {"sym", o.sym, ""}};
}

inline std::string describe(const RefOptions& o) {
    std::string text = o.n > 0 ? std::to_string(o.n) + ":" + std::to_string(o.m)
                               : "sparsity " + std::to_string(o.sparsity);
    text += " block " + std::to_string(o.block_size) + " damp " + std::to_string(o.percdamp);
    if (o.bits < 16) {
        text += " bits " + std::to_string(o.bits) + " group " + std::to_string(o.group_size) +
                (o.sym ? " sym" : " asym");
    }
    return text;
}

struct RefGrid {
    float scale = 1.0f;
    float zero = 0.0f;
};

// quant.py Quantizer.find_params(x, weight=True), perchannel, mse off, on one row's slice.
inline RefGrid ref_find_params(const float* x, int64_t count, const RefOptions& o) {
    const float maxq = static_cast<float>((1 << o.bits) - 1);
    float xmin = std::min(0.0f, *std::min_element(x, x + count));
    float xmax = std::max(0.0f, *std::max_element(x, x + count));
    if (o.sym) {
        xmax = std::max(std::fabs(xmin), xmax);
        if (xmin < 0) {
            xmin = -xmax;
        }
    }
    if (xmin == 0 && xmax == 0) {
        xmin = -1;
        xmax = +1;
    }
    RefGrid g;
    g.scale = (xmax - xmin) / maxq;
    g.zero = o.sym ? (maxq + 1) / 2 : std::nearbyint(-xmin / g.scale);
    return g;
}

// Cholesky in double; false when a pivot is not positive (torch raises).
inline bool ref_cholesky(std::vector<double>& a, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        double d = a[j * n + j];
        for (int64_t k = 0; k < j; ++k) {
            d -= a[j * n + k] * a[j * n + k];
        }
        if (!(d > 0)) {
            return false;
        }
        a[j * n + j] = std::sqrt(d);
        for (int64_t i = j + 1; i < n; ++i) {
            double s = a[i * n + j];
            for (int64_t k = 0; k < j; ++k) {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / a[j * n + j];
        }
        for (int64_t i = 0; i < j; ++i) {
            a[i * n + j] = 0;
        }
    }
    return true;
}

// cholesky(cholesky_inverse(cholesky(H)), upper=True) in double.
inline bool ref_hinv(std::vector<double> h, int64_t n, std::vector<double>& u) {
    if (!ref_cholesky(h, n)) {
        return false;
    }
    std::vector<double> linv(static_cast<size_t>(n * n), 0.0);
    for (int64_t j = 0; j < n; ++j) {
        linv[j * n + j] = 1.0 / h[j * n + j];
        for (int64_t i = j + 1; i < n; ++i) {
            double s = 0;
            for (int64_t k = j; k < i; ++k) {
                s += h[i * n + k] * linv[k * n + j];
            }
            linv[i * n + j] = -s / h[i * n + i];
        }
    }
    std::vector<double> hinv(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t k = std::max(i, j); k < n; ++k) {
                s += linv[k * n + i] * linv[k * n + j];
            }
            hinv[i * n + j] = s;
        }
    }
    if (!ref_cholesky(hinv, n)) {
        return false;
    }
    u.assign(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = i; j < n; ++j) {
            u[i * n + j] = hinv[j * n + i];
        }
    }
    return true;
}

// add_batch(), once per sample, as a running mean of 2 X^T X (double).
inline std::vector<double> ref_hessian(const SgptCase& c) {
    const int64_t n = c.cols;
    std::vector<double> h(static_cast<size_t>(n * n), 0.0);
    int64_t nsamples = 0;
    for (const std::vector<float>& x : c.samples) {
        for (double& v : h) {
            v *= static_cast<double>(nsamples) / static_cast<double>(nsamples + 1);
        }
        nsamples += 1;
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t t = 0; t < c.tokens; ++t) {
                    s += static_cast<double>(x[t * n + i]) * x[t * n + j];
                }
                h[i * n + j] += 2.0 / static_cast<double>(nsamples) * s;
            }
        }
    }
    return h;
}

struct RefRun {
    LayerResult result;
    std::vector<float> margin;  // [rows, cols] relative distance from the deciding boundary
    double loss = 0.0;
};

// fasterprune's score: W1 ** 2 / diag(Hinv1) ** 2 in fp32.
inline float ref_score(float w, float d) {
    const float w2 = w * w;
    const float d2 = d * d;
    return w2 / d2;
}

inline float relative_gap(float a, float b) {
    const float scale = std::max(std::fabs(a), std::fabs(b));
    return scale > 0.0f ? std::fabs(a - b) / scale : 0.0f;
}

// Unstructured: mask1 = tmp <= sort(tmp.flatten())[int(numel * sparsity)] over the block tile.
inline void ref_block_mask(const std::vector<float>& w, const std::vector<float>& u, int64_t rows,
                           int64_t n, int64_t i1, int64_t count, double sparsity,
                           std::vector<uint8_t>& pruned, std::vector<float>& margin) {
    std::vector<float> tmp(static_cast<size_t>(rows * count));
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < count; ++i) {
            tmp[r * count + i] = ref_score(w[r * n + i1 + i], u[(i1 + i) * n + i1 + i]);
        }
    }
    std::vector<float> sorted = tmp;
    std::sort(sorted.begin(), sorted.end());
    const auto k = static_cast<int64_t>(static_cast<double>(tmp.size()) * sparsity);
    const float thresh = sorted[k];
    pruned.assign(tmp.size(), 0);
    for (size_t e = 0; e < tmp.size(); ++e) {
        pruned[e] = tmp[e] <= thresh ? 1 : 0;
        const int64_t r = static_cast<int64_t>(e) / count;
        margin[r * n + i1 + static_cast<int64_t>(e) % count] = relative_gap(tmp[e], thresh);
    }
}

// N:M at block column i: topk(tmp, n, largest=False) of W1[:, i:i+m] ** 2 / d ** 2 for one row
// (ties: lower column first). Margins: the gap between the n-th and (n+1)-th lowest.
inline void ref_group_mask(const float* w1, const std::vector<float>& u, int64_t n, int64_t i1,
                           int64_t i, const RefOptions& o, uint8_t* pruned, float* margin) {
    std::vector<float> tmp(static_cast<size_t>(o.m));
    for (int k = 0; k < o.m; ++k) {
        const int64_t c = i1 + i + k;
        tmp[k] = ref_score(w1[i + k], u[c * n + c]);
    }
    std::vector<int> order(static_cast<size_t>(o.m));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return tmp[a] < tmp[b]; });
    const float gap = relative_gap(tmp[order[o.n - 1]], tmp[order[o.n]]);
    for (int k = 0; k < o.m; ++k) {
        margin[i + k] = gap;
    }
    for (int k = 0; k < o.n; ++k) {
        pruned[i + order[k]] = 1;
    }
}

inline RefRun reference_sparsegpt(const SgptCase& c, const RefOptions& o) {
    const int64_t rows = c.rows;
    const int64_t n = c.cols;
    const bool quant = o.bits < 16;
    const float maxq = static_cast<float>((1 << o.bits) - 1);
    std::vector<double> h = ref_hessian(c);
    std::vector<float> w = c.weight;
    const int64_t g = o.group_size;
    const int64_t groups = quant ? (g > 0 ? (n + g - 1) / g : 1) : 0;
    RefRun run;
    LayerResult& res = run.result;
    res.out_features = rows;
    res.in_features = n;
    res.num_groups = groups;
    res.weight.assign(w.size(), 0.0f);
    res.mask.assign(w.size(), 1);
    res.codes.assign(quant ? w.size() : 0, 0);
    res.scales.assign(static_cast<size_t>(rows * groups), 0.0f);
    res.zeros.assign(static_cast<size_t>(rows * groups), 0.0f);
    res.g_idx.assign(quant ? static_cast<size_t>(n) : 0, 0);
    run.margin.assign(w.size(), INFINITY);

    std::vector<RefGrid> current(static_cast<size_t>(rows));
    if (quant && g <= 0) {
        for (int64_t r = 0; r < rows; ++r) {
            current[r] = ref_find_params(w.data() + r * n, n, o);  // before the dead columns
            res.scales[r] = current[r].scale;
            res.zeros[r] = current[r].zero;
        }
    }
    for (int64_t i = 0; i < n; ++i) {
        if (h[i * n + i] == 0) {
            h[i * n + i] = 1;
            for (int64_t r = 0; r < rows; ++r) {
                w[r * n + i] = 0;
            }
        }
    }
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) {
        mean += h[i * n + i] / static_cast<double>(n);
    }
    for (int64_t i = 0; i < n; ++i) {
        h[i * n + i] += o.percdamp * mean;
    }
    std::vector<double> ud;
    EXPECT_TRUE(ref_hinv(h, n, ud)) << "the reference's Cholesky failed";
    const std::vector<float> u(ud.begin(), ud.end());

    for (int64_t i1 = 0; i1 < n; i1 += o.block_size) {
        const int64_t i2 = std::min<int64_t>(i1 + o.block_size, n);
        const int64_t count = i2 - i1;
        std::vector<uint8_t> tile_pruned;
        if (o.n == 0) {
            ref_block_mask(w, u, rows, n, i1, count, o.sparsity, tile_pruned, run.margin);
        }
        std::vector<float> err1(static_cast<size_t>(rows * count), 0.0f);
        for (int64_t r = 0; r < rows; ++r) {
            std::vector<float> w1(w.begin() + r * n + i1, w.begin() + r * n + i2);
            std::vector<uint8_t> mask1(static_cast<size_t>(count), 0);
            if (o.n == 0) {
                std::copy(tile_pruned.begin() + r * count, tile_pruned.begin() + (r + 1) * count,
                          mask1.begin());
            }
            for (int64_t i = 0; i < count; ++i) {
                const int64_t col = i1 + i;
                if (o.n != 0 && i % o.m == 0) {
                    ref_group_mask(w1.data(), u, n, i1, i, o, mask1.data(),
                                   run.margin.data() + r * n + i1);
                }
                if (quant && g > 0 && col % g == 0) {
                    // find_params(W[:, col:col+g]) on W, not the working copy W1 (as gptq).
                    current[r] = ref_find_params(w.data() + r * n + col, std::min(g, n - col), o);
                    res.scales[r * groups + col / g] = current[r].scale;
                    res.zeros[r * groups + col / g] = current[r].zero;
                }
                const float x = w1[i];
                const float d = u[col * n + col];
                float q = mask1[i] != 0 ? 0.0f : x;
                if (quant) {
                    const RefGrid& grid = current[r];
                    const float code =
                        std::clamp(std::nearbyint(q / grid.scale) + grid.zero, 0.0f, maxq);
                    res.codes[r * n + col] = static_cast<uint8_t>(code);
                    q = grid.scale * (code - grid.zero);
                }
                res.weight[r * n + col] = q;
                res.mask[r * n + col] = mask1[i] != 0 ? 0 : 1;
                const float diff = x - q;
                run.loss += static_cast<double>(diff) * diff / (static_cast<double>(d) * d) / 2;
                const float e = diff / d;
                for (int64_t j = i; j < count; ++j) {
                    const float product = e * u[col * n + i1 + j];
                    w1[j] = w1[j] - product;
                }
                err1[r * count + i] = e;
            }
        }
        // W[:, i2:] -= Err1 Hinv[i1:i2, i2:]
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t j = i2; j < n; ++j) {
                double s = 0;
                for (int64_t k = 0; k < count; ++k) {
                    s += static_cast<double>(err1[r * count + k]) * u[(i1 + k) * n + j];
                }
                w[r * n + j] -= static_cast<float>(s);
            }
        }
    }
    if (quant) {
        for (int64_t p = 0; p < n; ++p) {
            res.g_idx[p] = g > 0 ? static_cast<int32_t>(p / g) : 0;
        }
    }
    return run;
}

// ---- comparing two results --------------------------------------------------------------------

struct Comparison {
    int64_t tied_rows = 0;
    int64_t compared = 0;           // weights compared (before each row's tie)
    double max_weight_error = 0.0;  // relative to the row's largest |w|, before ties
    double max_tie_margin = 0.0;    // the largest reference margin of an accepted mask tie
    std::string problem;            // the first hard mismatch, "" when none
};

// `margin`: the reference margins of `expected`'s data (see above).
inline Comparison compare_results(const LayerResult& actual, const LayerResult& expected,
                                  const std::vector<float>& original_weight,
                                  const std::vector<float>& margin, double weight_tol,
                                  double tie_margin) {
    Comparison cmp;
    const int64_t rows = expected.out_features;
    const int64_t cols = expected.in_features;
    const auto fail = [&](const std::string& what) {
        if (cmp.problem.empty()) {
            cmp.problem = what;
        }
    };
    const bool quant = !expected.codes.empty();
    if (actual.mask.size() != expected.mask.size() ||
        actual.codes.size() != expected.codes.size() || actual.g_idx != expected.g_idx ||
        actual.num_groups != expected.num_groups) {
        fail("shapes, outputs or g_idx differ");
        return cmp;
    }
    for (int64_t r = 0; r < rows; ++r) {
        float row_max = 0.0f;
        for (int64_t j = 0; j < cols; ++j) {
            row_max = std::max(row_max, std::fabs(original_weight[r * cols + j]));
        }
        const std::string where_row = "row " + std::to_string(r);
        for (int64_t j = 0; j < cols; ++j) {
            const int64_t e = r * cols + j;
            const std::string where = where_row + " column " + std::to_string(j);
            if (actual.mask[e] != expected.mask[e]) {
                if (!(margin[e] <= tie_margin)) {
                    fail(where + ": mask " + std::to_string(actual.mask[e]) + ", expected " +
                         std::to_string(expected.mask[e]) + " with margin " +
                         std::to_string(margin[e]));
                }
                cmp.max_tie_margin = std::max(cmp.max_tie_margin, static_cast<double>(margin[e]));
                cmp.tied_rows += 1;
                break;
            }
            if (quant && actual.codes[e] != expected.codes[e]) {
                if (std::abs(actual.codes[e] - expected.codes[e]) != 1) {
                    fail(where + ": code " + std::to_string(actual.codes[e]) + ", expected " +
                         std::to_string(expected.codes[e]));
                }
                cmp.tied_rows += 1;
                break;
            }
            cmp.compared += 1;
            const double err =
                std::fabs(static_cast<double>(actual.weight[e]) - expected.weight[e]);
            const double rel = err / std::max(static_cast<double>(row_max), 1e-30);
            cmp.max_weight_error = std::max(cmp.max_weight_error, rel);
            if (rel > weight_tol) {
                fail(where + ": weight " + std::to_string(actual.weight[e]) + " vs " +
                     std::to_string(expected.weight[e]));
            }
            if (expected.mask[e] == 0 && actual.weight[e] != 0.0f) {
                fail(where + ": a pruned weight is " + std::to_string(actual.weight[e]));
            }
        }
    }
    if (quant) {
        for (size_t k = 0; k < expected.scales.size(); ++k) {
            // Grids are fit before any tie can matter only for group_size -1; grouped grids of a
            // tied row may differ, so compare the first group of each row only.
            if (expected.num_groups == 1 || k % static_cast<size_t>(expected.num_groups) == 0) {
                const double rel =
                    std::fabs(actual.scales[k] - expected.scales[k]) /
                    std::max(std::fabs(static_cast<double>(expected.scales[k])), 1e-30);
                if (rel > 1e-6 || actual.zeros[k] != expected.zeros[k]) {
                    fail("grid " + std::to_string(k) + ": scale " +
                         std::to_string(actual.scales[k]) + " zero " +
                         std::to_string(actual.zeros[k]) + ", expected " +
                         std::to_string(expected.scales[k]) + " / " +
                         std::to_string(expected.zeros[k]));
                }
            }
        }
    }
    return cmp;
}

}  // namespace mcomp::test
