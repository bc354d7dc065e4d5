// sparsegpt_cpu.cpp: the CPU backend of `sparsegpt` (libmcomp_sparsegpt_cpu.so) and the
// library's exported entry. fasterprune() of the reference (IST-DASLab/sparsegpt sparsegpt.py),
// step by step:
//
//   1. with joint quantization and group_size -1, the row grids, fit on the weight as loaded
//      (quantizer.find_params(W) runs before the dead columns are zeroed)
//   2. dead columns (diag H == 0): H_cc = 1, W[:, c] = 0; U = upper Cholesky factor of
//      (H + damp I)^-1 (plugins/common)
//   3. per block of block_size columns:
//        unstructured: the scores w^2 / U_cc^2 of the whole [rows, block] tile, as W stands
//          when the block begins; every score <= the one at sorted position
//          int(rows * block * sparsity) is pruned (one threshold for the tile, not per row);
//        rows in parallel (rows never interact): the column loop on a private copy of the
//          row's block; N:M groups chosen at every m-th column from the updated weights;
//        the lazy update W[:, i2:] -= Err1 U[i1:i2, i2:] as one oneDNN matmul.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "plugin_common/gemm_cpu.hpp"
#include "plugin_common/hessian_cpu.hpp"
#include "plugin_common/inverse_factor_cpu.hpp"
#include "plugin_common/parallel.hpp"
#include "sparsegpt_column.hpp"
#include "sparsegpt_technique.hpp"

namespace mcomp::sparsegpt {

namespace {

using common::Grid;

int host_thread_count(const sdk::Host& host) {
    const auto* info = static_cast<const mc_ext_host_info*>(host.extension(MC_EXT_HOST_INFO));
    const int n = MC_HAS_FIELD(info, mc_ext_host_info, num_threads) ? info->num_threads : 0;
    return n > 0 ? n : omp_get_max_threads();
}

// The weight being pruned and everything the column loop reads.
struct LoopState {
    const Config* config = nullptr;
    const LayerViews* views = nullptr;
    std::vector<float> w;             // [rows, cols]: W with the lazy updates of past blocks
    std::vector<float> u;             // [cols, cols] upper factor of H^-1
    std::vector<Grid> row_grid;       // the current grid of each row (joint quantization)
    std::vector<float> err;           // [rows, block] Err1 of the current block
    std::vector<uint8_t> pruned;      // [rows, block] unstructured mask of the current block
    std::vector<float> scores;        // [rows, block] scratch of the threshold selection
    std::vector<int64_t> row_pruned;  // per row, weights pruned so far
};

// Step 1: per-row grids on the weight as loaded; step 2's dead columns of W.
void fit_grids_and_zero_dead(LoopState& s, const std::vector<uint8_t>& dead, int threads) {
    const Config& config = *s.config;
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    if (config.quantized() && !config.grouped()) {
        s.row_grid.assign(static_cast<size_t>(v.rows), Grid{});
#pragma omp parallel for schedule(static) \
    num_threads(threads) if (common::parallel_worth(v.rows * cols))
        for (int64_t r = 0; r < v.rows; ++r) {
            s.row_grid[r] = common::fit_grid(v.weight + r * cols, cols, 1, config.maxq(),
                                             config.sym, common::MseOptions{});
            v.scales[r] = s.row_grid[r].scale;
            v.zeros[r] = s.row_grid[r].zero;
        }
    } else if (config.quantized()) {
        s.row_grid.assign(static_cast<size_t>(v.rows), Grid{});
    }
    for (int64_t c = 0; c < cols; ++c) {
        if (dead[c] != 0) {
            for (int64_t r = 0; r < v.rows; ++r) {
                s.w[r * cols + c] = 0.0f;
            }
        }
    }
}

// Unstructured: marks the tile's scores <= the one at sorted position
// int(rows * count * sparsity) (fasterprune: thresh = sort(tmp.flatten())[k]; tmp <= thresh).
void select_block_mask(LoopState& s, int64_t i1, int64_t count, int threads) {
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    const int64_t numel = v.rows * count;
    s.scores.resize(static_cast<size_t>(numel));
    s.pruned.resize(static_cast<size_t>(numel));
#pragma omp parallel for schedule(static) num_threads(threads) if (common::parallel_worth(numel))
    for (int64_t r = 0; r < v.rows; ++r) {
        for (int64_t i = 0; i < count; ++i) {
            const int64_t c = i1 + i;
            s.scores[r * count + i] = prune_score(s.w[r * cols + c], s.u[c * cols + c]);
        }
    }
    std::vector<float> sorted = s.scores;
    const int64_t k = threshold_rank(numel, s.config->sparsity);
    std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
    const float thresh = sorted[k];
#pragma omp parallel for schedule(static) num_threads(threads) if (common::parallel_worth(numel))
    for (int64_t e = 0; e < numel; ++e) {
        s.pruned[e] = s.scores[e] <= thresh ? 1 : 0;
    }
}

// The grid column c of row r is quantized with (fitting it at a group's start, on W as it
// stood when the block began, like gptq's find_params(W[:, c:c+g])); unused without
// quantization.
Grid grid_for_column(LoopState& s, int64_t r, int64_t c) {
    const Config& config = *s.config;
    if (!config.quantized()) {
        return Grid{};
    }
    const LayerViews& v = *s.views;
    const int64_t g = config.group_size;
    if (config.grouped() && c % g == 0) {
        const Grid grid = common::fit_grid(s.w.data() + r * v.cols + c, std::min(g, v.cols - c), 1,
                                           config.maxq(), config.sym, common::MseOptions{});
        s.row_grid[r] = grid;
        v.scales[r * v.num_groups + c / g] = grid.scale;
        v.zeros[r * v.num_groups + c / g] = grid.zero;
    }
    return s.row_grid[r];
}

// N:M: at block column i (i % m == 0), the n lowest scores of w1[i, i + m) of this row.
void select_group(const LoopState& s, const float* w1, int64_t i1, int64_t i, bool* pruned) {
    const Config& config = *s.config;
    const int64_t cols = s.views->cols;
    float scores[kMaxGroupWidth] = {};
    for (int32_t k = 0; k < config.m; ++k) {
        const int64_t c = i1 + i + k;
        scores[k] = prune_score(w1[i + k], s.u[c * cols + c]);
    }
    for (int32_t k = 0; k < config.m; ++k) {
        pruned[i + k] = n_of_m_pruned(scores, config.m, config.n, k);
    }
}

// The column loop of one row over the block [i1, i1 + count); returns its loss.
double prune_row_block(LoopState& s, int64_t r, int64_t i1, int64_t count) {
    const Config& config = *s.config;
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    float w1[kMaxBlockSize] = {};
    bool pruned[kMaxBlockSize] = {};
    std::copy(s.w.data() + r * cols + i1, s.w.data() + r * cols + i1 + count, w1);
    if (!config.structured()) {
        for (int64_t i = 0; i < count; ++i) {
            pruned[i] = s.pruned[r * count + i] != 0;
        }
    }
    double loss = 0.0;
    int64_t num_pruned = 0;
    for (int64_t i = 0; i < count; ++i) {
        const int64_t c = i1 + i;
        if (config.structured() && i % config.m == 0) {
            select_group(s, w1, i1, i, pruned);
        }
        const Grid grid = grid_for_column(s, r, c);
        const float* urow = s.u.data() + c * cols + i1;
        const float d = urow[i];
        const common::MaskedStep step =
            common::masked_step(w1[i], pruned[i], config.quantized(), grid, config.maxq(), d);
        loss += static_cast<double>(step.diff) * step.diff / (static_cast<double>(d) * d);
        num_pruned += pruned[i] ? 1 : 0;
        const int64_t dst = r * cols + c;
        v.dst_weight[dst] = step.q;
        v.mask[dst] = pruned[i] ? 0 : 1;
        if (config.quantized()) {
            v.codes[dst] = step.code;
        }
        s.err[r * count + i] = step.err;
        for (int64_t j = i + 1; j < count; ++j) {
            w1[j] = common::feed_back_rn(w1[j], step.err, urow[j]);
        }
    }
    s.row_pruned[r] += num_pruned;
    return loss;
}

class CpuBackend final : public Backend {
  public:
    explicit CpuBackend(const sdk::Host& host)
        : host_(host), threads_(host_thread_count(host)), hessian_(gemm_) {}

    void begin_layer(int64_t /*rows*/, int64_t cols, mc_device /*device*/) override {
        hessian_.reset(cols);
    }

    void observe(const float* src, int64_t tokens) override {
        hessian_.add_sample(src, tokens, threads_);
    }

    int64_t num_samples() const override { return hessian_.num_samples(); }

    LayerStats prune(const Config& config, const LayerViews& views,
                     const std::string& where) override;

  private:
    void column_loop(LoopState& s, LayerStats& stats);

    sdk::Host host_;
    int threads_ = 1;
    common::CpuGemm gemm_;
    common::CpuHessian hessian_;
};

LayerStats CpuBackend::prune(const Config& config, const LayerViews& views,
                             const std::string& where) {
    const int64_t cols = views.cols;
    LayerStats stats;
    LoopState s;
    s.config = &config;
    s.views = &views;
    s.w.assign(views.weight, views.weight + views.rows * cols);

    std::vector<float>& h = hessian_.symmetric();
    const std::vector<uint8_t> dead = common::fix_dead_columns(h, cols);
    stats.dead_columns = std::count(dead.begin(), dead.end(), uint8_t{1});
    fit_grids_and_zero_dead(s, dead, threads_);
    stats.damping =
        common::upper_cholesky_of_inverse(gemm_, host_, h, cols, config.damping, where, s.u);

    column_loop(s, stats);
    if (config.quantized()) {
        for (int64_t c = 0; c < cols; ++c) {
            views.g_idx[c] = config.grouped() ? static_cast<int32_t>(c / config.group_size) : 0;
        }
    }
    return stats;
}

void CpuBackend::column_loop(LoopState& s, LayerStats& stats) {
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    const int64_t block = s.config->block_size;
    s.err.assign(static_cast<size_t>(v.rows * block), 0.0f);
    s.row_pruned.assign(static_cast<size_t>(v.rows), 0);
    double loss = 0.0;
    for (int64_t i1 = 0; i1 < cols; i1 += block) {
        host_.check_cancelled();
        const int64_t count = std::min(block, cols - i1);
        const int64_t i2 = i1 + count;
        if (!s.config->structured()) {
            select_block_mask(s, i1, count, threads_);
        }
#pragma omp parallel for schedule(static) reduction(+ : loss) num_threads(threads_) \
    if (common::parallel_worth(v.rows * count * count))
        for (int64_t r = 0; r < v.rows; ++r) {
            loss += prune_row_block(s, r, i1, count);
        }
        // W[:, i2:] -= Err1 Hinv[i1:i2, i2:]
        gemm_.run(v.rows, cols - i2, count, -1.0f, {s.err.data(), count, common::Op::none},
                  {s.u.data() + i1 * cols + i2, cols, common::Op::none}, 1.0f, s.w.data() + i2,
                  cols);
        host_.progress(i2, cols, "columns");
    }
    stats.loss = loss / 2.0;
    for (const int64_t n : s.row_pruned) {
        stats.pruned += n;
    }
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CPU;
}

std::unique_ptr<Backend> make_backend(const sdk::Host& host) {
    return std::make_unique<CpuBackend>(host);
}

}  // namespace mcomp::sparsegpt

MCOMP_PLUGIN_ENTRY("sparsegpt", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0),
                   mcomp::sparsegpt::kTechniques)
