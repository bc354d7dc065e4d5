// test_manifest.cpp: plugin manifest validation — manifests that must parse, and manifests that
// must fail with the exact message (file:line:col, key, expected, found).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/manifest.hpp"

namespace mcomp {
namespace {

namespace fs = std::filesystem;

// Lines 1-13; the cases below replace, insert or drop lines by number.
const std::vector<std::string> kBase = {
    "manifest_version = 1",     // 1
    "[plugin]",                 // 2
    "id = \"gptq\"",            // 3
    "version = \"1.0.0\"",      // 4
    "min_host_abi = \"1.0\"",   // 5
    "[[technique]]",            // 6
    "id = \"gptq\"",            // 7
    "kind = \"quantizer\"",     // 8
    "granularity = \"layer\"",  // 9
    "description = \"d\"",      // 10
    "[[backend]]",              // 11
    "device = \"cpu\"",         // 12
    "library = \"libx.so\"",    // 13
};

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) {
        out += line + "\n";
    }
    return out;
}

// The base with line `n` (1-based) replaced; an empty replacement drops the line.
std::string replace(int n, const std::string& text) {
    std::vector<std::string> lines = kBase;
    if (text.empty()) {
        lines.erase(lines.begin() + (n - 1));
    } else {
        lines[static_cast<size_t>(n - 1)] = text;
    }
    return join(lines);
}

// The base with several lines replaced (an empty replacement drops the line).
std::string edit(const std::vector<std::pair<int, std::string>>& changes) {
    std::vector<std::string> lines = kBase;
    std::vector<bool> dropped(lines.size(), false);
    for (const auto& [n, text] : changes) {
        lines[static_cast<size_t>(n - 1)] = text;
        dropped[static_cast<size_t>(n - 1)] = text.empty();
    }
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        out += dropped[i] ? "" : lines[i] + "\n";
    }
    return out;
}

// The base with `text` inserted after line `n`.
std::string insert_after(int n, const std::string& text) {
    std::vector<std::string> lines = kBase;
    lines.insert(lines.begin() + n, text);
    return join(lines);
}

// The base with lines [first, last] dropped.
std::string drop(int first, int last) {
    std::vector<std::string> lines = kBase;
    lines.erase(lines.begin() + (first - 1), lines.begin() + last);
    return join(lines);
}

// The base with one [technique.params] entry (it lands on line 12).
std::string with_param(const std::string& entry) {
    return insert_after(10, "[technique.params]\n" + entry);
}

const fs::path kPath = "/x/plugin.toml";

Expected<PluginManifest> parse(const std::string& text) {
    return parse_plugin_manifest_text(text, kPath);
}

// ---- inputs that must parse -------------------------------------------------------------------

TEST(Manifest, ParsesTheDesignExample) {
    const char* text = R"(manifest_version = 1
[plugin]
id = "gptq"
version = "1.0.0"
min_host_abi = "1.0"
[[technique]]
id = "gptq"
kind = "quantizer"          # quantizer | pruner | distiller
granularity = "layer"       # layer | block
description = "GPTQ"
[technique.params]          # typed schema: the host validates stage params against it
bits       = { type = "int",   default = 4,    allowed = [2, 3, 4, 8] }
group_size = { type = "int",   default = 128,  min = -1 }
damp       = { type = "float", default = 0.01, min = 0.0, max = 1.0, description = "damping" }
[[backend]]
device = "cpu"
library = "libmcomp_gptq_cpu.so"
[[backend]]
device = "cuda"
library = "libmcomp_gptq_cuda.so"
)";
    Expected<PluginManifest> manifest = parse(text);
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->path, kPath);
    EXPECT_EQ(manifest->dir, fs::path("/x"));
    EXPECT_EQ(manifest->id, "gptq");
    EXPECT_EQ(manifest->version, "1.0.0");
    EXPECT_EQ(manifest->min_host_abi, MC_ABI_MAKE(1, 0));
    ASSERT_EQ(manifest->techniques.size(), 1u);
    const TechniqueManifest& technique = manifest->techniques[0];
    EXPECT_EQ(technique.kind, TechniqueKind::quantizer);
    EXPECT_EQ(technique.granularity, Granularity::layer);
    ASSERT_EQ(technique.params.size(), 3u);  // manifest order, not sorted
    EXPECT_EQ(technique.params[0].name, "bits");
    EXPECT_EQ(technique.params[1].name, "group_size");
    EXPECT_EQ(technique.params[2].name, "damp");
    const ParamSpec& bits = technique.params[0];
    EXPECT_EQ(bits.type, ParamType::integer);
    EXPECT_EQ(bits.default_value, ParamValue(int64_t{4}));
    EXPECT_EQ(bits.allowed.size(), 4u);
    EXPECT_EQ(technique.params[1].min, -1.0);
    EXPECT_FALSE(technique.params[1].max.has_value());
    const ParamSpec& damp = technique.params[2];
    EXPECT_EQ(damp.type, ParamType::floating);
    EXPECT_EQ(damp.default_value, ParamValue(0.01));
    EXPECT_EQ(damp.max, 1.0);
    EXPECT_EQ(damp.description, "damping");
    ASSERT_EQ(manifest->backends.size(), 2u);
    EXPECT_EQ(manifest->backends[1].device, DeviceKind::cuda);
    EXPECT_EQ(manifest->backends[0].library_path, fs::path("/x/libmcomp_gptq_cpu.so"));
    EXPECT_EQ(manifest->find_backend(DeviceKind::cuda)->library, "libmcomp_gptq_cuda.so");
}

TEST(Manifest, DistillerGranularityIsModelWhenOmitted) {
    Expected<PluginManifest> omitted = parse(edit({{8, "kind = \"distiller\""}, {9, ""}}));
    ASSERT_TRUE(omitted) << omitted.error().message;
    EXPECT_EQ(omitted->techniques[0].kind, TechniqueKind::distiller);
    EXPECT_EQ(omitted->techniques[0].granularity, Granularity::model);

    Expected<PluginManifest> explicit_model =
        parse(edit({{8, "kind = \"distiller\""}, {9, "granularity = \"model\""}}));
    ASSERT_TRUE(explicit_model) << explicit_model.error().message;
    EXPECT_EQ(explicit_model->techniques[0].granularity, Granularity::model);
}

struct GoodCase {
    const char* name;
    std::string text;
};

void PrintTo(const GoodCase& c, std::ostream* os) {
    *os << c.name;
}

class ManifestGood : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ManifestGood, Parses) {
    Expected<PluginManifest> manifest = parse(GetParam().text);
    EXPECT_TRUE(manifest) << manifest.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ManifestGood,
    ::testing::Values(
        GoodCase{"pruner", replace(8, "kind = \"pruner\"")},
        GoodCase{"block", replace(9, "granularity = \"block\"")},
        GoodCase{"library_in_subfolder", replace(13, "library = \"lib/libx.so\"")},
        GoodCase{"library_dotdot_inside", replace(13, "library = \"sub/../libx.so\"")},
        GoodCase{"sha256_upper", insert_after(13, "sha256 = \"" + std::string(64, 'A') + "\"")},
        GoodCase{"float_with_int_bounds",
                 with_param("x = { type = \"float\", default = 1, min = 0, max = 2 }")},
        GoodCase{"string_allowed",
                 with_param("mode = { type = \"string\", default = \"a\", allowed = [\"a\", "
                            "\"b\"] }")},
        GoodCase{"bool", with_param("sym = { type = \"bool\", default = false }")},
        GoodCase{"dash_in_ids", replace(3, "id = \"my-plugin_2\"")},
        GoodCase{"comments", "# a comment\n" + join(kBase) + "# trailing\n"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Manifest, NormalisesValues) {
    Expected<PluginManifest> sha =
        parse(insert_after(13, "sha256 = \"" + std::string(64, 'A') + "\""));
    ASSERT_TRUE(sha) << sha.error().message;
    EXPECT_EQ(sha->backends[0].sha256, std::string(64, 'a'));

    Expected<PluginManifest> float_param =
        parse(with_param("x = { type = \"float\", default = 1, min = 0, max = 2 }"));
    ASSERT_TRUE(float_param) << float_param.error().message;
    EXPECT_EQ(float_param->techniques[0].params[0].default_value, ParamValue(1.0));

    Expected<PluginManifest> dotdot = parse(replace(13, "library = \"sub/../libx.so\""));
    ASSERT_TRUE(dotdot) << dotdot.error().message;
    EXPECT_EQ(dotdot->backends[0].library_path, fs::path("/x/libx.so"));
}

// ---- inputs that must fail, with the exact message -------------------------------------------

struct BadCase {
    const char* name;
    std::string text;
    std::string message;
};

void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.name;
}

class ManifestBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ManifestBad, FailsWithExactMessage) {
    Expected<PluginManifest> manifest = parse(GetParam().text);
    ASSERT_FALSE(manifest) << "parsed although it should not";
    EXPECT_EQ(manifest.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(manifest.error().message, GetParam().message);
}

const std::string kTwoBackends =
    join(kBase) + "[[backend]]\ndevice = \"cpu\"\nlibrary = \"liby.so\"\n";
const std::string kTwoTechniques =
    insert_after(10,
                 "[[technique]]\nid = \"gptq\"\nkind = \"pruner\"\ngranularity = \"layer\"\n"
                 "description = \"again\"");

INSTANTIATE_TEST_SUITE_P(
    Table, ManifestBad,
    ::testing::Values(
        // --- TOML itself
        BadCase{"toml_syntax", replace(8, "kind = \"quantizer"),
                "/x/plugin.toml:8:18: TOML syntax error: Error while parsing string: unescaped "
                "control characters other than TAB (U+0009) are explicitly prohibited"},
        // --- top level
        BadCase{"unknown_table", replace(2, "[plugins]"),
                "/x/plugin.toml:2:2: plugins: unknown key; did you mean 'plugin'?"},
        BadCase{"unknown_root_key", insert_after(1, "foo = 1"),
                "/x/plugin.toml:2:1: foo: unknown key; valid keys: manifest_version, plugin, "
                "technique, backend"},
        BadCase{"version_missing", replace(1, ""),
                "/x/plugin.toml:1:1: manifest_version: missing; expected 1"},
        BadCase{"version_2", replace(1, "manifest_version = 2"),
                "/x/plugin.toml:1:20: manifest_version: expected 1, found 2"},
        BadCase{"version_string", replace(1, "manifest_version = \"1\""),
                "/x/plugin.toml:1:20: manifest_version: expected 1, found \"1\""},
        // --- [plugin]
        BadCase{"plugin_missing", drop(2, 5),
                "/x/plugin.toml:1:1: plugin: missing; expected a [plugin] table"},
        BadCase{"plugin_not_table", edit({{2, "plugin = 3"}, {3, ""}, {4, ""}, {5, ""}}),
                "/x/plugin.toml:2:10: plugin: expected a table, found 3"},
        BadCase{"id_number", replace(3, "id = 42"),
                "/x/plugin.toml:3:6: plugin.id: expected a string, found 42"},
        BadCase{"id_empty", replace(3, "id = \"\""),
                "/x/plugin.toml:3:6: plugin.id: expected a non-empty string, found \"\""},
        BadCase{"id_spaces", replace(3, "id = \"Bad Id\""),
                "/x/plugin.toml:3:6: plugin.id: expected an id of lower-case letters, digits, "
                "'_' and '-', found \"Bad Id\""},
        BadCase{"plugin_version_missing", replace(4, ""),
                "/x/plugin.toml:2:1: plugin.version: missing; expected a string"},
        BadCase{"plugin_unknown_key", insert_after(3, "descripton = \"x\""),
                "/x/plugin.toml:4:1: plugin.descripton: unknown key; valid keys: id, version, "
                "min_host_abi"},
        BadCase{"abi_missing", replace(5, ""),
                "/x/plugin.toml:2:1: plugin.min_host_abi: missing; expected a string "
                "\"MAJOR.MINOR\""},
        BadCase{"abi_malformed", replace(5, "min_host_abi = \"1\""),
                "/x/plugin.toml:5:16: plugin.min_host_abi: expected a string \"MAJOR.MINOR\" "
                "such as \"1.0\", found \"1\""},
        BadCase{"abi_number", replace(5, "min_host_abi = 1.0"),
                "/x/plugin.toml:5:16: plugin.min_host_abi: expected a string \"MAJOR.MINOR\" "
                "such as \"1.0\", found 1.0"},
        BadCase{"abi_too_new_major", replace(5, "min_host_abi = \"2.0\""),
                "/x/plugin.toml:5:16: plugin.min_host_abi: expected an ABI version this host "
                "(1.0) supports (major 1, minor at most 0), found \"2.0\""},
        BadCase{"abi_too_new_minor", replace(5, "min_host_abi = \"1.7\""),
                "/x/plugin.toml:5:16: plugin.min_host_abi: expected an ABI version this host "
                "(1.0) supports (major 1, minor at most 0), found \"1.7\""},
        // --- [[technique]]
        BadCase{"technique_missing", drop(6, 10),
                "/x/plugin.toml:1:1: technique: missing; expected at least one [[technique]] "
                "table"},
        BadCase{"technique_not_array", replace(6, "[technique]"),
                "/x/plugin.toml:6:1: technique: expected an array of [[technique]] tables, "
                "found a table"},
        BadCase{"kind_misspelt", replace(8, "kind = \"quantiser\""),
                "/x/plugin.toml:8:8: technique.kind: expected one of quantizer, pruner, "
                "distiller, found \"quantiser\""},
        BadCase{"kind_missing", replace(8, ""),
                "/x/plugin.toml:6:1: technique.kind: missing; expected one of quantizer, pruner, "
                "distiller"},
        BadCase{"granularity_model", replace(9, "granularity = \"model\""),
                "/x/plugin.toml:9:15: technique.granularity: expected one of layer, block, found "
                "\"model\""},
        BadCase{"granularity_missing", replace(9, ""),
                "/x/plugin.toml:6:1: technique.granularity: missing; expected one of layer, "
                "block"},
        BadCase{"distiller_layer", replace(8, "kind = \"distiller\""),
                "/x/plugin.toml:9:15: technique.granularity: expected model (or no granularity) "
                "for a distiller, found \"layer\""},
        BadCase{"technique_unknown_key", replace(9, "granularty = \"layer\""),
                "/x/plugin.toml:9:1: technique.granularty: unknown key; did you mean "
                "'granularity'?"},
        BadCase{"description_missing", replace(10, ""),
                "/x/plugin.toml:6:1: technique.description: missing; expected a string"},
        BadCase{"technique_duplicate", kTwoTechniques,
                "/x/plugin.toml:12:6: technique.id: expected a technique id unique in this "
                "plugin, found \"gptq\" again (first at /x/plugin.toml:7:6)"},
        // --- [technique.params]
        BadCase{"params_not_table", insert_after(10, "params = 3"),
                "/x/plugin.toml:11:10: technique.params: expected a table, found 3"},
        BadCase{"param_not_table", with_param("x = 4"),
                "/x/plugin.toml:12:5: technique.params.x: expected a table such as { type = "
                "\"int\", default = 4 }, found 4"},
        BadCase{"param_bad_name", with_param("Bits = { type = \"int\", default = 4 }"),
                "/x/plugin.toml:12:1: technique.params.Bits: expected a parameter name of "
                "lower-case letters, digits and '_', found \"Bits\""},
        BadCase{"param_type_unknown", with_param("bits = { type = \"integer\", default = 4 }"),
                "/x/plugin.toml:12:17: technique.params.bits.type: expected one of int, float, "
                "bool, string, found \"integer\""},
        BadCase{"param_type_missing", with_param("bits = { default = 4 }"),
                "/x/plugin.toml:12:8: technique.params.bits.type: missing; expected one of int, "
                "float, bool, string"},
        BadCase{"param_default_missing", with_param("bits = { type = \"int\" }"),
                "/x/plugin.toml:12:8: technique.params.bits.default: missing; expected an "
                "integer"},
        BadCase{"param_default_not_allowed",
                with_param("bits = { type = \"int\", default = 5, allowed = [2, 3, 4, 8] }"),
                "/x/plugin.toml:12:34: technique.params.bits.default: expected one of 2, 3, 4, "
                "8, found 5"},
        BadCase{"param_default_wrong_type",
                with_param("damp = { type = \"float\", default = \"x\" }"),
                "/x/plugin.toml:12:36: technique.params.damp.default: expected a number, found "
                "\"x\""},
        BadCase{"param_int_default_float", with_param("bits = { type = \"int\", default = 4.5 }"),
                "/x/plugin.toml:12:34: technique.params.bits.default: expected an integer, found "
                "4.5"},
        BadCase{"param_default_below_min",
                with_param("g = { type = \"int\", default = -2, min = -1 }"),
                "/x/plugin.toml:12:31: technique.params.g.default: expected a value >= -1, found "
                "-2"},
        BadCase{"param_default_above_max",
                with_param("d = { type = \"float\", default = 1.5, max = 1.0 }"),
                "/x/plugin.toml:12:33: technique.params.d.default: expected a value <= 1.0, "
                "found 1.5"},
        BadCase{"param_min_above_max",
                with_param("x = { type = \"int\", default = 1, min = 5, max = 2 }"),
                "/x/plugin.toml:12:49: technique.params.x.max: expected a value >= min (5), "
                "found 2"},
        BadCase{"param_min_on_bool", with_param("x = { type = \"bool\", default = true, min = 0 }"),
                "/x/plugin.toml:12:44: technique.params.x.min: a bool parameter has no min; use "
                "allowed = [...]"},
        BadCase{"param_int_min_float", with_param("x = { type = \"int\", default = 1, min = 0.5 }"),
                "/x/plugin.toml:12:40: technique.params.x.min: expected an integer, found 0.5"},
        BadCase{"param_allowed_wrong_type",
                with_param("x = { type = \"int\", default = 1, allowed = [1, \"2\"] }"),
                "/x/plugin.toml:12:48: technique.params.x.allowed: expected an integer, found "
                "\"2\""},
        BadCase{"param_allowed_empty",
                with_param("x = { type = \"int\", default = 1, allowed = [] }"),
                "/x/plugin.toml:12:44: technique.params.x.allowed: expected a non-empty array "
                "of int values, found an array"},
        BadCase{"param_allowed_outside_range",
                with_param("x = { type = \"int\", default = 1, max = 4, allowed = [1, 8] }"),
                "/x/plugin.toml:12:57: technique.params.x.allowed: expected values within "
                "min/max, found 8"},
        BadCase{"param_unknown_key", with_param("x = { type = \"int\", defualt = 1 }"),
                "/x/plugin.toml:12:21: technique.params.x.defualt: unknown key; did you mean "
                "'default'?"},
        BadCase{"param_description_number",
                with_param("x = { type = \"int\", default = 1, description = 7 }"),
                "/x/plugin.toml:12:48: technique.params.x.description: expected a string, found "
                "7"},
        // --- [[backend]]
        BadCase{"backend_missing", drop(11, 13),
                "/x/plugin.toml:1:1: backend: missing; expected at least one [[backend]] table"},
        BadCase{"device_gpu", replace(12, "device = \"gpu\""),
                "/x/plugin.toml:12:10: backend.device: expected one of cpu, cuda, found \"gpu\""},
        BadCase{"device_twice", kTwoBackends,
                "/x/plugin.toml:15:10: backend.device: expected each device at most once, found "
                "a second \"cpu\" backend (first at /x/plugin.toml:12:10)"},
        BadCase{"library_missing", replace(13, ""),
                "/x/plugin.toml:11:1: backend.library: missing; expected a string"},
        BadCase{"library_absolute", replace(13, "library = \"/usr/lib/libx.so\""),
                "/x/plugin.toml:13:11: backend.library: expected a path relative to the "
                "plugin's folder, found \"/usr/lib/libx.so\""},
        BadCase{"library_escapes", replace(13, "library = \"../y/libx.so\""),
                "/x/plugin.toml:13:11: backend.library: expected a file inside the plugin's "
                "folder, found \"../y/libx.so\""},
        BadCase{"library_escapes_via_subfolder", replace(13, "library = \"sub/../../libx.so\""),
                "/x/plugin.toml:13:11: backend.library: expected a file inside the plugin's "
                "folder, found \"sub/../../libx.so\""},
        BadCase{"library_is_the_folder", replace(13, "library = \".\""),
                "/x/plugin.toml:13:11: backend.library: expected a file inside the plugin's "
                "folder, found \".\""},
        BadCase{"sha256_short", insert_after(13, "sha256 = \"abc\""),
                "/x/plugin.toml:14:10: backend.sha256: expected 64 hexadecimal digits, found "
                "\"abc\""},
        BadCase{"backend_unknown_key", insert_after(13, "libary = \"x\""),
                "/x/plugin.toml:14:1: backend.libary: unknown key; did you mean 'library'?"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- files ------------------------------------------------------------------------------------

class ManifestFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ =
            fs::temp_directory_path() /
            ("mcomp_manifest_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_ / "plugin");
        fs::create_directories(root_ / "elsewhere");
    }
    void TearDown() override { fs::remove_all(root_); }

    void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

    fs::path root_;
};

TEST_F(ManifestFiles, ReadsAFile) {
    write(root_ / "plugin" / "plugin.toml", join(kBase));
    Expected<PluginManifest> manifest = parse_plugin_manifest(root_ / "plugin" / "plugin.toml");
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->backends[0].library_path, root_ / "plugin" / "libx.so");
}

TEST_F(ManifestFiles, MissingFileIsAnIoError) {
    Expected<PluginManifest> manifest = parse_plugin_manifest(root_ / "nope.toml");
    ASSERT_FALSE(manifest);
    EXPECT_EQ(manifest.error().kind, ErrorKind::io);
    EXPECT_EQ(
        manifest.error().message,
        (root_ / "nope.toml").string() + ": cannot read the manifest: No such file or directory");
}

TEST_F(ManifestFiles, RefusesASymlinkOutOfTheFolder) {
    write(root_ / "elsewhere" / "libx.so", "not really a library");
    fs::create_symlink(root_ / "elsewhere" / "libx.so", root_ / "plugin" / "libx.so");
    write(root_ / "plugin" / "plugin.toml", join(kBase));
    Expected<PluginManifest> manifest = parse_plugin_manifest(root_ / "plugin" / "plugin.toml");
    ASSERT_FALSE(manifest);
    EXPECT_EQ(manifest.error().message,
              (root_ / "plugin" / "plugin.toml").string() +
                  ":13:11: backend.library: expected a file inside the plugin's folder, found "
                  "\"libx.so\", which a symbolic link leads to " +
                  (root_ / "elsewhere" / "libx.so").string());
}

TEST_F(ManifestFiles, RefusesASymlinkedSubfolderOutOfTheFolder) {
    fs::create_directory_symlink(root_ / "elsewhere", root_ / "plugin" / "lib");
    write(root_ / "plugin" / "plugin.toml", replace(13, "library = \"lib/libx.so\""));
    Expected<PluginManifest> manifest = parse_plugin_manifest(root_ / "plugin" / "plugin.toml");
    ASSERT_FALSE(manifest);
    EXPECT_NE(manifest.error().message.find("which a symbolic link leads to"), std::string::npos)
        << manifest.error().message;
}

TEST_F(ManifestFiles, AcceptsASymlinkInsideTheFolder) {
    write(root_ / "plugin" / "libreal.so", "x");
    fs::create_symlink("libreal.so", root_ / "plugin" / "libx.so");
    write(root_ / "plugin" / "plugin.toml", join(kBase));
    Expected<PluginManifest> manifest = parse_plugin_manifest(root_ / "plugin" / "plugin.toml");
    EXPECT_TRUE(manifest) << manifest.error().message;
}

TEST_F(ManifestFiles, TellsPluginManifestsFromPipelines) {
    write(root_ / "a.toml", join(kBase));
    write(root_ / "b.toml", "[model]\npath = \"m\"\n");
    write(root_ / "c.toml", "[model\n");
    EXPECT_TRUE(*is_plugin_manifest_file(root_ / "a.toml"));
    EXPECT_FALSE(*is_plugin_manifest_file(root_ / "b.toml"));
    // A manifest that lost its [plugin] table is still one.
    write(root_ / "d.toml", "manifest_version = 1\n[[technique]]\nid = \"x\"\n");
    EXPECT_TRUE(*is_plugin_manifest_file(root_ / "d.toml"));
    std::filesystem::create_directories(root_ / "p");
    write(root_ / "p" / "plugin.toml", "manifest_version = 1\n");
    EXPECT_TRUE(*is_plugin_manifest_file(root_ / "p" / "plugin.toml"));
    Expected<bool> broken = is_plugin_manifest_file(root_ / "c.toml");
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().message.rfind((root_ / "c.toml").string() + ":1:", 0), 0u)
        << broken.error().message;
}

TEST(ManifestNames, FormatValues) {
    EXPECT_EQ(format_param_value(ParamValue(int64_t{-3})), "-3");
    EXPECT_EQ(format_param_value(ParamValue(0.01)), "0.01");
    EXPECT_EQ(format_param_value(ParamValue(2.0)), "2.0");
    EXPECT_EQ(format_param_value(ParamValue(true)), "true");
    EXPECT_EQ(format_param_value(ParamValue(std::string("sym"))), "\"sym\"");
    EXPECT_EQ(format_abi_version(MC_ABI_MAKE(1, 12)), "1.12");
}

}  // namespace
}  // namespace mcomp
