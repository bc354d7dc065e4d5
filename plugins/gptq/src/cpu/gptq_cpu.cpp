// gptq_cpu.cpp: the CPU backend of `gptq` (libmcomp_gptq_cpu.so) and the library's exported
// entry. fasterquant() of the reference (IST-DASLab/gptq gptq.py), step by step:
//
//   1. the row grids of group_size -1, fit on the weight as loaded (before dead columns)
//   2. dead columns; static groups fit on the weight with dead columns zeroed
//   3. act-order permutation of W and H; U = upper Cholesky factor of (H + damp I)^-1
//      (keep_zeros: which weights are exactly 0 is noted first, in layer order)
//   4. per block of block_size columns, rows in parallel (rows never interact): the column
//      loop on a private copy of the block; grids of groups that start inside the block are
//      fit on W as it stood when the block began, as the reference's find_params(W[:, ...])
//      reads W, not its working copy W1; then the lazy update W[:, i2:] -= Err1 U[i1:i2, i2:]
//      as one oneDNN matmul.
//
// Outputs go straight to the original column order: column c of the permuted matrix is
// column perm[c] of the layer.
#include <omp.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "gptq_column.hpp"
#include "gptq_technique.hpp"
#include "plugin_common/gemm_cpu.hpp"
#include "plugin_common/hessian_cpu.hpp"
#include "plugin_common/inverse_factor_cpu.hpp"
#include "plugin_common/parallel.hpp"

namespace mcomp::gptq {

namespace {

using common::Grid;

int host_thread_count(const sdk::Host& host) {
    const auto* info = static_cast<const mc_ext_host_info*>(host.extension(MC_EXT_HOST_INFO));
    const int n = MC_HAS_FIELD(info, mc_ext_host_info, num_threads) ? info->num_threads : 0;
    return n > 0 ? n : omp_get_max_threads();
}

// The weight being quantized and everything the column loop reads, in permuted order.
struct LoopState {
    const Config* config = nullptr;
    const LayerViews* views = nullptr;
    std::vector<float> w;           // [rows, cols]: W with the lazy updates of past blocks
    std::vector<float> u;           // [cols, cols] upper factor of H^-1
    std::vector<int32_t> perm;      // permuted column -> layer column
    std::vector<Grid> row_grid;     // the current grid of each row
    std::vector<Grid> static_grid;  // [rows, num_groups] with static groups
    std::vector<float> err;         // [rows, block] Err1 of the current block
    std::vector<uint8_t> zero;      // [rows, cols] layer order: 0 on entry (keep_zeros only)
};

// Steps 1-2: grids fit before the column loop, written to the outputs where they are final.
void fit_initial_grids(LoopState& s, const std::vector<uint8_t>& dead, int threads) {
    const Config& config = *s.config;
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    s.row_grid.assign(static_cast<size_t>(v.rows), Grid{});
    if (!config.grouped()) {
        // find_params(W) runs before `W[:, dead] = 0`.
#pragma omp parallel for schedule(static) \
    num_threads(threads) if (common::parallel_worth(v.rows * cols))
        for (int64_t r = 0; r < v.rows; ++r) {
            s.row_grid[r] = common::fit_grid(v.weight + r * cols, cols, 1, config.maxq(),
                                             config.sym, config.mse);
            v.scales[r] = s.row_grid[r].scale;
            v.zeros[r] = s.row_grid[r].zero;
        }
    }
    for (int64_t c = 0; c < cols; ++c) {
        if (dead[c] != 0) {
            for (int64_t r = 0; r < v.rows; ++r) {
                s.w[r * cols + c] = 0.0f;
            }
        }
    }
    if (!config.uses_static_groups()) {
        return;
    }
    const int64_t g = config.group_size;
    s.static_grid.assign(static_cast<size_t>(v.rows * v.num_groups), Grid{});
#pragma omp parallel for schedule(static) \
    num_threads(threads) if (common::parallel_worth(v.rows * cols))
    for (int64_t r = 0; r < v.rows; ++r) {
        for (int64_t k = 0; k < v.num_groups; ++k) {
            const int64_t begin = k * g;
            const Grid grid =
                common::fit_grid(s.w.data() + r * cols + begin, std::min(g, cols - begin), 1,
                                 config.maxq(), config.sym, config.mse);
            s.static_grid[r * v.num_groups + k] = grid;
            v.scales[r * v.num_groups + k] = grid.scale;
            v.zeros[r * v.num_groups + k] = grid.zero;
        }
    }
}

// The grid column c of row r is quantized with (fitting it at a dynamic group's start).
Grid grid_for_column(LoopState& s, int64_t r, int64_t c) {
    const Config& config = *s.config;
    const LayerViews& v = *s.views;
    if (!config.grouped()) {
        return s.row_grid[r];
    }
    const int64_t g = config.group_size;
    if (config.uses_static_groups()) {
        return s.static_grid[r * v.num_groups + s.perm[c] / g];
    }
    if (c % g == 0) {
        // find_params(W[:, c:c+g]) on W, not W1: in-block updates are not seen.
        const Grid grid = common::fit_grid(s.w.data() + r * v.cols + c, std::min(g, v.cols - c), 1,
                                           config.maxq(), config.sym, config.mse);
        s.row_grid[r] = grid;
        v.scales[r * v.num_groups + c / g] = grid.scale;
        v.zeros[r * v.num_groups + c / g] = grid.zero;
    }
    return s.row_grid[r];
}

// The column loop of one row over the block [i1, i1 + count); returns its loss.
double quantize_row_block(LoopState& s, int64_t r, int64_t i1, int64_t count) {
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    const int32_t maxq = s.config->maxq();
    float w1[kMaxBlockSize] = {};
    std::copy(s.w.data() + r * cols + i1, s.w.data() + r * cols + i1 + count, w1);
    double loss = 0.0;
    for (int64_t i = 0; i < count; ++i) {
        const int64_t c = i1 + i;
        const Grid grid = grid_for_column(s, r, c);
        const float* urow = s.u.data() + c * cols + i1;
        const float d = urow[i];
        const int64_t dst = r * cols + s.perm[c];
        const bool masked = !s.zero.empty() && s.zero[dst] != 0;
        const ColumnStep step = quantize_step(w1[i], masked, grid, maxq, d);
        loss += static_cast<double>(step.diff) * step.diff / (static_cast<double>(d) * d);
        v.codes[dst] = step.code;
        v.dst_weight[dst] = step.q;
        s.err[r * count + i] = step.err;
        for (int64_t j = i + 1; j < count; ++j) {
            w1[j] = feed_back(w1[j], step.err, urow[j]);
        }
    }
    return loss;
}

void write_group_index(const Config& config, const LayerViews& v,
                       const std::vector<int32_t>& perm) {
    for (int64_t p = 0; p < v.cols; ++p) {
        int32_t group = 0;
        if (config.uses_static_groups()) {
            group = static_cast<int32_t>(perm[p] / config.group_size);
        } else if (config.grouped()) {
            group = static_cast<int32_t>(p / config.group_size);  // g_idx[perm[p]] = p // g
        }
        v.g_idx[perm[p]] = group;
    }
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

    LayerStats quantize(const Config& config, const LayerViews& views,
                        const std::string& where) override;

  private:
    void column_loop(LoopState& s, LayerStats& stats);

    sdk::Host host_;
    int threads_ = 1;
    common::CpuGemm gemm_;
    common::CpuHessian hessian_;
};

LayerStats CpuBackend::quantize(const Config& config, const LayerViews& views,
                                const std::string& where) {
    const int64_t cols = views.cols;
    LayerStats stats;
    LoopState s;
    s.config = &config;
    s.views = &views;
    s.w.assign(views.weight, views.weight + views.rows * cols);
    if (config.keep_zeros) {
        s.zero.resize(s.w.size());
        for (size_t e = 0; e < s.w.size(); ++e) {
            s.zero[e] = s.w[e] == 0.0f ? 1 : 0;
        }
    }

    std::vector<float>& h = hessian_.symmetric();
    const std::vector<uint8_t> dead = common::fix_dead_columns(h, cols);
    stats.dead_columns = std::count(dead.begin(), dead.end(), uint8_t{1});
    fit_initial_grids(s, dead, threads_);

    s.perm.resize(static_cast<size_t>(cols));
    std::iota(s.perm.begin(), s.perm.end(), 0);
    std::vector<float> permuted_h;
    if (config.act_order) {
        std::vector<float> diag(static_cast<size_t>(cols));
        for (int64_t i = 0; i < cols; ++i) {
            diag[i] = h[i * cols + i];
        }
        s.perm = common::act_order_permutation(diag);
        permuted_h = common::permute_symmetric(h, cols, s.perm);
        std::vector<float> w(s.w.size());
        for (int64_t r = 0; r < views.rows; ++r) {
            for (int64_t c = 0; c < cols; ++c) {
                w[r * cols + c] = s.w[r * cols + s.perm[c]];
            }
        }
        s.w.swap(w);
    }
    stats.damping = common::upper_cholesky_of_inverse(
        gemm_, host_, config.act_order ? permuted_h : h, cols, config.damping, where, s.u);
    permuted_h = {};

    column_loop(s, stats);
    write_group_index(config, views, s.perm);
    for (int64_t c = 1; c < cols; ++c) {
        stats.desc_act = stats.desc_act || views.g_idx[c] < views.g_idx[c - 1];
    }
    return stats;
}

void CpuBackend::column_loop(LoopState& s, LayerStats& stats) {
    const LayerViews& v = *s.views;
    const int64_t cols = v.cols;
    const int64_t block = s.config->block_size;
    s.err.assign(static_cast<size_t>(v.rows * block), 0.0f);
    double loss = 0.0;
    for (int64_t i1 = 0; i1 < cols; i1 += block) {
        host_.check_cancelled();
        const int64_t count = std::min(block, cols - i1);
        const int64_t i2 = i1 + count;
#pragma omp parallel for schedule(static) reduction(+ : loss) num_threads(threads_) \
    if (common::parallel_worth(v.rows * count * count))
        for (int64_t r = 0; r < v.rows; ++r) {
            loss += quantize_row_block(s, r, i1, count);
        }
        // W[:, i2:] -= Err1 Hinv[i1:i2, i2:]
        gemm_.run(v.rows, cols - i2, count, -1.0f, {s.err.data(), count, common::Op::none},
                  {s.u.data() + i1 * cols + i2, cols, common::Op::none}, 1.0f, s.w.data() + i2,
                  cols);
        host_.progress(i2, cols, "columns");
    }
    stats.loss = loss / 2.0;
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CPU;
}

std::unique_ptr<Backend> make_backend(const sdk::Host& host) {
    return std::make_unique<CpuBackend>(host);
}

}  // namespace mcomp::gptq

MCOMP_PLUGIN_ENTRY("gptq", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), mcomp::gptq::kTechniques)
