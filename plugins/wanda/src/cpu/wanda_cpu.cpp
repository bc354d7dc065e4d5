// wanda_cpu.cpp: the CPU backend of `wanda` (libmcomp_wanda_cpu.so) and the library's exported
// entry. OpenMP inside every kernel:
//   - norms: partial sums of squares per (chunk of kTokensPerChunk tokens, block of columns),
//     then the chunk sums in chunk order (the order wanda_score.hpp fixes for both backends);
//   - unstructured: per row, a radix select (11 + 11 + 10 bits) finds the k-th lowest score
//     key T; the keys below T and, in column order, the first of those equal to T are pruned:
//     the first k of a stable ascending sort;
//   - N:M: the shared n_of_m_key_pruned() on the keys of each group.
#include <omp.h>

#include <algorithm>
#include <cstdint>
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

// Radix select: the k-th lowest (1-based) of keys[0, count), in three passes over 11, 11 and
// 10 bits, each pass keeping only the keys of the chosen bin (in `a`, then `b`). Sets
// `equal_to_prune` to how many keys equal to the result are among the lowest k.
uint32_t radix_select(const uint32_t* keys, int64_t count, int64_t k, std::vector<uint32_t>& a,
                      std::vector<uint32_t>& b, int64_t& equal_to_prune) {
    constexpr int kShifts[3] = {21, 10, 0};
    constexpr int kWidths[3] = {11, 11, 10};
    uint32_t histogram[1 << 11] = {};
    const uint32_t* candidates = keys;
    uint32_t prefix = 0;
    int64_t rank = k;
    for (int pass = 0; pass < 3; ++pass) {
        const int shift = kShifts[pass];
        const uint32_t bin_mask = (1u << kWidths[pass]) - 1;
        std::fill(histogram, histogram + bin_mask + 1, 0u);
        for (int64_t i = 0; i < count; ++i) {
            ++histogram[(candidates[i] >> shift) & bin_mask];
        }
        uint32_t bin = 0;
        while (rank > histogram[bin]) {
            rank -= histogram[bin];
            ++bin;
        }
        prefix |= bin << shift;
        if (pass < 2) {
            uint32_t* kept = (pass == 0 ? a : b).data();
            int64_t num_kept = 0;
            for (int64_t i = 0; i < count; ++i) {
                kept[num_kept] = candidates[i];
                num_kept += ((candidates[i] >> shift) & bin_mask) == bin ? 1 : 0;
            }
            candidates = kept;
            count = num_kept;
        }
    }
    equal_to_prune = rank;  // the last bin holds keys equal to prefix only
    return prefix;
}

// The selection of one row: the k-th lowest key T, then every key below T and, in column
// order, the first `equal_to_prune` keys equal to T: exactly the first k of a stable
// ascending sort.
void select_row(const float* weight, const float* sqrt_scaler, int64_t cols, int64_t k,
                std::vector<uint32_t>& keys, std::vector<uint32_t>& a, std::vector<uint32_t>& b,
                uint8_t* mask, float* dst) {
    for (int64_t j = 0; j < cols; ++j) {
        keys[j] = weight_key(weight[j], sqrt_scaler[j]);
    }
    if (k == 0) {
        std::fill(mask, mask + cols, uint8_t{1});
        std::copy(weight, weight + cols, dst);
        return;
    }
    int64_t equal_to_prune = 0;
    const uint32_t threshold = radix_select(keys.data(), cols, k, a, b, equal_to_prune);
    for (int64_t j = 0; j < cols; ++j) {
        const bool pruned = keys[j] < threshold;
        mask[j] = pruned ? 0 : 1;
        dst[j] = pruned ? 0.0f : weight[j];
    }
    for (int64_t j = 0; j < cols && equal_to_prune > 0; ++j) {
        if (keys[j] == threshold) {
            mask[j] = 0;
            dst[j] = 0.0f;
            --equal_to_prune;
        }
    }
}

std::vector<float> sqrt_of(const float* scaler_row, int64_t cols) {
    std::vector<float> sqrt_scaler(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) {
        sqrt_scaler[j] = sqrt_rn(scaler_row[j]);
    }
    return sqrt_scaler;
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
    const std::vector<float> sqrt_scaler = sqrt_of(views.scaler_row, cols);
    int64_t num_pruned = 0;
#pragma omp parallel num_threads(host_thread_count(host)) reduction(+ : num_pruned)
    {
        std::vector<uint32_t> keys(static_cast<size_t>(cols));
        std::vector<uint32_t> a(static_cast<size_t>(cols));
        std::vector<uint32_t> b(static_cast<size_t>(cols));
#pragma omp for schedule(static)
        for (int64_t row = 0; row < views.rows; ++row) {
            uint8_t* mask = views.mask + row * cols;
            select_row(views.weight + row * cols, sqrt_scaler.data(), cols, prune_per_row, keys, a,
                       b, mask, views.dst_weight + row * cols);
            for (int64_t j = 0; j < cols; ++j) {
                num_pruned += mask[j] == 0 ? 1 : 0;
            }
        }
    }
    return num_pruned;
}

int64_t prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m) {
    const int64_t cols = views.cols;
    const std::vector<float> sqrt_scaler = sqrt_of(views.scaler_row, cols);
    const int64_t groups_per_row = cols / m;
    const float* weight = views.weight;  // locals: stores to the mask cannot alias them
    uint8_t* mask = views.mask;
    float* dst = views.dst_weight;
    int64_t num_pruned = 0;
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host)) \
    reduction(+ : num_pruned)
    for (int64_t row = 0; row < views.rows; ++row) {
        uint32_t keys[64] = {};  // m <= 64 (manifest)
        for (int64_t group = 0; group < groups_per_row; ++group) {
            const int64_t col = group * m;
            const int64_t begin = row * cols + col;
            for (int32_t j = 0; j < m; ++j) {
                keys[j] = weight_key(weight[begin + j], sqrt_scaler[col + j]);
            }
            for (int32_t j = 0; j < m; ++j) {
                const bool pruned = n_of_m_key_pruned(keys, m, n, j);
                mask[begin + j] = pruned ? 0 : 1;
                dst[begin + j] = pruned ? 0.0f : weight[begin + j];
                num_pruned += pruned ? 1 : 0;
            }
        }
    }
    return num_pruned;
}

}  // namespace mcomp::wanda

MCOMP_PLUGIN_ENTRY("wanda", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), mcomp::wanda::kTechniques)
