// test_sparsegpt_cuda.cpp: the CUDA backend of `sparsegpt` agrees with the CPU backend on the
// same layers. The in-block arithmetic is the same code (sparsegpt_column.hpp) and the block
// threshold the same order statistic (CUB's radix sort of the score bits vs nth_element); the
// backends differ only in summation orders (SSYRK vs oneDNN for H, cuSOLVER vs the blocked CPU
// Cholesky, cuBLAS vs oneDNN for the lazy updates), so a mask may differ only where two scores
// sit within rounding noise of the deciding boundary. Tolerance (sparsegpt_reference.hpp):
// masks and codes identical up to each row's first tie — a mask flip where the transcription's
// scores sit within 1e-2 of the boundary, or codes one step apart — at most 1/8 of the rows
// tied, weights within 1e-4 of the row's largest |w| before it. The margin is wider than the
// CPU tests' 1e-3 because a tie can cascade: the tied row's later weights move the next
// block's threshold by a rank or so, flipping an element of another row that sits one order
// statistic away (about 1 / (rows * block) relative, 2e-4 here). Skips without a usable GPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "sparsegpt_reference.hpp"

namespace mcomp::test {
namespace {

class SparseGptCuda : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string reason = cuda_unavailable_reason("sparsegpt");
        if (!reason.empty()) {
            GTEST_SKIP() << "sparsegpt CUDA backend cannot run here: " << reason;
        }
    }
};

void expect_backends_agree(const SgptCase& c, const RefOptions& o) {
    SCOPED_TRACE(describe(o));
    auto cpu = run_sparsegpt(c, DeviceRequest::cpu, args_of(o));
    auto cuda = run_sparsegpt(c, DeviceRequest::cuda, args_of(o));
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message;
    ASSERT_TRUE(cuda.has_value()) << cuda.error().message;
    EXPECT_EQ(cuda->outputs, cpu->outputs);
    EXPECT_EQ(cuda->g_idx, cpu->g_idx);
    // The margins come from the transcription on the same data: they say which scores sit near
    // a boundary, whichever implementation is asked.
    const RefRun ref = reference_sparsegpt(c, o);
    const Comparison cmp = compare_results(*cuda, *cpu, c.weight, ref.margin, 1e-4, 1e-2);
    EXPECT_EQ(cmp.problem, "");
    EXPECT_LE(cmp.tied_rows, c.rows / 8);
    int64_t cpu_pruned = 0;
    int64_t cuda_pruned = 0;
    for (size_t e = 0; e < cpu->mask.size(); ++e) {
        cpu_pruned += cpu->mask[e] == 0 ? 1 : 0;
        cuda_pruned += cuda->mask[e] == 0 ? 1 : 0;
    }
    if (o.n > 0) {
        EXPECT_EQ(cuda_pruned, c.rows * c.cols / o.m * o.n);
    }
    EXPECT_NEAR(static_cast<double>(cuda_pruned), static_cast<double>(cpu_pruned),
                c.rows * c.cols / 1000.0 + 2);
    std::printf(
        "  %s: %lld tied rows of %lld (largest tie margin %.3g), max weight error %.3g, pruned "
        "%lld (cuda) / %lld (cpu)\n",
        describe(o).c_str(), static_cast<long long>(cmp.tied_rows), static_cast<long long>(c.rows),
        cmp.max_tie_margin, cmp.max_weight_error, static_cast<long long>(cuda_pruned),
        static_cast<long long>(cpu_pruned));
}

TEST_F(SparseGptCuda, AgreesWithCpuOnSmallLayers) {
    const SgptCase c = random_case(64, 320, 64, 4, 21);
    for (const double sparsity : {0.0, 0.5, 0.8}) {
        for (const int block_size : {128, 40, 7}) {
            RefOptions o;
            o.sparsity = sparsity;
            o.block_size = block_size;
            expect_backends_agree(c, o);
        }
    }
    for (const auto& [n, m] :
         {std::pair{2, 4}, std::pair{4, 8}, std::pair{3, 5}, std::pair{20, 32}}) {
        RefOptions o;
        o.n = n;
        o.m = m;
        o.block_size = 128 / m * m;  // the largest multiple of m the kernel takes
        expect_backends_agree(c, o);
    }
    for (const int bits : {2, 3, 4, 8}) {
        for (const int group_size : {-1, 32, 100}) {
            RefOptions o;
            o.bits = bits;
            o.group_size = group_size;
            expect_backends_agree(c, o);
            o.n = 2;
            o.m = 4;
            o.sym = true;
            expect_backends_agree(c, o);
        }
    }
}

TEST_F(SparseGptCuda, AgreesWithCpuOnALargerLayerWithDeadColumns) {
    SgptCase c = random_case(512, 1024, 128, 4, 22);
    for (std::vector<float>& x : c.samples) {
        for (int64_t t = 0; t < c.tokens; ++t) {
            x[t * c.cols + 7] = 0.0f;
        }
    }
    RefOptions o;
    expect_backends_agree(c, o);
    o.n = 2;
    o.m = 4;
    expect_backends_agree(c, o);
    o.bits = 4;
    expect_backends_agree(c, o);
}

}  // namespace
}  // namespace mcomp::test
