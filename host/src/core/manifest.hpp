// manifest.hpp: the plugin manifest (plugin.toml), parsed and validated before any library
// of the plugin is loaded.
//
// Schema (manifest_version = 1; every key listed here, no others):
//   manifest_version = 1
//   [plugin]   id, version, min_host_abi = "MAJOR.MINOR"
//   [[technique]] id, kind = quantizer|pruner|distiller, granularity = layer|block
//                 (distillers: model or omitted), description
//   [technique.params]  <name> = { type = int|float|bool|string, default, min, max,
//                                  allowed = [..], description }
//   [[backend]] device = cpu|cuda (each at most once), library (relative, inside the plugin's
//               folder), sha256 (optional, 64 hex digits)
// Every error names file:line:col, the key, what was expected and what was found.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mcomp/technique.h"
#include "mcomp/tensor.h"
#include "util/expected.hpp"

namespace mcomp {

// ---- parameter schema -----------------------------------------------------------------------

enum class ParamType { integer = 1, floating, boolean, string };

// A parameter value; the alternative matches ParamType (index 0..3).
using ParamValue = std::variant<int64_t, double, bool, std::string>;

// "int", "float", "bool", "string": the names used in manifests.
std::string_view param_type_name(ParamType type);
ParamType param_value_type(const ParamValue& value);
// TOML-like rendering for messages and listings: 4, 0.01, true, "sym".
std::string format_param_value(const ParamValue& value);

struct ParamSpec {
    std::string name;
    ParamType type = ParamType::integer;
    ParamValue default_value = int64_t{0};
    std::optional<double> min;  // int and float params only
    std::optional<double> max;
    std::vector<ParamValue> allowed;  // empty: any value of the type (within min/max)
    std::string description;
};

// ---- techniques and backends ----------------------------------------------------------------

enum class TechniqueKind {
    quantizer = MC_KIND_QUANTIZER,
    pruner = MC_KIND_PRUNER,
    distiller = MC_KIND_DISTILLER
};
enum class Granularity {
    layer = MC_GRANULARITY_LAYER,
    block = MC_GRANULARITY_BLOCK,
    model = MC_GRANULARITY_MODEL
};
enum class DeviceKind { cpu = MC_DEVICE_CPU, cuda = MC_DEVICE_CUDA };

std::string_view technique_kind_name(TechniqueKind kind);
std::string_view granularity_name(Granularity granularity);
std::string_view device_kind_name(DeviceKind device);

struct TechniqueManifest {
    std::string id;
    TechniqueKind kind = TechniqueKind::quantizer;
    Granularity granularity = Granularity::layer;
    std::string description;
    std::vector<ParamSpec> params;  // in manifest order

    const ParamSpec* find_param(std::string_view name) const;
};

struct BackendManifest {
    DeviceKind device = DeviceKind::cpu;
    std::string library;                 // as written in the manifest
    std::filesystem::path library_path;  // absolute, normalised, inside the plugin folder
    std::string sha256;                  // lower-case hex, or empty when not given
};

struct PluginManifest {
    std::filesystem::path path;  // the plugin.toml, absolute
    std::filesystem::path dir;   // its folder
    std::string id;
    std::string version;
    uint32_t min_host_abi = 0;  // MC_ABI_MAKE(major, minor)
    std::vector<TechniqueManifest> techniques;
    std::vector<BackendManifest> backends;

    const TechniqueManifest* find_technique(std::string_view technique_id) const;
    const BackendManifest* find_backend(DeviceKind device) const;
};

// "1.0" for MC_ABI_MAKE(1, 0).
std::string format_abi_version(uint32_t version);

// Reads and validates a plugin manifest. Loads nothing.
Expected<PluginManifest> parse_plugin_manifest(const std::filesystem::path& path);

// True when the TOML file is a plugin manifest rather than a pipeline: it has a [plugin]
// table, a [[technique]] or [[backend]] table, or is named plugin.toml. A file that cannot be
// read or parsed is an Error (file:line:col).
Expected<bool> is_plugin_manifest_file(const std::filesystem::path& path);

// Validates manifest text; `path` names it in messages and its folder anchors library paths.
Expected<PluginManifest> parse_plugin_manifest_text(std::string_view text,
                                                    const std::filesystem::path& path);

}  // namespace mcomp
