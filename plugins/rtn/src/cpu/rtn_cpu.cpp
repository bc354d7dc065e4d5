// rtn_cpu.cpp: the CPU backend of `rtn` (libmcomp_rtn_cpu.so): one pass per group, rows in
// parallel with OpenMP, and the library's exported entry.
#include <omp.h>

#include <algorithm>

#include "rtn_grid.hpp"
#include "rtn_technique.hpp"

namespace mcomp::rtn {

namespace {

// Threads the host lets a plugin use inside a call; 0 leaves the OpenMP default.
int host_thread_count(const sdk::Host& host) {
    const auto* info = static_cast<const mc_ext_host_info*>(host.extension(MC_EXT_HOST_INFO));
    return MC_HAS_FIELD(info, mc_ext_host_info, num_threads) ? info->num_threads : 0;
}

void quantize_row(const Config& config, const LayerViews& views, int64_t row) {
    const int32_t maxq = max_code(config.bits);
    const int64_t group_cols = config.group_size > 0 ? config.group_size : views.cols;
    const float* src = views.weight + row * views.cols;
    for (int64_t group = 0; group < views.num_groups; ++group) {
        const int64_t begin = group * group_cols;
        const int64_t end = std::min(begin + group_cols, views.cols);
        float group_min = src[begin];
        float group_max = src[begin];
        for (int64_t col = begin + 1; col < end; ++col) {
            group_min = std::min(group_min, src[col]);
            group_max = std::max(group_max, src[col]);
        }
        const Grid grid = find_grid(group_min, group_max, maxq, config.sym);
        views.scales[row * views.num_groups + group] = grid.scale;
        views.zeros[row * views.num_groups + group] = grid.zero;
        for (int64_t col = begin; col < end; ++col) {
            const uint8_t code = quantize_code(src[col], grid, maxq);
            views.codes[row * views.cols + col] = code;
            views.dst_weight[row * views.cols + col] = dequantize(code, grid);
        }
    }
}

}  // namespace

mc_device_type backend_device() {
    return MC_DEVICE_CPU;
}

void quantize_layer(const sdk::Host& host, const Config& config, const LayerViews& views) {
    if (views.rows == 0 || views.cols == 0) {
        return;
    }
    const int64_t group_cols = config.group_size > 0 ? config.group_size : views.cols;
    for (int64_t col = 0; col < views.cols; ++col) {
        views.g_idx[col] = static_cast<int32_t>(col / group_cols);
    }
    const int num_threads = host_thread_count(host);
#pragma omp parallel for schedule(static) \
    num_threads(num_threads > 0 ? num_threads : omp_get_max_threads())
    for (int64_t row = 0; row < views.rows; ++row) {
        quantize_row(config, views, row);
    }
}

}  // namespace mcomp::rtn

MCOMP_PLUGIN_ENTRY("rtn", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), mcomp::rtn::kTechniques)
