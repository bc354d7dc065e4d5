// plugin_harness.hpp: what plugin tests share — the real host's registry over the build
// tree's plugin folder, parameter binding through the manifest schema, and one-layer runs
// through the host's layer runner. No fake host: the libraries under test are loaded, checked
// and called exactly as `mcomp run` does.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/device.hpp"
#include "core/layer_runner.hpp"
#include "core/params.hpp"
#include "core/registry.hpp"

namespace mcomp::test {

// The plugin folder under test: the first entry of MCOMP_PLUGIN_PATH (CTest sets it to the
// build tree's; a relocated build, such as the GPU machine's bundle, sets it by hand), else
// the build tree's (MCOMP_BUILD_DIR comes from mcomp_add_test).
inline std::filesystem::path build_plugin_dir() {
    const char* env = std::getenv("MCOMP_PLUGIN_PATH");
    if (env != nullptr && env[0] != '\0') {
        const std::string first = std::string(env).substr(0, std::string(env).find(':'));
        if (std::filesystem::is_directory(first)) {
            return first;
        }
    }
    return std::filesystem::path(MCOMP_BUILD_DIR) / "lib" / "mcomp" / "plugins";
}

inline const Registry& plugin_registry() {
    static const Registry registry({build_plugin_dir()});
    return registry;
}

// Why the CUDA backend of `plugin_id` cannot run here, or "" when it can.
inline std::string cuda_unavailable_reason(std::string_view plugin_id) {
    const Registry& registry = plugin_registry();
    const PluginManifest* plugin = registry.find_plugin(plugin_id);
    if (plugin == nullptr) {
        return "plugin '" + std::string(plugin_id) + "' is not in " + build_plugin_dir().string();
    }
    const BackendState state = registry.backend_state(*plugin, DeviceKind::cuda);
    if (state != BackendState::available) {
        return describe_backend(DeviceKind::cuda, state);
    }
    return "";
}

inline std::string device_name(DeviceRequest device) {
    return std::string(device_request_name(device));
}

// One layer through create → begin_layer → plan_result → finish_layer → destroy.
struct LayerCase {
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<float> weight;  // [rows, cols]
};

inline Expected<LayerResult> run_technique(std::string_view technique_id, DeviceRequest device,
                                           const std::vector<ParamArg>& args,
                                           const LayerCase& layer) {
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
    input.out_features = layer.rows;
    input.in_features = layer.cols;
    input.weight = layer.weight;
    return run_layer(*technique, *params, input);
}

// Binds `args` to the schema of `technique_id` without loading any library.
inline Expected<OwnedParams> bind_technique_params(std::string_view technique_id,
                                                   const std::vector<ParamArg>& args) {
    const auto entry = plugin_registry().find_technique(technique_id);
    if (!entry) {
        return make_error(ErrorKind::not_found,
                          plugin_registry().unknown_technique_message(technique_id));
    }
    return bind_params(*entry->technique, args);
}

// A [rows, cols] matrix of N(0, 1) weights scaled by `scale`, reproducible from `seed`.
inline LayerCase random_layer(int64_t rows, int64_t cols, uint32_t seed, float scale = 0.05f) {
    LayerCase layer{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols))};
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& w : layer.weight) {
        w = scale * normal(rng);
    }
    return layer;
}

// Bit-level equality for floats, so -0 vs +0 and NaN payloads count as differences.
inline bool same_bits(float a, float b) {
    uint32_t a_bits = 0;
    uint32_t b_bits = 0;
    std::memcpy(&a_bits, &a, sizeof(a));
    std::memcpy(&b_bits, &b, sizeof(b));
    return a_bits == b_bits;
}

// Index of the first element where the two vectors differ (bitwise), or -1.
template <class T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) {
        return 0;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        const bool equal = [&] {
            if constexpr (std::is_same_v<T, float>) {
                return same_bits(a[i], b[i]);
            } else {
                return a[i] == b[i];
            }
        }();
        if (!equal) {
            return static_cast<int64_t>(i);
        }
    }
    return -1;
}

}  // namespace mcomp::test
