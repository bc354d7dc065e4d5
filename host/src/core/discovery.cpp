// discovery.cpp: see discovery.hpp.
#include "core/discovery.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcomp {

namespace fs = std::filesystem;

fs::path executable_path() {
    std::error_code ec;
    const fs::path path = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : path;
}

std::vector<fs::path> default_plugin_search_path() {
    std::vector<fs::path> dirs;
    const char* env = std::getenv("MCOMP_PLUGIN_PATH");
    if (env != nullptr) {
        const std::string_view list(env);
        std::size_t start = 0;
        while (start <= list.size()) {
            const std::size_t colon = std::min(list.find(':', start), list.size());
            if (colon > start) {
                dirs.emplace_back(std::string(list.substr(start, colon - start)));
            }
            start = colon + 1;
        }
    }
    const fs::path exe = executable_path();
    if (!exe.empty()) {
        dirs.push_back((exe.parent_path() / ".." / MCOMP_PLUGIN_SUBDIR).lexically_normal());
    }
    return dirs;
}

namespace {

// The manifests of one search folder: its own plugin.toml, then one per sub-folder, by name.
std::vector<fs::path> manifests_in(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    if (fs::is_regular_file(dir / "plugin.toml", ec)) {
        out.push_back(dir / "plugin.toml");
    }
    std::vector<fs::path> subdirs;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code file_ec;
        if (it->is_directory(file_ec) && fs::is_regular_file(it->path() / "plugin.toml", file_ec)) {
            subdirs.push_back(it->path());
        }
    }
    std::sort(subdirs.begin(), subdirs.end());
    for (const fs::path& sub : subdirs) {
        out.push_back(sub / "plugin.toml");
    }
    return out;
}

// Refuses a plugin whose id or technique ids an earlier plugin already took.
std::string find_conflict(const PluginManifest& plugin, const std::vector<PluginManifest>& known) {
    for (const PluginManifest& other : known) {
        if (other.id == plugin.id) {
            return fmt::format(
                "{}: plugin id '{}' is already taken by {}; remove one of them "
                "or take its folder off the search path",
                plugin.path.string(), plugin.id, other.path.string());
        }
        for (const TechniqueManifest& technique : plugin.techniques) {
            if (other.find_technique(technique.id) != nullptr) {
                return fmt::format(
                    "{}: technique id '{}' is already taken by plugin '{}' ({}); "
                    "technique ids must be unique across plugins",
                    plugin.path.string(), technique.id, other.id, other.path.string());
            }
        }
    }
    return {};
}

}  // namespace

Discovery discover_plugins(const std::vector<fs::path>& search_dirs) {
    Discovery out;
    std::set<fs::path> seen_dirs;
    std::set<fs::path> seen_manifests;
    for (const fs::path& dir : search_dirs) {
        std::error_code ec;
        const fs::path real = fs::canonical(dir, ec);
        if (ec || !fs::is_directory(real, ec)) {
            spdlog::debug("plugin search path: skipping {} (not a folder)", dir.string());
            continue;
        }
        if (!seen_dirs.insert(real).second) {
            continue;
        }
        for (const fs::path& manifest_path : manifests_in(real)) {
            if (!seen_manifests.insert(fs::canonical(manifest_path, ec)).second) {
                continue;
            }
            Expected<PluginManifest> manifest = parse_plugin_manifest(manifest_path);
            if (!manifest) {
                spdlog::debug("broken plugin: {}", manifest.error().message);
                out.broken.push_back({manifest_path, "", manifest.error().message});
                continue;
            }
            const std::string conflict = find_conflict(*manifest, out.plugins);
            if (!conflict.empty()) {
                spdlog::debug("broken plugin: {}", conflict);
                out.broken.push_back({manifest_path, manifest->id, conflict});
                continue;
            }
            out.plugins.push_back(std::move(*manifest));
        }
    }
    return out;
}

}  // namespace mcomp
