// pipeline.cpp: see pipeline.hpp.
#include "core/pipeline.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/toml_reader.hpp"
#include "util/strings.hpp"

namespace mcomp {

namespace fs = std::filesystem;

const std::vector<std::string>& known_output_formats() {
    static const std::vector<std::string> formats = {
        "gptq", "gptq_v2", "awq", "compressed-tensors", "dense", "sparse-24-bitmask"};
    return formats;
}

Expected<fs::path> resolve_pipeline_path(std::string_view value, const fs::path& base_dir) {
    static constexpr std::string_view kTestData = "${MCOMP_TEST_DATA}";
    if (value.substr(0, kTestData.size()) == kTestData) {
        const std::string_view rest = value.substr(kTestData.size());
        if (!rest.empty() && rest.front() != '/') {
            return make_error(
                ErrorKind::bad_input,
                fmt::format("expected \"${{MCOMP_TEST_DATA}}/...\", found \"{}\"", value));
        }
        const fs::path root = fs::absolute(test_data_dir());
        const fs::path relative = fs::path(std::string(rest)).relative_path();
        return (relative.empty() ? root : root / relative).lexically_normal();
    }
    if (const std::size_t open = value.find("${"); open != std::string_view::npos) {
        const std::size_t close = value.find('}', open);
        const std::string_view name =
            value.substr(open, close == std::string_view::npos ? close : close - open + 1);
        return make_error(ErrorKind::bad_input,
                          fmt::format("unknown variable {} in \"{}\"; only ${{MCOMP_TEST_DATA}} "
                                      "at the start of a path is expanded",
                                      name, value));
    }
    const fs::path path{std::string(value)};
    return (path.is_absolute() ? path : base_dir / path).lexically_normal();
}

namespace {

// Everything the pipeline readers share.
struct Context {
    std::string file;
    fs::path base_dir;
    const std::vector<PluginManifest>& plugins;
    std::size_t broken_count = 0;
};

Expected<fs::path> read_path(const TableReader& table, std::string_view key, const toml::node& node,
                             const std::string& value, const Context& ctx) {
    Expected<fs::path> path = resolve_pipeline_path(value, ctx.base_dir);
    if (!path) {
        return table.error_at(node, key, path.error().message);
    }
    return path;
}

Status read_path_list(const TableReader& table, std::string_view key, const Context& ctx,
                      std::vector<fs::path>& paths, std::vector<SourceRef>& where) {
    auto list = table.get_string_list(key);
    if (!list) {
        return list.error();
    }
    for (const auto& [value, node] : *list) {
        Expected<fs::path> path = read_path(table, key, *node, value, ctx);
        if (!path) {
            return path.error();
        }
        paths.push_back(*path);
        where.push_back({table.where(*node) + ": " + table.key(key)});
    }
    return {};
}

Status read_positive(const TableReader& table, std::string_view key, int64_t& value,
                     int64_t minimum) {
    auto parsed = table.get_optional_int(key);
    if (!parsed) {
        return parsed.error();
    }
    if (parsed->has_value()) {
        if (**parsed < minimum) {
            return table.mismatch(*table.find(key), key, fmt::format("an integer >= {}", minimum));
        }
        value = **parsed;
    }
    return {};
}

Expected<const toml::table*> get_table(const TableReader& root, std::string_view key, bool required,
                                       std::string_view expected) {
    const toml::node* node = root.find(key);
    if (node == nullptr) {
        if (required) {
            return root.missing(key, expected);
        }
        return static_cast<const toml::table*>(nullptr);
    }
    if (!node->is_table()) {
        return root.mismatch(*node, key, "a table");
    }
    return node->as_table();
}

// ---- [model] --------------------------------------------------------------------------------

Status read_model(const TableReader& root, const Context& ctx, PipelineModel& out) {
    auto table = get_table(root, "model", true, "a [model] table with path or id");
    if (!table) {
        return table.error();
    }
    const TableReader model(**table, "model", ctx.file);
    MCOMP_TRY(model.check_keys({"path", "id"}));
    const toml::node* path = model.find("path");
    const toml::node* id = model.find("id");
    if (path != nullptr && id != nullptr) {
        return model.error_at(*id, "id", "give either model.path or model.id, not both");
    }
    if (path == nullptr && id == nullptr) {
        return model.missing("path",
                             "a model folder (path = \"...\") or a Hugging Face id "
                             "(id = \"org/name\")");
    }
    out.where = {model.where(path != nullptr ? *path : *id)};
    if (id != nullptr) {
        Expected<std::string> value = model.get_string("id");
        if (!value) {
            return value.error();
        }
        if (value->find_first_of(" \t") != std::string::npos) {
            return model.mismatch(*id, "id", "a Hugging Face id such as \"org/name\"");
        }
        out.id = *value;
        return {};
    }
    Expected<std::string> value = model.get_string("path");
    if (!value) {
        return value.error();
    }
    Expected<fs::path> resolved = read_path(model, "path", *path, *value, ctx);
    if (!resolved) {
        return resolved.error();
    }
    out.path = *resolved;
    return {};
}

// ---- [calibration] and [eval] ----------------------------------------------------------------

Status read_calibration(const TableReader& root, const Context& ctx, PipelineCalibration& out) {
    auto table = get_table(root, "calibration", false, "");
    if (!table) {
        return table.error();
    }
    if (*table == nullptr) {
        return {};
    }
    const TableReader calibration(**table, "calibration", ctx.file);
    MCOMP_TRY(calibration.check_keys(
        {"text", "samples", "seqlen", "seed", "true_sequential", "device", "dtype"}));
    out.present = true;
    MCOMP_TRY(read_path_list(calibration, "text", ctx, out.texts, out.text_where));
    MCOMP_TRY(read_positive(calibration, "samples", out.samples, 1));
    MCOMP_TRY(read_positive(calibration, "seqlen", out.seqlen, 1));
    MCOMP_TRY(read_positive(calibration, "seed", out.seed, 0));
    const Expected<std::optional<bool>> true_sequential =
        calibration.get_optional_bool("true_sequential");
    MCOMP_TRY(true_sequential);
    out.true_sequential = true_sequential->value_or(true);
    if (calibration.find("device") != nullptr) {
        Expected<std::string> name = calibration.get_choice("device", {"auto", "cpu", "cuda"});
        MCOMP_TRY(name);
        out.device = *parse_device_request(*name);
    }
    if (calibration.find("dtype") != nullptr) {
        Expected<std::string> name = calibration.get_choice("dtype", {"f32", "f16", "bf16"});
        MCOMP_TRY(name);
        out.dtype = *name;
        if (out.dtype != "f32" && out.device == DeviceRequest::cpu) {
            return calibration.mismatch(*calibration.find("dtype"), "dtype",
                                        "\"f32\" (the CPU forward pass is fp32)");
        }
    }
    return {};
}

Status read_eval(const TableReader& root, const Context& ctx, PipelineEval& out) {
    auto table = get_table(root, "eval", false, "");
    if (!table) {
        return table.error();
    }
    if (*table == nullptr) {
        return {};
    }
    const TableReader eval(**table, "eval", ctx.file);
    MCOMP_TRY(eval.check_keys({"texts", "seqlen"}));
    out.present = true;
    MCOMP_TRY(read_path_list(eval, "texts", ctx, out.texts, out.text_where));
    MCOMP_TRY(read_positive(eval, "seqlen", out.seqlen, 1));
    return {};
}

// ---- [[stage]] ------------------------------------------------------------------------------

Expected<std::vector<ParamArg>> read_stage_params(const TableReader& stage) {
    std::vector<ParamArg> args;
    const toml::node* node = stage.find("params");
    if (node == nullptr) {
        return args;
    }
    if (!node->is_table()) {
        return stage.mismatch(*node, "params", "a table such as { bits = 4 }");
    }
    // In file order, so the first problem reported is the first in the file (toml++ keeps
    // keys sorted by name).
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [key, value] : *node->as_table()) {
        entries.emplace_back(&key, &value);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        const auto& pa = a.first->source().begin;
        const auto& pb = b.first->source().begin;
        return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    for (const auto& [key, value] : entries) {
        ParamArg arg;
        arg.name = key->str();
        arg.where =
            toml_where(key->source(), stage.file()) + ": " + stage.key("params") + "." + arg.name;
        if (value->is_integer()) {
            arg.value = value->as_integer()->get();
        } else if (value->is_floating_point()) {
            arg.value = value->as_floating_point()->get();
        } else if (value->is_boolean()) {
            arg.value = value->as_boolean()->get();
        } else if (value->is_string()) {
            arg.value = value->as_string()->get();
        } else {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: expected an integer, a number, a boolean or a "
                                          "string, found {}",
                                          arg.where, describe_toml_value(*value)));
        }
        args.push_back(std::move(arg));
    }
    return args;
}

Status read_patterns(const TableReader& stage, std::string_view key,
                     std::vector<std::string>& out) {
    if (stage.find(key) == nullptr) {
        return {};
    }
    auto list = stage.get_string_list(key);
    if (!list) {
        return list.error();
    }
    for (const auto& entry : *list) {
        out.push_back(entry.first);
    }
    return {};
}

Expected<PipelineStage> read_stage(const TableReader& stage, const Context& ctx) {
    MCOMP_TRY(stage.check_keys({"use", "params", "device", "include", "exclude"}));
    PipelineStage out;
    out.where = {stage.where()};
    Expected<std::string> use = stage.get_string("use");
    if (!use) {
        return use.error();
    }
    out.use = *use;
    for (const PluginManifest& plugin : ctx.plugins) {
        if (const TechniqueManifest* technique = plugin.find_technique(out.use)) {
            out.technique = technique;
            out.plugin_id = plugin.id;
            break;
        }
    }
    if (out.technique == nullptr) {
        std::vector<std::string> known;
        for (const PluginManifest& plugin : ctx.plugins) {
            for (const TechniqueManifest& technique : plugin.techniques) {
                known.push_back(technique.id);
            }
        }
        const std::string hint = nearest_name(out.use, known);
        std::string message = fmt::format("unknown technique \"{}\"", out.use);
        message += !hint.empty()   ? fmt::format("; did you mean '{}'?", hint)
                   : known.empty() ? "; no plugins are installed (set MCOMP_PLUGIN_PATH?)"
                                   : "; known techniques: " + join_names(known);
        if (ctx.broken_count > 0) {
            message += fmt::format(" ({} plugin(s) could not be read; see 'mcomp plugins list')",
                                   ctx.broken_count);
        }
        return stage.error_at(*stage.find("use"), "use", message);
    }

    Expected<std::vector<ParamArg>> args = read_stage_params(stage);
    if (!args) {
        return args.error();
    }
    Expected<OwnedParams> params = bind_params(*out.technique, *args);
    if (!params) {
        return params.error();
    }
    out.params = std::move(*params);

    if (const toml::node* device = stage.find("device")) {
        Expected<std::string> name = stage.get_choice("device", {"auto", "cpu", "cuda"});
        if (!name) {
            return name.error();
        }
        out.device = *parse_device_request(*name);
        const PluginManifest* plugin = nullptr;
        for (const PluginManifest& p : ctx.plugins) {
            plugin = p.id == out.plugin_id ? &p : plugin;
        }
        if (out.device != DeviceRequest::auto_select &&
            plugin->find_backend(out.device == DeviceRequest::cpu ? DeviceKind::cpu
                                                                  : DeviceKind::cuda) == nullptr) {
            std::vector<std::string> offered;
            for (const BackendManifest& backend : plugin->backends) {
                offered.emplace_back(device_kind_name(backend.device));
            }
            return stage.mismatch(*device, "device",
                                  fmt::format("a device that plugin '{}' has a backend for ({})",
                                              out.plugin_id, join_names(offered)));
        }
    }
    MCOMP_TRY(read_patterns(stage, "include", out.include));
    MCOMP_TRY(read_patterns(stage, "exclude", out.exclude));
    return out;
}

Status read_stages(const TableReader& root, const Context& ctx, std::vector<PipelineStage>& out) {
    const toml::node* node = root.find("stage");
    if (node == nullptr) {
        return root.missing("stage", "at least one [[stage]] table");
    }
    if (!node->is_array_of_tables() || node->as_array()->empty()) {
        return root.mismatch(*node, "stage", "an array of [[stage]] tables");
    }
    for (const toml::node& element : *node->as_array()) {
        const TableReader stage(*element.as_table(), "stage", ctx.file);
        Expected<PipelineStage> parsed = read_stage(stage, ctx);
        if (!parsed) {
            return parsed.error();
        }
        out.push_back(std::move(*parsed));
    }
    return {};
}

// ---- [output] -------------------------------------------------------------------------------

Status read_output(const TableReader& root, const Context& ctx, PipelineOutput& out) {
    auto table = get_table(root, "output", true, "an [output] table with dir");
    if (!table) {
        return table.error();
    }
    const TableReader output(**table, "output", ctx.file);
    MCOMP_TRY(output.check_keys({"dir", "formats"}));
    Expected<std::string> dir = output.get_string("dir");
    if (!dir) {
        return dir.error();
    }
    Expected<fs::path> resolved = read_path(output, "dir", *output.find("dir"), *dir, ctx);
    if (!resolved) {
        return resolved.error();
    }
    out.dir = *resolved;
    if (output.find("formats") == nullptr) {
        out.formats = {"dense"};
        return {};
    }
    auto formats = output.get_string_list("formats");
    if (!formats) {
        return formats.error();
    }
    const std::vector<std::string>& known = known_output_formats();
    for (const auto& [format, node] : *formats) {
        if (std::find(known.begin(), known.end(), format) == known.end()) {
            return output.mismatch(*node, "formats", "one of " + join_names(known));
        }
        if (std::find(out.formats.begin(), out.formats.end(), format) == out.formats.end()) {
            out.formats.push_back(format);
        }
    }
    return {};
}

}  // namespace

// ---- entry points ---------------------------------------------------------------------------

Expected<Pipeline> parse_pipeline_text(std::string_view text, const fs::path& path,
                                       const std::vector<PluginManifest>& plugins,
                                       std::size_t broken_count) {
    Pipeline out;
    out.path = fs::absolute(path).lexically_normal();
    const Context ctx{out.path.string(), out.path.parent_path(), plugins, broken_count};
    Expected<toml::table> table = parse_toml(text, ctx.file);
    if (!table) {
        return table.error();
    }
    const TableReader root(*table, "", ctx.file);
    if (root.find("plugin") != nullptr) {
        return root.error_at(*root.find("plugin"), "plugin",
                             "this is a plugin manifest, not a pipeline (try 'mcomp validate')");
    }
    MCOMP_TRY(root.check_keys({"model", "calibration", "stage", "output", "eval"}));
    MCOMP_TRY(read_model(root, ctx, out.model));
    MCOMP_TRY(read_calibration(root, ctx, out.calibration));
    MCOMP_TRY(read_stages(root, ctx, out.stages));
    MCOMP_TRY(read_output(root, ctx, out.output));
    MCOMP_TRY(read_eval(root, ctx, out.eval));
    return out;
}

Expected<Pipeline> parse_pipeline(const fs::path& path, const std::vector<PluginManifest>& plugins,
                                  std::size_t broken_count) {
    std::string text;
    if (!read_file(path.string(), text)) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot read the pipeline: {}",
                                                     path.string(), std::strerror(errno)));
    }
    return parse_pipeline_text(text, path, plugins, broken_count);
}

Status check_pipeline_inputs(const Pipeline& pipeline) {
    std::error_code ec;
    if (!pipeline.model.path.empty()) {
        const fs::path& dir = pipeline.model.path;
        if (!fs::is_directory(dir, ec) || !fs::is_regular_file(dir / "config.json", ec)) {
            return make_error(ErrorKind::not_found,
                              fmt::format("{}: model.path: {} is not a model folder (expected a "
                                          "folder with config.json)",
                                          pipeline.model.where.text, dir.string()));
        }
    }
    const auto check_files = [&](const std::vector<fs::path>& files,
                                 const std::vector<SourceRef>& where) -> Status {
        for (std::size_t i = 0; i < files.size(); ++i) {
            if (!fs::is_regular_file(files[i], ec)) {
                return make_error(ErrorKind::not_found,
                                  fmt::format("{}: {} does not exist or is not a file",
                                              where[i].text, files[i].string()));
            }
        }
        return {};
    };
    MCOMP_TRY(check_files(pipeline.calibration.texts, pipeline.calibration.text_where));
    MCOMP_TRY(check_files(pipeline.eval.texts, pipeline.eval.text_where));
    return {};
}

}  // namespace mcomp
