// test_sparsegpt.cpp: the CPU backend of `sparsegpt`, loaded and run through the real host,
// against the transcription of the reference in sparsegpt_reference.hpp (IST-DASLab/sparsegpt
// sparsegpt.py fasterprune, quant.py) on small layers — unstructured at several sparsities and
// block sizes, N:M, joint quantization (per row and grouped, asym and sym), dead columns, the
// damping retry — and the exact semantics that need no tolerance: the per-block threshold over
// the whole [rows, block] tile (ties at the threshold all pruned), exactly n of every m.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "sparsegpt_reference.hpp"

namespace mcomp::test {
namespace {

// Plugin vs transcription: weights within 1e-4 of the row's largest |w| before a tie; a mask
// tie only where the reference's scores sit within 1e-3 of the boundary; few tied rows.
void expect_matches_reference(const SgptCase& c, const RefOptions& o) {
    SCOPED_TRACE(describe(o));
    auto result = run_sparsegpt(c, DeviceRequest::cpu, args_of(o));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    const RefRun ref = reference_sparsegpt(c, o);
    const uint32_t outputs = static_cast<uint32_t>(MC_RESULT_MASK) |
                             (o.bits < 16 ? static_cast<uint32_t>(MC_RESULT_QUANT) : 0u);
    EXPECT_EQ(result->outputs, outputs);
    if (o.bits < 16) {
        EXPECT_EQ(result->bits, o.bits);
        EXPECT_EQ(result->group_size, o.group_size);
        EXPECT_EQ(result->sym, o.sym ? 1 : 0);
        EXPECT_EQ(result->desc_act, 0);
    }
    const Comparison cmp = compare_results(*result, ref.result, c.weight, ref.margin, 1e-4, 1e-3);
    EXPECT_EQ(cmp.problem, "");
    EXPECT_LE(cmp.tied_rows, c.rows / 8);
    EXPECT_GE(cmp.compared, c.rows * c.cols * 7 / 8);
}

TEST(SparseGpt, MatchesTheReferenceUnstructured) {
    const SgptCase c = random_case(16, 160, 32, 4, 101);
    for (const double sparsity : {0.0, 0.3, 0.5, 0.7}) {
        for (const int block_size : {128, 32, 17}) {
            RefOptions o;
            o.sparsity = sparsity;
            o.block_size = block_size;
            expect_matches_reference(c, o);
        }
    }
}

TEST(SparseGpt, MatchesTheReferenceNOfM) {
    const SgptCase c = random_case(16, 192, 32, 4, 202);
    for (const auto& [n, m] :
         {std::pair{2, 4}, std::pair{4, 8}, std::pair{1, 4}, std::pair{3, 6}}) {
        for (const int block_size : {128, 48, 24}) {
            if (block_size % m != 0) {
                continue;
            }
            RefOptions o;
            o.n = n;
            o.m = m;
            o.block_size = block_size;
            expect_matches_reference(c, o);
        }
    }
}

TEST(SparseGpt, MatchesTheReferenceWithJointQuantization) {
    const SgptCase c = random_case(16, 192, 32, 4, 303);
    for (const int bits : {2, 3, 4, 8}) {
        for (const bool sym : {false, true}) {
            RefOptions o;
            o.bits = bits;
            o.sym = sym;
            expect_matches_reference(c, o);  // 50% unstructured, per-row grids
            o.n = 2;
            o.m = 4;
            expect_matches_reference(c, o);  // 2:4
            o.group_size = 32;
            expect_matches_reference(c, o);  // 2:4, groups of 32 refit at each group start
        }
    }
    RefOptions o;
    o.bits = 4;
    o.group_size = 48;  // groups that straddle blocks of 32
    o.block_size = 32;
    o.sparsity = 0.6;
    expect_matches_reference(c, o);
}

TEST(SparseGpt, PrunedWeightsAreExactZerosAndCodesAtTheZeroPoint) {
    const SgptCase c = random_case(8, 64, 16, 3, 404);
    for (const bool sym : {false, true}) {
        auto result = run_sparsegpt(c, DeviceRequest::cpu,
                                    {{"bits", int64_t{4}, ""},
                                     {"sym", sym, ""},
                                     {"n", int64_t{2}, ""},
                                     {"m", int64_t{4}, ""}});
        ASSERT_TRUE(result.has_value()) << result.error().message;
        for (int64_t r = 0; r < c.rows; ++r) {
            for (int64_t j = 0; j < c.cols; ++j) {
                const int64_t e = r * c.cols + j;
                const float expected =
                    result->scales[r] * (static_cast<float>(result->codes[e]) - result->zeros[r]);
                EXPECT_EQ(result->weight[e], expected);  // dequantize(codes) is the weight
                if (result->mask[e] == 0) {
                    EXPECT_EQ(result->weight[e], 0.0f);
                    EXPECT_EQ(static_cast<float>(result->codes[e]), result->zeros[r]);
                }
            }
        }
    }
}

// ---- exact semantics --------------------------------------------------------------------------

// H = diag(a_j^2) with a_j powers of two and no damping: every step of the factorization is
// exact, U = diag(1 / a_j), the error feedback is exactly zero, and the scores w^2 a_j^2 are the
// same fp32 numbers in the plugin and here. (First sample zero, second X[t, t] = a_t: the
// running mean 2/n-scaling is then exact, see add_batch.)
SgptCase diagonal_case(int64_t rows, int64_t cols, uint32_t seed) {
    SgptCase c = random_case(rows, cols, cols, 2, seed);
    std::fill(c.samples[0].begin(), c.samples[0].end(), 0.0f);
    std::fill(c.samples[1].begin(), c.samples[1].end(), 0.0f);
    for (int64_t t = 0; t < cols; ++t) {
        c.samples[1][t * cols + t] = std::ldexp(1.0f, static_cast<int>(t % 5) - 2);
    }
    return c;
}

float diagonal_score(const SgptCase& c, int64_t r, int64_t j) {
    const float d = 1.0f / c.samples[1][j * c.cols + j];
    const float w = c.weight[r * c.cols + j];
    return (w * w) / (d * d);
}

// The mask fasterprune's unstructured rule gives when the weights never change: per block, the
// scores of the whole tile <= the one at sorted position int(numel * sparsity).
std::vector<uint8_t> tile_threshold_mask(const SgptCase& c, double sparsity, int64_t block) {
    std::vector<uint8_t> mask(c.weight.size(), 1);
    for (int64_t i1 = 0; i1 < c.cols; i1 += block) {
        const int64_t count = std::min(block, c.cols - i1);
        std::vector<float> tile;
        for (int64_t r = 0; r < c.rows; ++r) {
            for (int64_t j = i1; j < i1 + count; ++j) {
                tile.push_back(diagonal_score(c, r, j));
            }
        }
        std::vector<float> sorted = tile;
        std::sort(sorted.begin(), sorted.end());
        const float thresh =
            sorted[static_cast<size_t>(static_cast<double>(tile.size()) * sparsity)];
        for (int64_t r = 0; r < c.rows; ++r) {
            for (int64_t j = i1; j < i1 + count; ++j) {
                mask[r * c.cols + j] = diagonal_score(c, r, j) <= thresh ? 0 : 1;
            }
        }
    }
    return mask;
}

std::vector<ParamArg> exact_args(double sparsity, int64_t block) {
    return {{"sparsity", sparsity, ""}, {"block_size", block, ""}, {"damp", 0.0, ""}};
}

TEST(SparseGptExact, UnstructuredThresholdIsPerBlockOverTheWholeTile) {
    const SgptCase c = diagonal_case(12, 100, 505);
    for (const double sparsity : {0.1, 0.5, 0.75}) {
        for (const int64_t block : {int64_t{128}, int64_t{32}, int64_t{7}}) {
            SCOPED_TRACE("sparsity " + std::to_string(sparsity) + " block " +
                         std::to_string(block));
            auto result = run_sparsegpt(c, DeviceRequest::cpu, exact_args(sparsity, block));
            ASSERT_TRUE(result.has_value()) << result.error().message;
            const std::vector<uint8_t> expected = tile_threshold_mask(c, sparsity, block);
            EXPECT_EQ(first_difference(result->mask, expected), -1);
            // No ties in random data: exactly int(numel * sparsity) + 1 per block.
            for (int64_t i1 = 0; i1 < c.cols; i1 += block) {
                const int64_t count = std::min(block, c.cols - i1);
                int64_t pruned = 0;
                for (int64_t r = 0; r < c.rows; ++r) {
                    for (int64_t j = i1; j < i1 + count; ++j) {
                        pruned += result->mask[r * c.cols + j] == 0 ? 1 : 0;
                        // Kept weights are untouched (no feedback through a diagonal U).
                        EXPECT_EQ(result->weight[r * c.cols + j], result->mask[r * c.cols + j] != 0
                                                                      ? c.weight[r * c.cols + j]
                                                                      : 0.0f);
                    }
                }
                EXPECT_EQ(pruned,
                          static_cast<int64_t>(static_cast<double>(c.rows * count) * sparsity) + 1);
            }
        }
    }
}

TEST(SparseGptExact, TheThresholdIsNeitherPerRowNorPerMatrix) {
    // Row 0 small, rows 1-3 large; block 0 small, block 1 large. Per-row thresholds would prune
    // half of every row; one matrix-wide threshold would prune all of block 0 first.
    SgptCase c = diagonal_case(4, 64, 606);
    for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t j = 0; j < c.cols; ++j) {
            float& w = c.weight[r * c.cols + j];
            w = std::fabs(w) + 1.0f;
            w *= (r == 0 ? 0.01f : 1.0f) * (j < 32 ? 0.001f : 1.0f);
        }
        for (int64_t t = 0; t < c.cols; ++t) {
            c.samples[1][t * c.cols + t] = 1.0f;
        }
    }
    auto result = run_sparsegpt(c, DeviceRequest::cpu, exact_args(0.5, 32));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_EQ(first_difference(result->mask, tile_threshold_mask(c, 0.5, 32)), -1);
    for (const int64_t i1 : {int64_t{0}, int64_t{32}}) {
        int64_t pruned_row0 = 0;
        int64_t pruned_block = 0;
        for (int64_t r = 0; r < c.rows; ++r) {
            for (int64_t j = i1; j < i1 + 32; ++j) {
                const bool pruned = result->mask[r * c.cols + j] == 0;
                pruned_block += pruned ? 1 : 0;
                pruned_row0 += pruned && r == 0 ? 1 : 0;
            }
        }
        EXPECT_EQ(pruned_block, 65);  // int(128 * 0.5) + 1 in each block
        EXPECT_EQ(pruned_row0, 32);   // all of the small row, in both blocks
    }
}

TEST(SparseGptExact, EveryScoreEqualToTheThresholdIsPruned) {
    // Four equal weights in equal columns straddle the threshold position: tmp <= thresh prunes
    // all of them, so the block loses more than int(numel * sparsity) + 1.
    SgptCase c = diagonal_case(4, 16, 707);
    for (int64_t t = 0; t < c.cols; ++t) {
        c.samples[1][t * c.cols + t] = 1.0f;
    }
    for (int64_t e = 0; e < c.rows * c.cols; ++e) {
        c.weight[e] = static_cast<float>(e + 1) / 64.0f;  // distinct, increasing
    }
    // Ranks 30..33 of the 64 scores become one value (the 31st smallest, 31 / 64).
    for (const int64_t e : {30, 31, 32, 33}) {
        c.weight[e] = 31.0f / 64.0f;
    }
    auto result = run_sparsegpt(c, DeviceRequest::cpu, exact_args(0.5, 16));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    int64_t pruned = 0;
    for (int64_t e = 0; e < c.rows * c.cols; ++e) {
        const bool expect_pruned = e <= 33;  // sorted[32] = 31/64, everything <= it
        EXPECT_EQ(result->mask[e], expect_pruned ? 0 : 1) << "element " << e;
        pruned += result->mask[e] == 0 ? 1 : 0;
    }
    EXPECT_EQ(pruned, 34);
}

TEST(SparseGptExact, NOfMPrunesExactlyNOfEveryGroup) {
    const SgptCase c = random_case(24, 128, 32, 3, 808);
    for (const auto& [n, m] :
         {std::pair{2, 4}, std::pair{4, 8}, std::pair{1, 2}, std::pair{5, 16}}) {
        SCOPED_TRACE(std::to_string(n) + ":" + std::to_string(m));
        auto result =
            run_sparsegpt(c, DeviceRequest::cpu, {{"n", int64_t{n}, ""}, {"m", int64_t{m}, ""}});
        ASSERT_TRUE(result.has_value()) << result.error().message;
        for (int64_t begin = 0; begin < c.rows * c.cols; begin += m) {
            int pruned = 0;
            for (int k = 0; k < m; ++k) {
                pruned += result->mask[begin + k] == 0 ? 1 : 0;
                if (result->mask[begin + k] == 0) {
                    EXPECT_EQ(result->weight[begin + k], 0.0f);
                }
            }
            EXPECT_EQ(pruned, n) << "group at element " << begin;
        }
    }
}

TEST(SparseGptExact, NOfMChoosesFromTheUpdatedWeights) {
    // With the diagonal H nothing is updated, so N:M is the n lowest w^2 a_j^2 of each group;
    // through the correlated inputs of random_case the choice differs from that (the weights are
    // updated before each group is chosen), which the reference comparison above covers.
    const SgptCase c = diagonal_case(8, 64, 909);
    auto result = run_sparsegpt(c, DeviceRequest::cpu,
                                {{"n", int64_t{2}, ""}, {"m", int64_t{4}, ""}, {"damp", 0.0, ""}});
    ASSERT_TRUE(result.has_value()) << result.error().message;
    for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t j0 = 0; j0 < c.cols; j0 += 4) {
            for (int64_t j = j0; j < j0 + 4; ++j) {
                int rank = 0;
                for (int64_t k = j0; k < j0 + 4; ++k) {
                    const float a = diagonal_score(c, r, k);
                    const float b = diagonal_score(c, r, j);
                    rank += (a < b || (a == b && k < j)) ? 1 : 0;
                }
                EXPECT_EQ(result->mask[r * c.cols + j], rank < 2 ? 0 : 1);
            }
        }
    }
}

// ---- dead columns and damping -----------------------------------------------------------------

TEST(SparseGpt, DeadColumnsAreZeroedAndMatchTheReference) {
    SgptCase c = random_case(8, 64, 16, 3, 1001);
    for (std::vector<float>& x : c.samples) {
        for (int64_t t = 0; t < c.tokens; ++t) {
            x[t * c.cols + 5] = 0.0f;
            x[t * c.cols + 40] = 0.0f;
        }
    }
    RefOptions o;
    expect_matches_reference(c, o);
    o.n = 2;
    o.m = 4;
    o.bits = 4;
    expect_matches_reference(c, o);
    auto result = run_sparsegpt(c, DeviceRequest::cpu, {});
    ASSERT_TRUE(result.has_value()) << result.error().message;
    for (int64_t r = 0; r < c.rows; ++r) {
        EXPECT_EQ(result->weight[r * c.cols + 5], 0.0f);
        EXPECT_EQ(result->weight[r * c.cols + 40], 0.0f);
    }
}

// A singular H: a zero first sample, then integer inputs whose columns 0 and 1 are equal, so
// H = X^T X exactly (n = 2 makes sqrt(2 / n) = 1) and its Cholesky meets a zero pivot.
SgptCase singular_case() {
    SgptCase c = random_case(6, 24, 8, 2, 1101);
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

TEST(SparseGpt, SingularHessianIsRetriedWithMoreDamping) {
    const SgptCase c = singular_case();
    auto retried = run_sparsegpt(c, DeviceRequest::cpu, {{"damp", 0.0, ""}});
    ASSERT_TRUE(retried.has_value()) << retried.error().message;
    for (const float w : retried->weight) {
        EXPECT_TRUE(std::isfinite(w));
    }
    RefOptions o;
    o.percdamp = 0.0025;  // what the retry settles on
    const RefRun ref = reference_sparsegpt(c, o);
    const Comparison cmp = compare_results(*retried, ref.result, c.weight, ref.margin, 1e-4, 1e-3);
    EXPECT_EQ(cmp.problem, "");
}

TEST(SparseGpt, SingularHessianWithoutRetryFailsWithAHint) {
    const SgptCase c = singular_case();
    auto result =
        run_sparsegpt(c, DeviceRequest::cpu, {{"damp", 0.0, ""}, {"damp_auto_increment", 0.0, ""}});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'sparsegpt' technique 'sparsegpt': finish_layer failed with "
              "MC_ERR_NUMERICAL: sparsegpt: layer test.layer: the Cholesky factorization of H "
              "failed at column 1 with damp = 0 after 1 attempt(s); HINT: raise `damp` or "
              "`damp_auto_increment`, or calibrate with more samples");
}

// ---- what SparseGPT is for --------------------------------------------------------------------

double output_error(const SgptCase& c, const std::vector<float>& pruned) {
    double total = 0;
    for (const std::vector<float>& x : c.samples) {
        for (int64_t t = 0; t < c.tokens; ++t) {
            for (int64_t r = 0; r < c.rows; ++r) {
                double diff = 0;
                for (int64_t j = 0; j < c.cols; ++j) {
                    diff += x[t * c.cols + j] * (static_cast<double>(c.weight[r * c.cols + j]) -
                                                 pruned[r * c.cols + j]);
                }
                total += diff * diff;
            }
        }
    }
    return total;
}

TEST(SparseGpt, ReducesTheLayerOutputErrorBelowMagnitudePruning) {
    const SgptCase c = random_case(32, 128, 64, 4, 1201);
    auto sparsegpt = run_sparsegpt(c, DeviceRequest::cpu, {});
    ASSERT_TRUE(sparsegpt.has_value()) << sparsegpt.error().message;
    // Magnitude at the same sparsity, from the same mask rule without feedback: |w| per matrix.
    std::vector<float> magnitude = c.weight;
    std::vector<float> sorted;
    for (const float w : c.weight) {
        sorted.push_back(std::fabs(w));
    }
    std::sort(sorted.begin(), sorted.end());
    const float thresh = sorted[sorted.size() / 2];
    for (float& w : magnitude) {
        w = std::fabs(w) <= thresh ? 0.0f : w;
    }
    EXPECT_LT(output_error(c, sparsegpt->weight), 0.7 * output_error(c, magnitude));
}

TEST(SparseGpt, OneInstancePrunesLayersOfDifferentShapes) {
    auto technique = plugin_registry().load_technique("sparsegpt", DeviceRequest::cpu);
    ASSERT_TRUE(technique.has_value()) << technique.error().message;
    RefOptions o;
    o.n = 2;
    o.m = 4;
    o.bits = 4;
    o.group_size = 16;
    auto params = bind_params(*technique->manifest, args_of(o));
    ASSERT_TRUE(params.has_value()) << params.error().message;
    auto instance = LayerTechniqueInstance::create(*technique, *params);
    ASSERT_TRUE(instance.has_value()) << instance.error().message;
    EXPECT_TRUE((*instance)->needs_inputs());
    uint32_t seed = 1;
    for (const auto& [rows, cols] : {std::pair{4, 40}, std::pair{9, 16}, std::pair{3, 132}}) {
        const SgptCase c = random_case(rows, cols, 12, 2, ++seed);
        LayerInput input;
        input.out_features = rows;
        input.in_features = cols;
        input.weight = c.weight;
        for (const std::vector<float>& sample : c.samples) {
            input.batches.emplace_back(sample);
        }
        auto result = (*instance)->run(input);
        ASSERT_TRUE(result.has_value()) << result.error().message;
        const RefRun ref = reference_sparsegpt(c, o);
        const Comparison cmp =
            compare_results(*result, ref.result, c.weight, ref.margin, 1e-4, 1e-3);
        EXPECT_EQ(cmp.problem, "");
        EXPECT_EQ(cmp.tied_rows, 0);
    }
}

}  // namespace
}  // namespace mcomp::test
