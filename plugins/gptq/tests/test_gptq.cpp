// test_gptq.cpp: the CPU backend of `gptq`, loaded and run through the real host, against a
// plain transcription of the reference written here (IST-DASLab/gptq: gptq.py add_batch and
// fasterquant, quant.py Quantizer) — H and its factorization in double, the weights in fp32 as
// the reference keeps them — on small layers: sym/asym, every bit width, groups (dividing the
// block or not, wider than the block), act-order, static groups, dead columns, the damping
// retry on a singular H, the mse grid, and block sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gptq_test_support.hpp"

namespace mcomp::test {
namespace {

// ---- the reference, transcribed -------------------------------------------------------------

struct RefOptions {
    int bits = 4;
    int group_size = -1;
    bool sym = false;
    bool act_order = false;
    bool static_groups = false;
    double percdamp = 0.01;
    double damp_increment = 0.0025;
    int block_size = 128;
    bool mse = false;
    bool keep_zeros = false;
};

struct RefGrid {
    float scale = 1.0f;
    float zero = 0.0f;
};

// quant.py Quantizer.find_params(x, weight=True), perchannel, on one row's slice.
RefGrid ref_find_params(const float* x, int64_t count, const RefOptions& o) {
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
    if (!o.mse) {
        return g;
    }
    double best = INFINITY;
    const RefGrid base = g;
    for (int i = 0; i < static_cast<int>(0.8 * 100); ++i) {
        const float p = static_cast<float>(1.0 - i / 100.0);
        const float xmin1 = p * xmin;
        const float xmax1 = p * xmax;
        const float scale1 = (xmax1 - xmin1) / maxq;
        const float zero1 = o.sym ? base.zero : std::nearbyint(-xmin1 / scale1);
        double err = 0.0;
        for (int64_t k = 0; k < count; ++k) {
            const float q = std::clamp(std::nearbyint(x[k] / scale1) + zero1, 0.0f, maxq);
            err += std::pow(std::fabs(scale1 * (q - zero1) - x[k]), 2.4);
        }
        if (err < best) {
            best = err;
            g = {scale1, zero1};
        }
    }
    return g;
}

// Cholesky in double; false when a pivot is not positive (torch raises).
bool ref_cholesky(std::vector<double>& a, int64_t n) {
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

// cholesky(cholesky_inverse(cholesky(H)), upper=True), or false when a factorization fails.
bool ref_hinv(std::vector<double> h, int64_t n, std::vector<double>& u) {
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

struct RefRun {
    LayerResult result;
    std::vector<int32_t> perm;
    double percdamp = 0.0;
};

RefRun reference_gptq(const GptqCase& c, const RefOptions& o) {
    const int64_t rows = c.rows;
    const int64_t n = c.cols;
    const float maxq = static_cast<float>((1 << o.bits) - 1);
    // add_batch(), once per sample, as a running mean of 2 X^T X.
    std::vector<double> h(static_cast<size_t>(n * n), 0.0);
    int64_t nsamples = 0;
    for (const std::vector<float>& x : c.samples) {
        for (double& v : h) {
            v *= static_cast<double>(nsamples) / (nsamples + 1);
        }
        nsamples += 1;
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t t = 0; t < c.tokens; ++t) {
                    s += static_cast<double>(x[t * n + i]) * x[t * n + j];
                }
                h[i * n + j] += 2.0 / nsamples * s;
            }
        }
    }
    std::vector<float> w = c.weight;
    const std::vector<float> entry = c.weight;  // keep_zeros masks the zeros of the input
    const int64_t g = o.group_size;
    const int64_t groups = g > 0 ? (n + g - 1) / g : 1;
    RefRun run;
    LayerResult& res = run.result;
    res.out_features = rows;
    res.in_features = n;
    res.num_groups = groups;
    res.codes.assign(w.size(), 0);
    res.weight.assign(w.size(), 0.0f);
    res.scales.assign(static_cast<size_t>(rows * groups), 0.0f);
    res.zeros.assign(static_cast<size_t>(rows * groups), 0.0f);
    res.g_idx.assign(static_cast<size_t>(n), 0);

    std::vector<RefGrid> current(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        current[r] = ref_find_params(w.data() + r * n, n, o);  // before the dead columns
    }
    for (int64_t i = 0; i < n; ++i) {
        if (h[i * n + i] == 0) {
            h[i * n + i] = 1;
            for (int64_t r = 0; r < rows; ++r) {
                w[r * n + i] = 0;
            }
        }
    }
    std::vector<RefGrid> statics;
    if (o.static_groups && g > 0) {
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t k = 0; k < groups; ++k) {
                statics.push_back(
                    ref_find_params(w.data() + r * n + k * g, std::min(g, n - k * g), o));
            }
        }
    }
    run.perm.resize(static_cast<size_t>(n));
    std::iota(run.perm.begin(), run.perm.end(), 0);
    if (o.act_order) {
        std::stable_sort(run.perm.begin(), run.perm.end(),
                         [&](int32_t a, int32_t b) { return h[a * n + a] > h[b * n + b]; });
        std::vector<double> hp(h.size());
        std::vector<float> wp(w.size());
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = 0; j < n; ++j) {
                hp[i * n + j] = h[run.perm[i] * n + run.perm[j]];
            }
            for (int64_t r = 0; r < rows; ++r) {
                wp[r * n + i] = w[r * n + run.perm[i]];
            }
        }
        h.swap(hp);
        w.swap(wp);
    }
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) {
        mean += h[i * n + i] / n;
    }
    std::vector<double> ud;
    for (run.percdamp = o.percdamp;; run.percdamp += o.damp_increment) {
        std::vector<double> hd = h;
        for (int64_t i = 0; i < n; ++i) {
            hd[i * n + i] += run.percdamp * mean;
        }
        if (ref_hinv(hd, n, ud)) {
            break;
        }
    }
    const std::vector<float> hinv(ud.begin(), ud.end());

    const int64_t bs = o.block_size;
    for (int64_t i1 = 0; i1 < n; i1 += bs) {
        const int64_t i2 = std::min(i1 + bs, n);
        const int64_t count = i2 - i1;
        std::vector<float> err1(static_cast<size_t>(rows * count), 0.0f);
        for (int64_t r = 0; r < rows; ++r) {
            std::vector<float> w1(w.begin() + r * n + i1, w.begin() + r * n + i2);
            for (int64_t i = 0; i < count; ++i) {
                const int64_t col = i1 + i;
                if (g > 0) {
                    if (!(o.static_groups)) {
                        if (col % g == 0) {
                            // find_params(W[:, col:col+g]): W, not the working copy W1.
                            current[r] =
                                ref_find_params(w.data() + r * n + col, std::min(g, n - col), o);
                            res.scales[r * groups + col / g] = current[r].scale;
                            res.zeros[r * groups + col / g] = current[r].zero;
                        }
                    } else {
                        current[r] = statics[r * groups + run.perm[col] / g];
                    }
                }
                const RefGrid q = current[r];
                const float x = w1[i];
                const float d = hinv[col * n + col];
                // keep_zeros: sparsegpt.py's `q[mask] = 0; q = quantize(q)` with the mask of
                // the input's zeros; the error is still x - q.
                const bool masked = o.keep_zeros && entry[r * n + run.perm[col]] == 0.0f;
                const float kept = masked ? 0.0f : x;
                const float code = std::clamp(std::nearbyint(kept / q.scale) + q.zero, 0.0f, maxq);
                const float deq = q.scale * (code - q.zero);
                const float e = (x - deq) / d;
                res.codes[r * n + run.perm[col]] = static_cast<uint8_t>(code);
                res.weight[r * n + run.perm[col]] = deq;
                for (int64_t j = i; j < count; ++j) {
                    const float product = e * hinv[col * n + i1 + j];
                    w1[j] = w1[j] - product;
                }
                err1[r * count + i] = e;
            }
            // W[:, i2:] -= Err1 Hinv[i1:i2, i2:]
            for (int64_t j = i2; j < n; ++j) {
                double s = 0;
                for (int64_t k = 0; k < count; ++k) {
                    s += static_cast<double>(err1[r * count + k]) * hinv[(i1 + k) * n + j];
                }
                w[r * n + j] -= static_cast<float>(s);
            }
        }
    }
    if (g <= 0) {
        for (int64_t r = 0; r < rows; ++r) {
            res.scales[r] = current[r].scale;
            res.zeros[r] = current[r].zero;
        }
    } else if (o.static_groups) {
        for (size_t k = 0; k < statics.size(); ++k) {
            res.scales[k] = statics[k].scale;
            res.zeros[k] = statics[k].zero;
        }
    }
    for (int64_t p = 0; p < n; ++p) {
        if (g > 0) {
            res.g_idx[run.perm[p]] =
                static_cast<int32_t>(o.static_groups ? run.perm[p] / g : p / g);
        }
    }
    return run;
}

// ---- running the plugin -----------------------------------------------------------------------

std::vector<ParamArg> args_of(const RefOptions& o) {
    return {{"bits", int64_t{o.bits}, ""},
            {"group_size", int64_t{o.group_size}, ""},
            {"sym", o.sym, ""},
            {"act_order", o.act_order, ""},
            {"static_groups", o.static_groups, ""},
            {"damp", o.percdamp, ""},
            {"damp_auto_increment", o.damp_increment, ""},
            {"block_size", int64_t{o.block_size}, ""},
            {"mse", o.mse, ""},
            {"keep_zeros", o.keep_zeros, ""}};
}

std::string describe(const RefOptions& o) {
    return "bits " + std::to_string(o.bits) + " group_size " + std::to_string(o.group_size) +
           (o.sym ? " sym" : " asym") + (o.act_order ? " act_order" : "") +
           (o.static_groups ? " static_groups" : "") + (o.mse ? " mse" : "") +
           (o.keep_zeros ? " keep_zeros" : "") + " block " + std::to_string(o.block_size) +
           " damp " + std::to_string(o.percdamp);
}

// Runs the plugin and the reference and expects the same codes (no tie) and weights, scales
// within 2e-4 of a quantization step.
void expect_matches_reference(const GptqCase& c, const RefOptions& o) {
    SCOPED_TRACE(describe(o));
    auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    const RefRun ref = reference_gptq(c, o);
    EXPECT_EQ(result->outputs, static_cast<uint32_t>(MC_RESULT_QUANT));
    EXPECT_EQ(result->bits, o.bits);
    EXPECT_EQ(result->group_size, o.group_size);
    EXPECT_EQ(result->sym, o.sym ? 1 : 0);
    const Comparison cmp = compare_results(*result, ref.result, ref.perm, 2e-4);
    EXPECT_EQ(cmp.problem, "");
    EXPECT_EQ(cmp.tied_rows, 0);
    EXPECT_EQ(cmp.compared_codes, c.rows * c.cols);
}

TEST(Gptq, MatchesTheReferenceOverBitsGroupsAndSymmetry) {
    const GptqCase c = random_gptq_case(12, 160, 24, 5, 101);
    for (const int bits : {2, 3, 4, 8}) {
        for (const bool sym : {false, true}) {
            for (const int group_size : {-1, 32, 48, 200}) {
                RefOptions o;
                o.bits = bits;
                o.sym = sym;
                o.group_size = group_size;
                expect_matches_reference(c, o);
            }
        }
    }
}

TEST(Gptq, MatchesTheReferenceWithActOrderAndStaticGroups) {
    const GptqCase c = random_gptq_case(10, 192, 32, 4, 202);
    for (const bool act_order : {false, true}) {
        for (const bool static_groups : {false, true}) {
            for (const int group_size : {-1, 32, 64, 100}) {
                RefOptions o;
                o.bits = 4;
                o.group_size = group_size;
                o.act_order = act_order;
                o.static_groups = static_groups;
                expect_matches_reference(c, o);
                o.bits = 3;
                o.sym = true;
                expect_matches_reference(c, o);
            }
        }
    }
}

TEST(Gptq, ActOrderRecordsTheGroupOfEveryOriginalColumn) {
    const GptqCase c = random_gptq_case(6, 96, 16, 3, 303);
    RefOptions o;
    o.group_size = 32;
    o.act_order = true;
    auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    const RefRun ref = reference_gptq(c, o);
    // g_idx[perm[i]] = i // group_size, and the dequantized weight uses exactly that group.
    for (int64_t i = 0; i < c.cols; ++i) {
        EXPECT_EQ(result->g_idx[ref.perm[i]], i / 32);
    }
    EXPECT_EQ(result->desc_act, 1);
    for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t j = 0; j < c.cols; ++j) {
            const int64_t gi = r * result->num_groups + result->g_idx[j];
            const float expected =
                result->scales[gi] *
                (static_cast<float>(result->codes[r * c.cols + j]) - result->zeros[gi]);
            EXPECT_EQ(result->weight[r * c.cols + j], expected);
        }
    }
    // Without act-order g_idx is monotonic and desc_act stays 0.
    o.act_order = false;
    auto plain = run_gptq(c, DeviceRequest::cpu, args_of(o));
    ASSERT_TRUE(plain.has_value()) << plain.error().message;
    EXPECT_EQ(plain->desc_act, 0);
}

TEST(Gptq, BlockSizeChangesOnlyWhereTheReferenceFitsGroupsOnStaleWeights) {
    // Groups that start inside a block are fit on W before the block's own updates (the
    // reference's find_params reads W, not W1), so block sizes give different results there.
    const GptqCase c = random_gptq_case(8, 128, 24, 3, 404);
    for (const int block_size : {1, 17, 32, 64, 128}) {
        RefOptions o;
        o.group_size = 16;
        o.block_size = block_size;
        expect_matches_reference(c, o);
    }
}

TEST(Gptq, MatchesTheReferenceWithTheMseGrid) {
    const GptqCase c = random_gptq_case(8, 96, 16, 3, 505);
    for (const bool sym : {false, true}) {
        for (const int group_size : {-1, 32}) {
            RefOptions o;
            o.mse = true;
            o.sym = sym;
            o.group_size = group_size;
            o.bits = 3;
            expect_matches_reference(c, o);
        }
    }
}

// ---- keep_zeros ------------------------------------------------------------------------------

// `c` with about half of its weights set to exactly 0 in a 2:4 pattern (the two smallest of
// every four consecutive inputs), as a 2:4 pruner leaves them.
GptqCase two_of_four_case(GptqCase c) {
    for (int64_t e = 0; e < c.rows * c.cols; e += 4) {
        int64_t order[4] = {e, e + 1, e + 2, e + 3};
        std::sort(order, order + 4, [&](int64_t a, int64_t b) {
            return std::fabs(c.weight[a]) < std::fabs(c.weight[b]);
        });
        c.weight[order[0]] = 0.0f;
        c.weight[order[1]] = 0.0f;
    }
    return c;
}

int64_t zeros_lost(const GptqCase& c, const std::vector<float>& weight) {
    int64_t lost = 0;
    for (size_t e = 0; e < weight.size(); ++e) {
        lost += c.weight[e] == 0.0f && weight[e] != 0.0f ? 1 : 0;
    }
    return lost;
}

TEST(Gptq, KeepZerosKeepsEveryZeroAndMatchesTheReference) {
    const GptqCase c = two_of_four_case(random_gptq_case(12, 160, 24, 5, 808));
    for (const int bits : {2, 3, 4, 8}) {
        for (const bool act_order : {false, true}) {
            for (const int group_size : {-1, 32}) {
                RefOptions o;
                o.bits = bits;
                o.sym = bits == 3;
                o.act_order = act_order;
                o.group_size = group_size;
                o.keep_zeros = true;
                expect_matches_reference(c, o);
                auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
                ASSERT_TRUE(result.has_value()) << result.error().message;
                EXPECT_EQ(zeros_lost(c, result->weight), 0);
                for (size_t e = 0; e < c.weight.size(); ++e) {
                    if (c.weight[e] == 0.0f) {  // stored at the zero point
                        const int64_t gi = static_cast<int64_t>(e) / c.cols * result->num_groups +
                                           result->g_idx[e % c.cols];
                        ASSERT_EQ(static_cast<float>(result->codes[e]), result->zeros[gi]);
                    }
                }
            }
        }
    }
}

TEST(Gptq, WithoutKeepZerosTheErrorFeedbackMovesZeros) {
    // The default is the plain reference: the zeros are not special, and some move.
    const GptqCase c = two_of_four_case(random_gptq_case(12, 160, 24, 5, 808));
    RefOptions o;
    expect_matches_reference(c, o);
    auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_GT(zeros_lost(c, result->weight), 0);
}

// ---- dead columns and damping -----------------------------------------------------------------

TEST(Gptq, DeadColumnsAreZeroedAndMatchTheReference) {
    GptqCase c = random_gptq_case(8, 64, 16, 3, 606);
    for (std::vector<float>& x : c.samples) {
        for (int64_t t = 0; t < c.tokens; ++t) {
            x[t * c.cols + 5] = 0.0f;
            x[t * c.cols + 40] = 0.0f;
        }
    }
    for (const bool act_order : {false, true}) {
        RefOptions o;
        o.group_size = 16;
        o.act_order = act_order;
        expect_matches_reference(c, o);
        auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
        ASSERT_TRUE(result.has_value()) << result.error().message;
        for (int64_t r = 0; r < c.rows; ++r) {
            EXPECT_EQ(result->weight[r * c.cols + 5], 0.0f);
            EXPECT_EQ(result->weight[r * c.cols + 40], 0.0f);
        }
    }
    // group_size -1 fits each row's grid before the dead columns are zeroed.
    RefOptions o;
    expect_matches_reference(c, o);
}

// A singular H: a zero first sample, then integer inputs whose columns 0 and 1 are equal, so
// H = X^T X exactly (n = 2 makes sqrt(2 / n) = 1) and its Cholesky meets a zero pivot.
GptqCase singular_case() {
    GptqCase c = random_gptq_case(6, 24, 8, 2, 707);
    std::fill(c.samples[0].begin(), c.samples[0].end(), 0.0f);
    std::mt19937 rng(7);
    for (int64_t t = 0; t < c.tokens; ++t) {
        for (int64_t j = 0; j < c.cols; ++j) {
            c.samples[1][t * c.cols + j] = static_cast<float>(static_cast<int>(rng() % 7) - 3);
        }
        c.samples[1][t * c.cols + 0] = t < 4 ? 1.0f : 0.0f;
        c.samples[1][t * c.cols + 1] = t < 4 ? 1.0f : 0.0f;
    }
    return c;
}

TEST(Gptq, SingularHessianIsRetriedWithMoreDamping) {
    const GptqCase c = singular_case();
    RefOptions o;
    o.percdamp = 0.0;
    o.group_size = 8;
    const RefRun ref = reference_gptq(c, o);
    EXPECT_NEAR(ref.percdamp, 0.0025, 1e-12);  // the reference transcription needed one retry
    expect_matches_reference(c, o);
    auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    for (const float w : result->weight) {
        EXPECT_TRUE(std::isfinite(w));
    }
}

TEST(Gptq, SingularHessianWithoutRetryFailsWithAHint) {
    const GptqCase c = singular_case();
    RefOptions o;
    o.percdamp = 0.0;
    o.damp_increment = 0.0;
    auto result = run_gptq(c, DeviceRequest::cpu, args_of(o));
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'gptq' technique 'gptq': finish_layer failed with MC_ERR_NUMERICAL: gptq: "
              "layer test.layer: the Cholesky factorization of H failed at column 1 with damp = "
              "0 after 1 attempt(s); HINT: raise `damp` or `damp_auto_increment`, or calibrate "
              "with more samples");
}

// ---- against the rtn plugin -------------------------------------------------------------------

TEST(Gptq, WithUncorrelatedInputsEqualsRtnBitForBit) {
    // X = I makes H diagonal: no error feedback, so GPTQ is round-to-nearest on the same grid.
    GptqCase c = random_gptq_case(9, 96, 96, 1, 808);
    std::fill(c.samples[0].begin(), c.samples[0].end(), 0.0f);
    for (int64_t t = 0; t < c.tokens; ++t) {
        c.samples[0][t * c.cols + t] = 1.0f;
    }
    for (const bool sym : {false, true}) {
        for (const int group_size : {-1, 32}) {
            SCOPED_TRACE(std::string(sym ? "sym" : "asym") + " group " +
                         std::to_string(group_size));
            const std::vector<ParamArg> args = {{"bits", int64_t{4}, ""},
                                                {"group_size", int64_t{group_size}, ""},
                                                {"sym", sym, ""}};
            auto gptq = run_gptq(c, DeviceRequest::cpu, args);
            ASSERT_TRUE(gptq.has_value()) << gptq.error().message;
            auto rtn = run_technique("rtn", DeviceRequest::cpu, args, {c.rows, c.cols, c.weight});
            ASSERT_TRUE(rtn.has_value()) << rtn.error().message;
            EXPECT_EQ(first_difference(gptq->codes, rtn->codes), -1);
            EXPECT_EQ(first_difference(gptq->weight, rtn->weight), -1);
            EXPECT_EQ(first_difference(gptq->scales, rtn->scales), -1);
            EXPECT_EQ(first_difference(gptq->zeros, rtn->zeros), -1);
            EXPECT_EQ(gptq->g_idx, rtn->g_idx);
        }
    }
}

TEST(Gptq, ReducesTheLayerOutputErrorBelowRtn) {
    // What GPTQ is for: || X W^T - X Q^T || smaller than round-to-nearest's on the same grid.
    const GptqCase c = random_gptq_case(32, 128, 64, 4, 909);
    const std::vector<ParamArg> args = {{"bits", int64_t{3}, ""}, {"group_size", int64_t{-1}, ""}};
    auto gptq = run_gptq(c, DeviceRequest::cpu, args);
    auto rtn = run_technique("rtn", DeviceRequest::cpu, args, {c.rows, c.cols, c.weight});
    ASSERT_TRUE(gptq.has_value()) << gptq.error().message;
    ASSERT_TRUE(rtn.has_value()) << rtn.error().message;
    const auto output_error = [&](const std::vector<float>& q) {
        double total = 0;
        for (const std::vector<float>& x : c.samples) {
            for (int64_t t = 0; t < c.tokens; ++t) {
                for (int64_t r = 0; r < c.rows; ++r) {
                    double diff = 0;
                    for (int64_t j = 0; j < c.cols; ++j) {
                        diff += x[t * c.cols + j] *
                                (static_cast<double>(c.weight[r * c.cols + j]) - q[r * c.cols + j]);
                    }
                    total += diff * diff;
                }
            }
        }
        return total;
    };
    EXPECT_LT(output_error(gptq->weight), 0.7 * output_error(rtn->weight));
}

TEST(Gptq, OneInstanceQuantizesLayersOfDifferentShapes) {
    auto technique = plugin_registry().load_technique("gptq", DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value()) << technique.error().message;
    RefOptions o;
    o.group_size = 16;
    auto params = bind_params(*technique->manifest, args_of(o));
    ASSERT_TRUE(params.has_value()) << params.error().message;
    auto instance = LayerTechniqueInstance::create(*technique, *params);
    ASSERT_TRUE(instance.has_value()) << instance.error().message;
    EXPECT_TRUE((*instance)->needs_inputs());
    uint32_t seed = 1;
    for (const auto& [rows, cols] : {std::pair{4, 40}, std::pair{9, 16}, std::pair{3, 130}}) {
        const GptqCase c = random_gptq_case(rows, cols, 12, 2, ++seed);
        LayerInput input;
        input.out_features = rows;
        input.in_features = cols;
        input.weight = c.weight;
        for (const std::vector<float>& sample : c.samples) {
            input.batches.emplace_back(sample);
        }
        auto result = (*instance)->run(input);
        ASSERT_TRUE(result.has_value()) << result.error().message;
        const RefRun ref = reference_gptq(c, o);
        const Comparison cmp = compare_results(*result, ref.result, ref.perm, 2e-4);
        EXPECT_EQ(cmp.problem, "");
        EXPECT_EQ(cmp.tied_rows, 0);
    }
}

}  // namespace
}  // namespace mcomp::test
