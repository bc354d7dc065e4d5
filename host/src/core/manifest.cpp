// manifest.cpp: see manifest.hpp. The checks follow the schema top to bottom, so the first
// error reported is the first one a reader of the file meets.
#include "core/manifest.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/params.hpp"
#include "core/toml_reader.hpp"
#include "mcomp/abi.h"
#include "util/strings.hpp"

namespace mcomp {

namespace fs = std::filesystem;

// ---- names ----------------------------------------------------------------------------------

std::string_view param_type_name(ParamType type) {
    switch (type) {
        case ParamType::integer:
            return "int";
        case ParamType::floating:
            return "float";
        case ParamType::boolean:
            return "bool";
        case ParamType::string:
            return "string";
    }
    return "?";
}

ParamType param_value_type(const ParamValue& value) {
    return static_cast<ParamType>(value.index() + 1);
}

std::string format_param_value(const ParamValue& value) {
    switch (value.index()) {
        case 0:
            return std::to_string(std::get<int64_t>(value));
        case 1: {
            const double v = std::get<double>(value);
            if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
                return fmt::format("{:.1f}", v);
            }
            return fmt::format("{}", v);
        }
        case 2:
            return std::get<bool>(value) ? "true" : "false";
        default:
            return "\"" + std::get<std::string>(value) + "\"";
    }
}

std::string_view technique_kind_name(TechniqueKind kind) {
    switch (kind) {
        case TechniqueKind::quantizer:
            return "quantizer";
        case TechniqueKind::pruner:
            return "pruner";
        case TechniqueKind::distiller:
            return "distiller";
    }
    return "?";
}

std::string_view granularity_name(Granularity granularity) {
    switch (granularity) {
        case Granularity::layer:
            return "layer";
        case Granularity::block:
            return "block";
        case Granularity::model:
            return "model";
    }
    return "?";
}

std::string_view device_kind_name(DeviceKind device) {
    return device == DeviceKind::cuda ? "cuda" : "cpu";
}

std::string format_abi_version(uint32_t version) {
    return fmt::format("{}.{}", MC_ABI_MAJOR(version), MC_ABI_MINOR(version));
}

const ParamSpec* TechniqueManifest::find_param(std::string_view name) const {
    for (const ParamSpec& spec : params) {
        if (spec.name == name) {
            return &spec;
        }
    }
    return nullptr;
}

const TechniqueManifest* PluginManifest::find_technique(std::string_view technique_id) const {
    for (const TechniqueManifest& technique : techniques) {
        if (technique.id == technique_id) {
            return &technique;
        }
    }
    return nullptr;
}

const BackendManifest* PluginManifest::find_backend(DeviceKind device) const {
    for (const BackendManifest& backend : backends) {
        if (backend.device == device) {
            return &backend;
        }
    }
    return nullptr;
}

namespace {

// ---- small checks ---------------------------------------------------------------------------

// Plugin, technique and parameter ids end up in file names, logger names and TOML keys.
bool is_valid_id(std::string_view id, bool allow_dash) {
    if (id.empty() || !(std::islower(static_cast<unsigned char>(id[0])) || id[0] == '_')) {
        return false;
    }
    for (const char c : id) {
        const bool ok = std::islower(static_cast<unsigned char>(c)) ||
                        std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
                        (allow_dash && c == '-');
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool parse_abi(std::string_view text, uint32_t& version) {
    const std::size_t dot = text.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size() || dot > 5 ||
        text.size() - dot - 1 > 5) {
        return false;
    }
    uint32_t major = 0;
    uint32_t minor = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (i == dot) {
            continue;
        }
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
            return false;
        }
        uint32_t& part = i < dot ? major : minor;
        part = part * 10 + static_cast<uint32_t>(text[i] - '0');
    }
    if (major > 0xffff || minor > 0xffff) {
        return false;
    }
    version = MC_ABI_MAKE(major, minor);
    return true;
}

bool is_hex64(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
}

bool path_is_inside(const fs::path& path, const fs::path& dir) {
    auto p = path.begin();
    for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
        if (d->empty() && std::next(d) == dir.end()) {
            break;  // a trailing separator in `dir`
        }
        if (p == path.end() || *p != *d) {
            return false;
        }
    }
    return p != path.end();
}

std::string first_at(const TableReader& reader, const toml::node& node) {
    return reader.where(node);
}

// ---- [plugin] -------------------------------------------------------------------------------

Status read_plugin_table(const TableReader& root, PluginManifest& out) {
    const toml::node* node = root.find("plugin");
    if (node == nullptr) {
        return root.missing("plugin", "a [plugin] table");
    }
    if (!node->is_table()) {
        return root.mismatch(*node, "plugin", "a table");
    }
    const TableReader plugin(*node->as_table(), "plugin", root.file());
    MCOMP_TRY(plugin.check_keys({"id", "version", "min_host_abi"}));

    Expected<std::string> id = plugin.get_string("id");
    if (!id) {
        return id.error();
    }
    if (!is_valid_id(*id, true)) {
        return plugin.mismatch(*plugin.find("id"), "id",
                               "an id of lower-case letters, digits, '_' and '-'");
    }
    out.id = *id;

    Expected<std::string> version = plugin.get_string("version");
    if (!version) {
        return version.error();
    }
    out.version = *version;

    const toml::node* abi = plugin.find("min_host_abi");
    if (abi == nullptr) {
        return plugin.missing("min_host_abi", "a string \"MAJOR.MINOR\"");
    }
    uint32_t needed = 0;
    if (!abi->is_string() || !parse_abi(abi->as_string()->get(), needed)) {
        return plugin.mismatch(*abi, "min_host_abi", "a string \"MAJOR.MINOR\" such as \"1.0\"");
    }
    if (!MC_ABI_COMPATIBLE(MC_ABI_VERSION, needed)) {
        return plugin.mismatch(*abi, "min_host_abi",
                               fmt::format("an ABI version this host ({}) supports (major {}, "
                                           "minor at most {})",
                                           format_abi_version(MC_ABI_VERSION), MC_ABI_VERSION_MAJOR,
                                           MC_ABI_VERSION_MINOR));
    }
    out.min_host_abi = needed;
    return {};
}

// ---- [technique.params] ---------------------------------------------------------------------

// Converts a TOML value to a ParamValue of `type`; nullopt when it has another type (an
// integer is accepted for a float).
std::optional<ParamValue> to_param_value(const toml::node& node, ParamType type) {
    switch (type) {
        case ParamType::integer:
            if (node.is_integer()) {
                return ParamValue(node.as_integer()->get());
            }
            break;
        case ParamType::floating:
            if (node.is_integer()) {
                return ParamValue(static_cast<double>(node.as_integer()->get()));
            }
            if (node.is_floating_point()) {
                return ParamValue(node.as_floating_point()->get());
            }
            break;
        case ParamType::boolean:
            if (node.is_boolean()) {
                return ParamValue(node.as_boolean()->get());
            }
            break;
        case ParamType::string:
            if (node.is_string()) {
                return ParamValue(node.as_string()->get());
            }
            break;
    }
    return std::nullopt;
}

std::string_view type_expectation(ParamType type) {
    switch (type) {
        case ParamType::integer:
            return "an integer";
        case ParamType::floating:
            return "a number";
        case ParamType::boolean:
            return "a boolean";
        case ParamType::string:
            return "a string";
    }
    return "?";
}

Status read_bound(const TableReader& param, const char* name, const ParamSpec& spec,
                  std::optional<double>& bound) {
    const toml::node* node = param.find(name);
    if (node == nullptr) {
        return {};
    }
    if (spec.type == ParamType::boolean || spec.type == ParamType::string) {
        return param.error_at(*node, name,
                              fmt::format("a {} parameter has no {}; use allowed = [...]",
                                          param_type_name(spec.type), name));
    }
    const std::optional<ParamValue> value = to_param_value(*node, spec.type);
    if (!value) {
        return param.mismatch(*node, name, type_expectation(spec.type));
    }
    bound = spec.type == ParamType::integer ? static_cast<double>(std::get<int64_t>(*value))
                                            : std::get<double>(*value);
    return {};
}

Status read_allowed(const TableReader& param, ParamSpec& spec) {
    const toml::node* node = param.find("allowed");
    if (node == nullptr) {
        return {};
    }
    if (!node->is_array() || node->as_array()->empty()) {
        return param.mismatch(
            *node, "allowed",
            fmt::format("a non-empty array of {} values", param_type_name(spec.type)));
    }
    for (const toml::node& element : *node->as_array()) {
        std::optional<ParamValue> value = to_param_value(element, spec.type);
        if (!value) {
            return param.mismatch(element, "allowed", type_expectation(spec.type));
        }
        const double v = spec.type == ParamType::integer    ? double(std::get<int64_t>(*value))
                         : spec.type == ParamType::floating ? std::get<double>(*value)
                                                            : 0.0;
        if ((spec.min && v < *spec.min) || (spec.max && v > *spec.max)) {
            return param.mismatch(element, "allowed", "values within min/max");
        }
        spec.allowed.push_back(std::move(*value));
    }
    return {};
}

Expected<ParamSpec> read_param(const TableReader& params, const toml::key& name,
                               const toml::node& node) {
    const std::string file = params.file();
    if (!is_valid_id(name.str(), false)) {
        return make_error(
            ErrorKind::bad_input,
            fmt::format("{}: {}: expected a parameter name of lower-case letters, digits and "
                        "'_', found \"{}\"",
                        toml_where(name.source(), file), params.key(name.str()), name.str()));
    }
    if (!node.is_table()) {
        return params.mismatch(node, name.str(), "a table such as { type = \"int\", default = 4 }");
    }
    const TableReader param(*node.as_table(), params.key(name.str()), file);
    MCOMP_TRY(param.check_keys({"type", "default", "min", "max", "allowed", "description"}));

    ParamSpec spec;
    spec.name = name.str();
    Expected<std::string> type = param.get_choice("type", {"int", "float", "bool", "string"});
    if (!type) {
        return type.error();
    }
    spec.type = *type == "int"     ? ParamType::integer
                : *type == "float" ? ParamType::floating
                : *type == "bool"  ? ParamType::boolean
                                   : ParamType::string;

    const toml::node* def = param.find("default");
    if (def == nullptr) {
        return param.missing("default", std::string(type_expectation(spec.type)));
    }
    MCOMP_TRY(read_bound(param, "min", spec, spec.min));
    MCOMP_TRY(read_bound(param, "max", spec, spec.max));
    if (spec.min && spec.max && *spec.min > *spec.max) {
        return param.error_at(*param.find("max"), "max",
                              fmt::format("expected a value >= min ({}), found {}",
                                          describe_toml_value(*param.find("min")),
                                          describe_toml_value(*param.find("max"))));
    }
    MCOMP_TRY(read_allowed(param, spec));
    Expected<std::optional<std::string>> description = param.get_optional_string("description");
    if (!description) {
        return description.error();
    }
    spec.description = description->value_or("");

    // The default must itself be a valid value.
    const std::optional<ParamValue> default_value = to_param_value(*def, spec.type);
    if (!default_value) {
        return param.mismatch(*def, "default", type_expectation(spec.type));
    }
    Expected<ParamValue> checked =
        check_param_value(spec, *default_value, param.where(*def) + ": " + param.key("default"));
    if (!checked) {
        return checked.error();
    }
    spec.default_value = *checked;
    return spec;
}

Status read_params(const TableReader& technique, TechniqueManifest& out) {
    const toml::node* node = technique.find("params");
    if (node == nullptr) {
        return {};
    }
    if (!node->is_table()) {
        return technique.mismatch(*node, "params", "a table");
    }
    const TableReader params(*node->as_table(), technique.key("params"), technique.file());
    // toml++ keeps keys sorted; the schema keeps the manifest's order.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [k, v] : *node->as_table()) {
        entries.emplace_back(&k, &v);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        const auto& pa = a.first->source().begin;
        const auto& pb = b.first->source().begin;
        return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    for (const auto& [key, value] : entries) {
        Expected<ParamSpec> spec = read_param(params, *key, *value);
        if (!spec) {
            return spec.error();
        }
        out.params.push_back(std::move(*spec));
    }
    return {};
}

// ---- [[technique]] --------------------------------------------------------------------------

Expected<TechniqueManifest> read_technique(const TableReader& technique) {
    MCOMP_TRY(technique.check_keys({"id", "kind", "granularity", "description", "params"}));
    TechniqueManifest out;
    Expected<std::string> id = technique.get_string("id");
    if (!id) {
        return id.error();
    }
    if (!is_valid_id(*id, true)) {
        return technique.mismatch(*technique.find("id"), "id",
                                  "an id of lower-case letters, digits, '_' and '-'");
    }
    out.id = *id;

    Expected<std::string> kind = technique.get_choice("kind", {"quantizer", "pruner", "distiller"});
    if (!kind) {
        return kind.error();
    }
    out.kind = *kind == "quantizer" ? TechniqueKind::quantizer
               : *kind == "pruner"  ? TechniqueKind::pruner
                                    : TechniqueKind::distiller;

    if (out.kind == TechniqueKind::distiller) {
        out.granularity = Granularity::model;
        const toml::node* granularity = technique.find("granularity");
        if (granularity != nullptr &&
            (!granularity->is_string() || granularity->as_string()->get() != "model")) {
            return technique.mismatch(*granularity, "granularity",
                                      "model (or no granularity) for a distiller");
        }
    } else {
        Expected<std::string> granularity = technique.get_choice("granularity", {"layer", "block"});
        if (!granularity) {
            return granularity.error();
        }
        out.granularity = *granularity == "layer" ? Granularity::layer : Granularity::block;
    }

    Expected<std::string> description = technique.get_string("description");
    if (!description) {
        return description.error();
    }
    out.description = *description;
    MCOMP_TRY(read_params(technique, out));
    return out;
}

Status read_techniques(const TableReader& root, PluginManifest& out) {
    const toml::node* node = root.find("technique");
    if (node == nullptr) {
        return root.missing("technique", "at least one [[technique]] table");
    }
    if (!node->is_array_of_tables() || node->as_array()->empty()) {
        return root.mismatch(*node, "technique", "an array of [[technique]] tables");
    }
    std::vector<const toml::node*> id_nodes;
    for (const toml::node& element : *node->as_array()) {
        const TableReader technique(*element.as_table(), "technique", root.file());
        Expected<TechniqueManifest> parsed = read_technique(technique);
        if (!parsed) {
            return parsed.error();
        }
        const toml::node* id_node = technique.find("id");
        for (std::size_t i = 0; i < out.techniques.size(); ++i) {
            if (out.techniques[i].id == parsed->id) {
                return technique.error_at(
                    *id_node, "id",
                    fmt::format("expected a technique id unique in this plugin, found \"{}\" "
                                "again (first at {})",
                                parsed->id, first_at(technique, *id_nodes[i])));
            }
        }
        id_nodes.push_back(id_node);
        out.techniques.push_back(std::move(*parsed));
    }
    return {};
}

// ---- [[backend]] ----------------------------------------------------------------------------

Status check_library_path(const TableReader& backend, const toml::node& node,
                          const std::string& library, const fs::path& dir, fs::path& resolved) {
    const fs::path relative(library);
    if (relative.is_absolute()) {
        return backend.mismatch(node, "library", "a path relative to the plugin's folder");
    }
    const fs::path joined = (dir / relative).lexically_normal();
    if (!path_is_inside(joined, dir) || joined.filename().empty()) {
        return backend.mismatch(node, "library", "a file inside the plugin's folder");
    }
    // Symbolic links may not lead out of the folder either (the part of the path that exists
    // is resolved; a missing library is "not built", which is not an error here).
    std::error_code ec;
    const fs::path real_dir = fs::weakly_canonical(dir, ec);
    const fs::path real_lib = ec ? joined : fs::weakly_canonical(joined, ec);
    if (!ec && !path_is_inside(real_lib, real_dir)) {
        return backend.error_at(
            node, "library",
            fmt::format("expected a file inside the plugin's folder, found \"{}\", which a "
                        "symbolic link leads to {}",
                        library, real_lib.string()));
    }
    resolved = joined;
    return {};
}

Status read_backends(const TableReader& root, PluginManifest& out) {
    const toml::node* node = root.find("backend");
    if (node == nullptr) {
        return root.missing("backend", "at least one [[backend]] table");
    }
    if (!node->is_array_of_tables() || node->as_array()->empty()) {
        return root.mismatch(*node, "backend", "an array of [[backend]] tables");
    }
    std::vector<const toml::node*> device_nodes;
    for (const toml::node& element : *node->as_array()) {
        const TableReader backend(*element.as_table(), "backend", root.file());
        MCOMP_TRY(backend.check_keys({"device", "library", "sha256"}));
        BackendManifest parsed;
        Expected<std::string> device = backend.get_choice("device", {"cpu", "cuda"});
        if (!device) {
            return device.error();
        }
        parsed.device = *device == "cpu" ? DeviceKind::cpu : DeviceKind::cuda;
        for (std::size_t i = 0; i < out.backends.size(); ++i) {
            if (out.backends[i].device == parsed.device) {
                return backend.error_at(
                    *backend.find("device"), "device",
                    fmt::format("expected each device at most once, found a second \"{}\" "
                                "backend (first at {})",
                                *device, first_at(backend, *device_nodes[i])));
            }
        }
        device_nodes.push_back(backend.find("device"));

        Expected<std::string> library = backend.get_string("library");
        if (!library) {
            return library.error();
        }
        parsed.library = *library;
        MCOMP_TRY(check_library_path(backend, *backend.find("library"), *library, out.dir,
                                     parsed.library_path));

        Expected<std::optional<std::string>> sha = backend.get_optional_string("sha256");
        if (!sha) {
            return sha.error();
        }
        if (sha->has_value()) {
            if (!is_hex64(**sha)) {
                return backend.mismatch(*backend.find("sha256"), "sha256", "64 hexadecimal digits");
            }
            parsed.sha256 = **sha;
            std::transform(parsed.sha256.begin(), parsed.sha256.end(), parsed.sha256.begin(),
                           [](char c) { return static_cast<char>(std::tolower(c)); });
        }
        out.backends.push_back(std::move(parsed));
    }
    return {};
}

}  // namespace

// ---- entry points ---------------------------------------------------------------------------

Expected<PluginManifest> parse_plugin_manifest_text(std::string_view text, const fs::path& path) {
    const fs::path absolute = fs::absolute(path).lexically_normal();
    const std::string file = absolute.string();
    Expected<toml::table> table = parse_toml(text, file);
    if (!table) {
        return table.error();
    }
    const TableReader root(*table, "", file);
    MCOMP_TRY(root.check_keys({"manifest_version", "plugin", "technique", "backend"}));

    const toml::node* version = root.find("manifest_version");
    if (version == nullptr) {
        return root.missing("manifest_version", "1");
    }
    if (!version->is_integer() || version->as_integer()->get() != 1) {
        return root.mismatch(*version, "manifest_version", "1");
    }

    PluginManifest out;
    out.path = absolute;
    out.dir = absolute.parent_path();
    MCOMP_TRY(read_plugin_table(root, out));
    MCOMP_TRY(read_techniques(root, out));
    MCOMP_TRY(read_backends(root, out));
    return out;
}

Expected<PluginManifest> parse_plugin_manifest(const fs::path& path) {
    std::string text;
    if (!read_file(path.string(), text)) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot read the manifest: {}",
                                                     path.string(), std::strerror(errno)));
    }
    return parse_plugin_manifest_text(text, path);
}

Expected<bool> is_plugin_manifest_file(const fs::path& path) {
    std::string text;
    if (!read_file(path.string(), text)) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot read the file: {}", path.string(),
                                                     std::strerror(errno)));
    }
    Expected<toml::table> table = parse_toml(text, fs::absolute(path).lexically_normal().string());
    if (!table) {
        return table.error();
    }
    // A plugin manifest has [plugin]; one that lost it still has the plugin-only tables, and
    // is better reported as a manifest missing [plugin] than as a broken pipeline.
    return table->contains("plugin") || table->contains("technique") ||
           table->contains("backend") || path.filename() == "plugin.toml";
}

}  // namespace mcomp
