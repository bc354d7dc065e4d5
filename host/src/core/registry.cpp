// registry.cpp: see registry.hpp.
#include "core/registry.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/toml_reader.hpp"
#include "util/strings.hpp"

namespace mcomp {

namespace fs = std::filesystem;

std::string describe_backend(DeviceKind device, BackendState state) {
    const std::string name(device_kind_name(device));
    switch (state) {
        case BackendState::available:
            return name;
        case BackendState::not_built:
            return name + " (not built)";
        case BackendState::no_gpu:
            return name + " (no GPU)";
        case BackendState::host_without_cuda:
            return name + " (host built without CUDA)";
    }
    return name;
}

Registry::Registry(std::vector<fs::path> search_dirs)
    : search_dirs_(std::move(search_dirs)), discovery_(discover_plugins(search_dirs_)) {
    if (!discovery_.broken.empty()) {
        std::vector<std::string> names;
        for (const BrokenPlugin& broken : discovery_.broken) {
            names.push_back(!broken.plugin_id.empty()
                                ? broken.plugin_id
                                : broken.manifest_path.parent_path().filename().string());
        }
        spdlog::warn("skipping {} broken plugin(s): {} (see 'mcomp plugins list')", names.size(),
                     join_names(names));
    }
}

const PluginManifest* Registry::find_plugin(std::string_view plugin_id) const {
    for (const PluginManifest& plugin : discovery_.plugins) {
        if (plugin.id == plugin_id) {
            return &plugin;
        }
    }
    return nullptr;
}

const BrokenPlugin* Registry::find_broken(std::string_view plugin_id) const {
    for (const BrokenPlugin& broken : discovery_.broken) {
        // A manifest that failed early has no id: its folder name stands in for it.
        if (broken.plugin_id == plugin_id ||
            (broken.plugin_id.empty() &&
             broken.manifest_path.parent_path().filename() == plugin_id)) {
            return &broken;
        }
    }
    return nullptr;
}

std::optional<Registry::TechniqueEntry> Registry::find_technique(
    std::string_view technique_id) const {
    for (const PluginManifest& plugin : discovery_.plugins) {
        if (const TechniqueManifest* technique = plugin.find_technique(technique_id)) {
            return TechniqueEntry{&plugin, technique};
        }
    }
    return std::nullopt;
}

std::vector<std::string> Registry::technique_ids() const {
    std::vector<std::string> ids;
    for (const PluginManifest& plugin : discovery_.plugins) {
        for (const TechniqueManifest& technique : plugin.techniques) {
            ids.push_back(technique.id);
        }
    }
    return ids;
}

namespace {

std::string unknown_message(std::string_view what, std::string_view name,
                            const std::vector<std::string>& known, std::size_t broken_count) {
    std::string message = fmt::format("unknown {} '{}'", what, name);
    const std::string hint = nearest_name(name, known);
    if (!hint.empty()) {
        message += fmt::format("; did you mean '{}'?", hint);
    } else if (known.empty()) {
        message += fmt::format("; no {}s are installed (set MCOMP_PLUGIN_PATH?)", what);
    } else {
        message += fmt::format("; known {}s: {}", what, join_names(known));
    }
    if (broken_count > 0) {
        message += fmt::format(" ({} plugin(s) could not be read; see 'mcomp plugins list')",
                               broken_count);
    }
    return message;
}

}  // namespace

std::string Registry::unknown_technique_message(std::string_view technique_id) const {
    return unknown_message("technique", technique_id, technique_ids(), discovery_.broken.size());
}

std::string Registry::unknown_plugin_message(std::string_view plugin_id) const {
    std::vector<std::string> ids;
    for (const PluginManifest& plugin : discovery_.plugins) {
        ids.push_back(plugin.id);
    }
    return unknown_message("plugin", plugin_id, ids, discovery_.broken.size());
}

BackendState Registry::backend_state(const PluginManifest& plugin, DeviceKind device) const {
    const BackendManifest* backend = plugin.find_backend(device);
    std::error_code ec;
    if (backend == nullptr || !fs::exists(backend->library_path, ec)) {
        return BackendState::not_built;
    }
    if (device == DeviceKind::cpu) {
        return BackendState::available;
    }
    const CudaProbe& cuda = probe_cuda();
    if (!cuda.host_built_with_cuda) {
        return BackendState::host_without_cuda;
    }
    return cuda.available() ? BackendState::available : BackendState::no_gpu;
}

BackendChoices Registry::backend_choices(const PluginManifest& plugin) const {
    BackendChoices choices;
    std::error_code ec;
    for (const BackendManifest& backend : plugin.backends) {
        const bool present = fs::exists(backend.library_path, ec);
        (backend.device == DeviceKind::cpu ? choices.cpu : choices.cuda) = present;
    }
    return choices;
}

Expected<const LoadedBackend*> Registry::load(std::string_view plugin_id, DeviceKind device) const {
    const PluginManifest* plugin = find_plugin(plugin_id);
    if (plugin == nullptr) {
        if (const BrokenPlugin* broken = find_broken(plugin_id)) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("plugin '{}' is broken: {}", plugin_id, broken->error));
        }
        return make_error(ErrorKind::not_found, unknown_plugin_message(plugin_id));
    }
    return load_backend(*plugin, device);
}

Expected<const LoadedBackend*> Registry::load_plugin(std::string_view plugin_id,
                                                     DeviceRequest request) const {
    const PluginManifest* plugin = find_plugin(plugin_id);
    if (plugin == nullptr) {
        return load(plugin_id, DeviceKind::cpu);  // the error for broken and unknown plugins
    }
    const std::string what = fmt::format("plugin '{}'", plugin->id);
    Expected<DeviceKind> device =
        select_device(request, backend_choices(*plugin), probe_cuda(), what);
    if (!device) {
        return device.error();
    }
    if (request == DeviceRequest::auto_select) {
        const CudaProbe& cuda = probe_cuda();
        spdlog::info("plugin '{}': device auto -> {}{}", plugin->id, device_kind_name(*device),
                     *device == DeviceKind::cpu && !cuda.available() && !cuda.detail.empty()
                         ? " (" + cuda.detail + ")"
                         : "");
    }
    return load_backend(*plugin, *device);
}

Expected<LoadedTechnique> Registry::load_technique(std::string_view technique_id,
                                                   DeviceRequest request) const {
    const std::optional<TechniqueEntry> entry = find_technique(technique_id);
    if (!entry) {
        return make_error(ErrorKind::not_found, unknown_technique_message(technique_id));
    }
    Expected<const LoadedBackend*> backend = load_plugin(entry->plugin->id, request);
    if (!backend) {
        return backend.error();
    }
    return find_loaded_technique(**backend, technique_id);
}

}  // namespace mcomp
