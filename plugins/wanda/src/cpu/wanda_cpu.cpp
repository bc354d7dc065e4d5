// wanda_cpu.cpp: the CPU backend of `wanda` (libmcomp_wanda_cpu.so) and the library's exported
// entry. OpenMP inside every kernel:
//   - norms: partial sums of squares per (chunk of kTokensPerChunk tokens, block of columns),
//     then the chunk sums in chunk order (the order wanda_score.hpp fixes for both backends);
//   - unstructured: per row, nth_element over 64-bit keys (score key << 32 | column), which
//     are all distinct, so the lowest `k` are exactly what a stable ascending sort puts first;
//   - N:M: the shared n_of_m_key_pruned() on the keys of each group.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "wanda_score.hpp"
#include "wanda_technique.hpp"

namespace mcomp::wanda {

namespace {

constexpr int64_t kColumnsPerTask = 1024;

// Threads the host lets a plugin use inside a call, else the OpenMP default.
int host_thread_count(const sdk::Host& host) {
    const auto* info = static_cast<const mc_ext_host_info*>(host.extension(MC_EXT_HOST_INFO));
    const bool known = MC_HAS_FIELD(info, mc_ext_host_info, num_threads) && info->num_threads > 0;
    return known ? info->num_threads : omp_get_max_threads();
}

// partial[chunk * cols + j] = sum of x[t, j]^2 over the chunk's tokens, in token order.
void chunk_sums(const sdk::Host& host, const float* src, int64_t tokens, int64_t cols,
                std::vector<double>& partial) {
    const int64_t num_chunks = (tokens + kTokensPerChunk - 1) / kTokensPerChunk;
    const int64_t column_tasks = (cols + kColumnsPerTask - 1) / kColumnsPerTask;
    partial.assign(static_cast<size_t>(num_chunks * cols), 0.0);
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host))
    for (int64_t task = 0; task < num_chunks * column_tasks; ++task) {
        const int64_t chunk = task / column_tasks;
        const int64_t col_begin = (task % column_tasks) * kColumnsPerTask;
        const int64_t col_end = std::min(cols, col_begin + kColumnsPerTask);
        const int64_t token_end = std::min(tokens, (chunk + 1) * kTokensPerChunk);
        double* sums = partial.data() + chunk * cols;
        for (int64_t t = chunk * kTokensPerChunk; t < token_end; ++t) {
            const float* x = src + t * cols;
            for (int64_t j = col_begin; j < col_end; ++j) {
                const double value = x[j];
                sums[j] += value * value;
            }
        }
    }
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CPU;
}

void accumulate_norms(const sdk::Host& host, mc_device /*device*/, const float* src, int64_t tokens,
                      int64_t cols, int64_t samples_before, float* scaler_row) {
    std::vector<double> partial;
    chunk_sums(host, src, tokens, cols, partial);
    const int64_t num_chunks = (tokens + kTokensPerChunk - 1) / kTokensPerChunk;
    const float decay = running_mean_decay(samples_before);
    const auto samples_after = static_cast<float>(samples_before + 1);
    const bool first = samples_before == 0;
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host))
    for (int64_t j = 0; j < cols; ++j) {
        double sum = 0.0;
        for (int64_t chunk = 0; chunk < num_chunks; ++chunk) {
            sum += partial[chunk * cols + j];
        }
        scaler_row[j] =
            running_mean_update(first ? 0.0f : scaler_row[j], decay, sum, samples_after, first);
    }
}

int64_t prune_unstructured(const sdk::Host& host, const LayerViews& views, int64_t prune_per_row) {
    const int64_t cols = views.cols;
    std::vector<float> sqrt_scaler(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
        sqrt_scaler[j] = sqrt_rn(views.scaler_row[j]);
    }
#pragma omp parallel num_threads(host_thread_count(host))
    {
        std::vector<uint64_t> keys(static_cast<size_t>(cols));
#pragma omp for schedule(static)
        for (int64_t row = 0; row < views.rows; ++row) {
            const float* weight = views.weight + row * cols;
            for (int64_t j = 0; j < cols; ++j) {
                keys[j] = (uint64_t{weight_key(weight[j], sqrt_scaler[j])} << 32) |
                          static_cast<uint64_t>(j);
            }
            // Keys are distinct (the column is part of them): the largest pruned key is the
            // one a full sort puts at position prune_per_row - 1.
            uint64_t largest_pruned = 0;
            if (prune_per_row > 0) {
                std::nth_element(keys.begin(), keys.begin() + (prune_per_row - 1), keys.end());
                largest_pruned = keys[prune_per_row - 1];
            }
            uint8_t* mask = views.mask + row * cols;
            float* dst = views.dst_weight + row * cols;
            for (int64_t j = 0; j < cols; ++j) {
                const uint64_t key = (uint64_t{weight_key(weight[j], sqrt_scaler[j])} << 32) |
                                     static_cast<uint64_t>(j);
                const bool pruned = prune_per_row > 0 && key <= largest_pruned;
                mask[j] = pruned ? 0 : 1;
                dst[j] = pruned ? 0.0f : weight[j];
            }
        }
    }
    // Every row prunes exactly prune_per_row weights by construction.
    int64_t num_pruned = 0;
    const int64_t numel = views.rows * cols;
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host)) \
    reduction(+ : num_pruned)
    for (int64_t i = 0; i < numel; ++i) {
        num_pruned += views.mask[i] == 0 ? 1 : 0;
    }
    return num_pruned;
}

int64_t prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m) {
    const int64_t cols = views.cols;
    std::vector<float> sqrt_scaler(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
        sqrt_scaler[j] = sqrt_rn(views.scaler_row[j]);
    }
    const int64_t groups_per_row = cols / m;
    int64_t num_pruned = 0;
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host)) \
    reduction(+ : num_pruned)
    for (int64_t row = 0; row < views.rows; ++row) {
        uint32_t keys[64] = {};  // m <= 64 (manifest)
        for (int64_t group = 0; group < groups_per_row; ++group) {
            const int64_t col = group * m;
            const int64_t begin = row * cols + col;
            for (int32_t j = 0; j < m; ++j) {
                keys[j] = weight_key(views.weight[begin + j], sqrt_scaler[col + j]);
            }
            for (int32_t j = 0; j < m; ++j) {
                const bool pruned = n_of_m_key_pruned(keys, m, n, j);
                views.mask[begin + j] = pruned ? 0 : 1;
                views.dst_weight[begin + j] = pruned ? 0.0f : views.weight[begin + j];
                num_pruned += pruned ? 1 : 0;
            }
        }
    }
    return num_pruned;
}

}  // namespace mcomp::wanda

MCOMP_PLUGIN_ENTRY("wanda", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), mcomp::wanda::kTechniques)
