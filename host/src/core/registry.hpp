// registry.hpp: the plugins this host knows — discovered and validated manifests, broken
// ones with their errors — and on-demand loading of the backends a run needs.
//
// Typical use (also in plugin tests):
//   mcomp::Registry registry(mcomp::default_plugin_search_path());
//   auto technique = registry.load_technique("rtn", mcomp::DeviceRequest::cpu);
//   auto params = mcomp::bind_params(*technique->manifest, {{"bits", int64_t{4}, ""}});
//   auto result = mcomp::run_layer(*technique, *params, input);   // layer_runner.hpp
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/device.hpp"
#include "core/discovery.hpp"
#include "core/loader.hpp"
#include "core/manifest.hpp"
#include "util/expected.hpp"

namespace mcomp {

// Availability of one backend of a plugin on this machine, for listings.
enum class BackendState {
    available,          // library present; for cuda also a driver and a GPU answer
    not_built,          // the library file is missing
    no_gpu,             // cuda library present, no driver or no GPU here
    host_without_cuda,  // cuda library present, but this host was built without CUDA
};
// "cpu", "cuda (no GPU)", "cuda (not built)", "cuda (host built without CUDA)"
std::string describe_backend(DeviceKind device, BackendState state);

class Registry {
  public:
    // Discovers and validates every manifest on `search_dirs`; loads nothing.
    explicit Registry(std::vector<std::filesystem::path> search_dirs);

    const std::vector<std::filesystem::path>& search_dirs() const { return search_dirs_; }
    const std::vector<PluginManifest>& plugins() const { return discovery_.plugins; }
    const std::vector<BrokenPlugin>& broken() const { return discovery_.broken; }

    const PluginManifest* find_plugin(std::string_view plugin_id) const;
    const BrokenPlugin* find_broken(std::string_view plugin_id) const;

    struct TechniqueEntry {
        const PluginManifest* plugin = nullptr;
        const TechniqueManifest* technique = nullptr;
    };
    std::optional<TechniqueEntry> find_technique(std::string_view technique_id) const;
    std::vector<std::string> technique_ids() const;

    // "unknown technique 'gtpq'; did you mean 'gptq'?" (or the list of known ones), with a
    // note when some plugins are broken.
    std::string unknown_technique_message(std::string_view technique_id) const;
    // Same for plugin ids.
    std::string unknown_plugin_message(std::string_view plugin_id) const;

    BackendState backend_state(const PluginManifest& plugin, DeviceKind device) const;
    BackendChoices backend_choices(const PluginManifest& plugin) const;

    // Loads one backend of a discovered plugin (cached process-wide, never unloaded).
    Expected<const LoadedBackend*> load(std::string_view plugin_id, DeviceKind device) const;

    // Picks the device for a plugin (auto: CUDA when available and offered, else CPU; the
    // choice is logged) and loads that backend.
    Expected<const LoadedBackend*> load_plugin(std::string_view plugin_id,
                                               DeviceRequest request) const;

    // Picks the device for `technique_id` (auto: CUDA when available and offered, else CPU;
    // the choice is logged), loads that backend and finds the technique in it.
    Expected<LoadedTechnique> load_technique(std::string_view technique_id,
                                             DeviceRequest request) const;

  private:
    std::vector<std::filesystem::path> search_dirs_;
    Discovery discovery_;
};

}  // namespace mcomp
