// magnitude_cpu.cpp: the CPU backend of `magnitude` (libmcomp_magnitude_cpu.so) and the
// library's exported entry. The unstructured threshold comes from nth_element over the
// magnitude keys (the value a full sort would put at that position); masks are written by
// rows in parallel with OpenMP.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "magnitude_select.hpp"
#include "magnitude_technique.hpp"

namespace mcomp::magnitude {

namespace {

// Threads the host lets a plugin use inside a call, else the OpenMP default.
int host_thread_count(const sdk::Host& host) {
    const auto* info = static_cast<const mc_ext_host_info*>(host.extension(MC_EXT_HOST_INFO));
    const bool known = MC_HAS_FIELD(info, mc_ext_host_info, num_threads) && info->num_threads > 0;
    return known ? info->num_threads : omp_get_max_threads();
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CPU;
}

int64_t prune_unstructured(const sdk::Host& host, const LayerViews& views, int64_t rank) {
    const int64_t numel = views.rows * views.cols;
    std::vector<uint32_t> keys(static_cast<size_t>(numel));
    for (int64_t i = 0; i < numel; ++i) {
        keys[i] = magnitude_key(views.weight[i]);
    }
    std::nth_element(keys.begin(), keys.begin() + rank, keys.end());
    const uint32_t threshold = keys[rank];

    int64_t num_pruned = 0;
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host)) \
    reduction(+ : num_pruned)
    for (int64_t i = 0; i < numel; ++i) {
        const bool pruned = magnitude_key(views.weight[i]) <= threshold;
        views.mask[i] = pruned ? 0 : 1;
        views.dst_weight[i] = pruned ? 0.0f : views.weight[i];
        num_pruned += pruned ? 1 : 0;
    }
    return num_pruned;
}

void prune_n_of_m(const sdk::Host& host, const LayerViews& views, int32_t n, int32_t m) {
    const int64_t groups_per_row = views.cols / m;
#pragma omp parallel for schedule(static) num_threads(host_thread_count(host))
    for (int64_t row = 0; row < views.rows; ++row) {
        for (int64_t group = 0; group < groups_per_row; ++group) {
            const int64_t begin = row * views.cols + group * m;
            for (int32_t j = 0; j < m; ++j) {
                const bool pruned = n_of_m_pruned(views.weight + begin, m, n, j);
                views.mask[begin + j] = pruned ? 0 : 1;
                views.dst_weight[begin + j] = pruned ? 0.0f : views.weight[begin + j];
            }
        }
    }
}

}  // namespace mcomp::magnitude

MCOMP_PLUGIN_ENTRY("magnitude", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0),
                   mcomp::magnitude::kTechniques)
