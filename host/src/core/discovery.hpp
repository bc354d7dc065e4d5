// discovery.hpp: finding plugin manifests on the search path and validating all of them
// before any library is loaded.
//
// Search path: the folders of MCOMP_PLUGIN_PATH (colon-separated) in order, then
// <folder of the mcomp executable>/../lib/mcomp/plugins (the install prefix, which the build
// tree mirrors). Each folder holds one sub-folder per plugin with its plugin.toml; a
// plugin.toml directly in a listed folder counts too. Plugin ids and technique ids are unique
// across all plugins: a later duplicate (further down the search path) is reported as broken.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/manifest.hpp"

namespace mcomp {

// A manifest that could not be used, and why; the other plugins still load.
struct BrokenPlugin {
    std::filesystem::path manifest_path;
    std::string plugin_id;  // when the manifest got far enough to name one, else ""
    std::string error;
};

struct Discovery {
    std::vector<PluginManifest> plugins;  // in search-path order, then by folder name
    std::vector<BrokenPlugin> broken;
};

// The running executable's path (/proc/self/exe), empty when it cannot be read.
std::filesystem::path executable_path();

// MCOMP_PLUGIN_PATH entries, then the folder next to the executable (whether or not it exists).
std::vector<std::filesystem::path> default_plugin_search_path();

// Reads every manifest found under `search_dirs`; missing folders are skipped, the same
// folder listed twice is read once.
Discovery discover_plugins(const std::vector<std::filesystem::path>& search_dirs);

}  // namespace mcomp
