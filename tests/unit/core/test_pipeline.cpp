// test_pipeline.cpp: pipeline manifests — what must parse (and how paths resolve), and what
// must fail with the exact message; check_pipeline_inputs on real files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/pipeline.hpp"

namespace mcomp {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kBase = {
    "[model]",                                 // 1
    "path = \"models/tiny\"",                  // 2
    "[calibration]",                           // 3
    "text = \"data/calib.txt\"",               // 4
    "samples = 8",                             // 5
    "seqlen = 64",                             // 6
    "seed = 1",                                // 7
    "[[stage]]",                               // 8
    "use = \"gptq\"",                          // 9
    "params = { bits = 4, group_size = 64 }",  // 10
    "device = \"auto\"",                       // 11
    "[output]",                                // 12
    "dir = \"out/x\"",                         // 13
    "formats = [\"gptq\"]",                    // 14
    "[eval]",                                  // 15
    "texts = [\"data/dev.txt\"]",              // 16
    "seqlen = 128",                            // 17
};

// The base with lines replaced by number (an empty text drops the line).
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

std::string drop(int first, int last) {
    std::vector<std::pair<int, std::string>> changes;
    for (int n = first; n <= last; ++n) {
        changes.emplace_back(n, "");
    }
    return edit(changes);
}

std::vector<PluginManifest> plugins() {
    const char* gptq = R"(manifest_version = 1
[plugin]
id = "gptq"
version = "1.0.0"
min_host_abi = "1.0"
[[technique]]
id = "gptq"
kind = "quantizer"
granularity = "layer"
description = "GPTQ"
[technique.params]
bits = { type = "int", default = 4, allowed = [2, 3, 4, 8] }
group_size = { type = "int", default = 128, min = -1 }
act_order = { type = "bool", default = false }
[[backend]]
device = "cpu"
library = "libgptq_cpu.so"
[[backend]]
device = "cuda"
library = "libgptq_cuda.so"
)";
    const char* rtn = R"(manifest_version = 1
[plugin]
id = "rtn"
version = "1.0.0"
min_host_abi = "1.0"
[[technique]]
id = "rtn"
kind = "quantizer"
granularity = "layer"
description = "RTN"
[technique.params]
bits = { type = "int", default = 4, min = 2, max = 8 }
[[backend]]
device = "cpu"
library = "librtn_cpu.so"
)";
    return {*parse_plugin_manifest_text(gptq, "/plugins/gptq/plugin.toml"),
            *parse_plugin_manifest_text(rtn, "/plugins/rtn/plugin.toml")};
}

const fs::path kFile = "/p/pipe.toml";

Expected<Pipeline> parse(const std::string& text, std::size_t broken = 0) {
    static const std::vector<PluginManifest> known = plugins();
    return parse_pipeline_text(text, kFile, known, broken);
}

// ---- inputs that must parse -------------------------------------------------------------------

TEST(Pipeline, ParsesTheBase) {
    Expected<Pipeline> pipeline = parse(edit({}));
    ASSERT_TRUE(pipeline) << pipeline.error().message;
    EXPECT_EQ(pipeline->path, kFile);
    EXPECT_EQ(pipeline->model.path, fs::path("/p/models/tiny"));
    EXPECT_TRUE(pipeline->model.id.empty());
    EXPECT_TRUE(pipeline->calibration.present);
    ASSERT_EQ(pipeline->calibration.texts.size(), 1u);
    EXPECT_EQ(pipeline->calibration.texts[0], fs::path("/p/data/calib.txt"));
    EXPECT_EQ(pipeline->calibration.samples, 8);
    EXPECT_EQ(pipeline->calibration.seqlen, 64);
    EXPECT_EQ(pipeline->calibration.seed, 1);
    EXPECT_TRUE(pipeline->calibration.true_sequential);  // the default
    ASSERT_EQ(pipeline->stages.size(), 1u);
    const PipelineStage& stage = pipeline->stages[0];
    EXPECT_EQ(stage.use, "gptq");
    EXPECT_EQ(stage.plugin_id, "gptq");
    EXPECT_EQ(stage.device, DeviceRequest::auto_select);
    ASSERT_EQ(stage.params.get()->count, 3u);  // defaults filled in
    EXPECT_EQ(mc_params_find(stage.params.get(), "group_size")->int_value, 64);
    EXPECT_EQ(mc_params_find(stage.params.get(), "act_order")->int_value, 0);
    EXPECT_EQ(stage.where.text, "/p/pipe.toml:8:1");
    EXPECT_EQ(pipeline->output.dir, fs::path("/p/out/x"));
    EXPECT_EQ(pipeline->output.formats, std::vector<std::string>{"gptq"});
    EXPECT_TRUE(pipeline->eval.present);
    EXPECT_EQ(pipeline->eval.texts[0], fs::path("/p/data/dev.txt"));
    EXPECT_EQ(pipeline->eval.seqlen, 128);
}

TEST(Pipeline, ParsesTheVariants) {
    Expected<Pipeline> by_id = parse(edit({{2, "id = \"org/tiny-model\""}}));
    ASSERT_TRUE(by_id) << by_id.error().message;
    EXPECT_EQ(by_id->model.id, "org/tiny-model");
    EXPECT_TRUE(by_id->model.path.empty());

    Expected<Pipeline> minimal = parse(edit({{3, ""},
                                             {4, ""},
                                             {5, ""},
                                             {6, ""},
                                             {7, ""},
                                             {10, ""},
                                             {11, ""},
                                             {14, ""},
                                             {15, ""},
                                             {16, ""},
                                             {17, ""}}));
    ASSERT_TRUE(minimal) << minimal.error().message;
    EXPECT_FALSE(minimal->calibration.present);
    EXPECT_FALSE(minimal->eval.present);
    EXPECT_EQ(minimal->output.formats, std::vector<std::string>{"dense"});
    EXPECT_EQ(mc_params_find(minimal->stages[0].params.get(), "bits")->int_value, 4);

    Expected<Pipeline> lists =
        parse(edit({{4, "text = [\"a.txt\", \"/abs/b.txt\", \"sub/../c.txt\"]"},
                    {11, "device = \"cpu\"\ninclude = [\"*.q_proj\"]\nexclude = \"*.down_proj\""},
                    {14, "formats = [\"gptq\", \"dense\", \"gptq\"]"}}));
    ASSERT_TRUE(lists) << lists.error().message;
    EXPECT_EQ(lists->calibration.texts,
              (std::vector<fs::path>{"/p/a.txt", "/abs/b.txt", "/p/c.txt"}));
    EXPECT_EQ(lists->calibration.text_where[1].text, "/p/pipe.toml:4:18: calibration.text");
    EXPECT_EQ(lists->stages[0].device, DeviceRequest::cpu);
    EXPECT_EQ(lists->stages[0].include, std::vector<std::string>{"*.q_proj"});
    EXPECT_EQ(lists->stages[0].exclude, std::vector<std::string>{"*.down_proj"});
    EXPECT_EQ(lists->output.formats, (std::vector<std::string>{"gptq", "dense"}));

    Expected<Pipeline> two = parse(edit({{17, "seqlen = 128\n[[stage]]\nuse = \"rtn\""}}));
    ASSERT_TRUE(two) << two.error().message;
    ASSERT_EQ(two->stages.size(), 2u);
    EXPECT_EQ(two->stages[1].plugin_id, "rtn");
}

// ---- paths ------------------------------------------------------------------------------------

TEST(Pipeline, TrueSequentialCanBeTurnedOff) {
    Expected<Pipeline> pipeline = parse(edit({{7, "true_sequential = false"}}));
    ASSERT_TRUE(pipeline) << pipeline.error().message;
    EXPECT_FALSE(pipeline->calibration.true_sequential);
}

TEST(Pipeline, ForwardPassOnAGpuInHalfPrecision) {
    Expected<Pipeline> pipeline = parse(edit({{7, "device = \"cuda\"\ndtype = \"f16\""}}));
    ASSERT_TRUE(pipeline) << pipeline.error().message;
    EXPECT_EQ(pipeline->calibration.device, DeviceRequest::cuda);
    EXPECT_EQ(pipeline->calibration.dtype, "f16");
}

TEST(PipelinePaths, ResolveByOneRule) {
    setenv("MCOMP_TEST_DATA", "/shared", 1);
    EXPECT_EQ(*resolve_pipeline_path("${MCOMP_TEST_DATA}/models/x", "/p"),
              fs::path("/shared/models/x"));
    EXPECT_EQ(*resolve_pipeline_path("${MCOMP_TEST_DATA}", "/p"), fs::path("/shared"));
    EXPECT_EQ(*resolve_pipeline_path("models/x", "/p"), fs::path("/p/models/x"));
    EXPECT_EQ(*resolve_pipeline_path("../shared/models/x", "/w/main/manifests"),
              fs::path("/w/main/shared/models/x"));  // no magic for ../shared
    EXPECT_EQ(*resolve_pipeline_path("/abs/./x", "/p"), fs::path("/abs/x"));
    EXPECT_EQ(resolve_pipeline_path("${HOME}/x", "/p").error().message,
              "unknown variable ${HOME} in \"${HOME}/x\"; only ${MCOMP_TEST_DATA} at the start "
              "of a path is expanded");
    EXPECT_EQ(resolve_pipeline_path("a/${MCOMP_TEST_DATA}/x", "/p").error().message,
              "unknown variable ${MCOMP_TEST_DATA} in \"a/${MCOMP_TEST_DATA}/x\"; only "
              "${MCOMP_TEST_DATA} at the start of a path is expanded");
    EXPECT_EQ(resolve_pipeline_path("${MCOMP_TEST_DATA}x", "/p").error().message,
              "expected \"${MCOMP_TEST_DATA}/...\", found \"${MCOMP_TEST_DATA}x\"");

    Expected<Pipeline> pipeline =
        parse(edit({{2, "path = \"${MCOMP_TEST_DATA}/models/TinyStories-656K\""}}));
    ASSERT_TRUE(pipeline) << pipeline.error().message;
    EXPECT_EQ(pipeline->model.path, fs::path("/shared/models/TinyStories-656K"));
    unsetenv("MCOMP_TEST_DATA");
}

// ---- inputs that must fail, with the exact message -------------------------------------------

struct BadCase {
    const char* name;
    std::string text;
    std::string message;
    std::size_t broken = 0;
};

void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.name;
}

class PipelineBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(PipelineBad, FailsWithExactMessage) {
    Expected<Pipeline> pipeline = parse(GetParam().text, GetParam().broken);
    ASSERT_FALSE(pipeline) << "parsed although it should not";
    EXPECT_EQ(pipeline.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(pipeline.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PipelineBad,
    ::testing::Values(
        BadCase{"toml_syntax", edit({{13, "dir = "}}),
                "/p/pipe.toml:13:7: TOML syntax error: Error while parsing key-value pair: "
                "expected value, saw '\\n'"},
        BadCase{"plugin_manifest", "manifest_version = 1\n[plugin]\nid = \"x\"\n",
                "/p/pipe.toml:2:1: plugin: this is a plugin manifest, not a pipeline (try "
                "'mcomp validate')"},
        BadCase{"unknown_table", edit({{1, "[modle]"}}),
                "/p/pipe.toml:1:2: modle: unknown key; did you mean 'model'?"},
        // --- [model]
        BadCase{"model_missing", drop(1, 2),
                "/p/pipe.toml:1:1: model: missing; expected a [model] table with path or id"},
        BadCase{"model_both", edit({{2, "path = \"m\"\nid = \"org/x\""}}),
                "/p/pipe.toml:3:6: model.id: give either model.path or model.id, not both"},
        BadCase{"model_neither", edit({{2, ""}}),
                "/p/pipe.toml:1:1: model.path: missing; expected a model folder (path = "
                "\"...\") or a Hugging Face id (id = \"org/name\")"},
        BadCase{"model_path_number", edit({{2, "path = 3"}}),
                "/p/pipe.toml:2:8: model.path: expected a string, found 3"},
        BadCase{"model_id_spaces", edit({{2, "id = \"org x\""}}),
                "/p/pipe.toml:2:6: model.id: expected a Hugging Face id such as \"org/name\", "
                "found \"org x\""},
        BadCase{"model_unknown_key", edit({{2, "pth = \"m\""}}),
                "/p/pipe.toml:2:1: model.pth: unknown key; did you mean 'path'?"},
        BadCase{"unknown_variable", edit({{2, "path = \"${HOME}/m\""}}),
                "/p/pipe.toml:2:8: model.path: unknown variable ${HOME} in \"${HOME}/m\"; only "
                "${MCOMP_TEST_DATA} at the start of a path is expanded"},
        // --- [calibration]
        BadCase{"text_missing", edit({{4, ""}}),
                "/p/pipe.toml:3:1: calibration.text: missing; expected a string or an array of "
                "strings"},
        BadCase{"text_empty_list", edit({{4, "text = []"}}),
                "/p/pipe.toml:4:8: calibration.text: expected at least one string, found an "
                "empty array"},
        BadCase{"text_number", edit({{4, "text = [1]"}}),
                "/p/pipe.toml:4:9: calibration.text: expected a non-empty string, found 1"},
        BadCase{"samples_zero", edit({{5, "samples = 0"}}),
                "/p/pipe.toml:5:11: calibration.samples: expected an integer >= 1, found 0"},
        BadCase{"seqlen_string", edit({{6, "seqlen = \"64\""}}),
                "/p/pipe.toml:6:10: calibration.seqlen: expected an integer, found \"64\""},
        BadCase{"seed_negative", edit({{7, "seed = -1"}}),
                "/p/pipe.toml:7:8: calibration.seed: expected an integer >= 0, found -1"},
        BadCase{"true_sequential_not_bool", edit({{7, "true_sequential = 1"}}),
                "/p/pipe.toml:7:19: calibration.true_sequential: expected a boolean, found 1"},
        BadCase{"forward_dtype_unknown", edit({{7, "dtype = \"f8\""}}),
                "/p/pipe.toml:7:9: calibration.dtype: expected one of f32, f16, bf16, found "
                "\"f8\""},
        BadCase{"forward_f16_on_cpu", edit({{7, "device = \"cpu\"\ndtype = \"f16\""}}),
                "/p/pipe.toml:8:9: calibration.dtype: expected \"f32\" (the CPU forward pass "
                "is fp32), found \"f16\""},
        BadCase{"calibration_unknown_key", edit({{5, "sample = 8"}}),
                "/p/pipe.toml:5:1: calibration.sample: unknown key; did you mean 'samples'?"},
        // --- [[stage]]
        BadCase{"stage_missing", drop(8, 11),
                "/p/pipe.toml:1:1: stage: missing; expected at least one [[stage]] table"},
        BadCase{"stage_not_array", edit({{8, "[stage]"}}),
                "/p/pipe.toml:8:1: stage: expected an array of [[stage]] tables, found a table"},
        BadCase{"use_missing", edit({{9, ""}}),
                "/p/pipe.toml:8:1: stage.use: missing; expected a string"},
        BadCase{"use_unknown_hint", edit({{9, "use = \"gtpq\""}}),
                "/p/pipe.toml:9:7: stage.use: unknown technique \"gtpq\"; did you mean 'gptq'?"},
        BadCase{"use_unknown_list", edit({{9, "use = \"zzzzzzz\""}}),
                "/p/pipe.toml:9:7: stage.use: unknown technique \"zzzzzzz\"; known techniques: "
                "gptq, rtn (2 plugin(s) could not be read; see 'mcomp plugins list')",
                2},
        BadCase{"stage_unknown_key", edit({{10, "param = { bits = 4 }"}}),
                "/p/pipe.toml:10:1: stage.param: unknown key; did you mean 'params'?"},
        BadCase{"params_not_table", edit({{10, "params = 3"}}),
                "/p/pipe.toml:10:10: stage.params: expected a table such as { bits = 4 }, found 3"},
        BadCase{"param_unknown", edit({{10, "params = { bits = 4, group_sz = 64 }"}}),
                "/p/pipe.toml:10:22: stage.params.group_sz: unknown parameter of technique "
                "'gptq'; did you mean 'group_size'?"},
        BadCase{"param_not_allowed", edit({{10, "params = { bits = 5 }"}}),
                "/p/pipe.toml:10:12: stage.params.bits: expected one of 2, 3, 4, 8, found 5"},
        BadCase{"param_below_min", edit({{10, "params = { group_size = -7 }"}}),
                "/p/pipe.toml:10:12: stage.params.group_size: expected a value >= -1, found -7"},
        BadCase{"param_wrong_type", edit({{10, "params = { act_order = \"yes\" }"}}),
                "/p/pipe.toml:10:12: stage.params.act_order: expected a boolean, found \"yes\""},
        BadCase{"param_array", edit({{10, "params = { bits = [4] }"}}),
                "/p/pipe.toml:10:12: stage.params.bits: expected an integer, a number, a "
                "boolean or a string, found an array"},
        BadCase{"first_problem_in_file_order", edit({{10, "params = { zz = 1, aa = 2 }"}}),
                "/p/pipe.toml:10:12: stage.params.zz: unknown parameter of technique 'gptq'; "
                "its parameters are: bits, group_size, act_order"},
        BadCase{"device_unknown", edit({{11, "device = \"gpu\""}}),
                "/p/pipe.toml:11:10: stage.device: expected one of auto, cpu, cuda, found "
                "\"gpu\""},
        BadCase{"device_not_offered",
                edit({{9, "use = \"rtn\""}, {10, ""}, {11, "device = \"cuda\""}}),
                "/p/pipe.toml:10:10: stage.device: expected a device that plugin 'rtn' has a "
                "backend for (cpu), found \"cuda\""},
        BadCase{"include_empty_string", edit({{11, "include = [\"\"]"}}),
                "/p/pipe.toml:11:12: stage.include: expected a non-empty string, found \"\""},
        BadCase{"exclude_number", edit({{11, "exclude = 3"}}),
                "/p/pipe.toml:11:11: stage.exclude: expected a string or an array of strings, "
                "found 3"},
        // --- [output]
        BadCase{"output_missing", drop(12, 14),
                "/p/pipe.toml:1:1: output: missing; expected an [output] table with dir"},
        BadCase{"output_dir_missing", edit({{13, ""}}),
                "/p/pipe.toml:12:1: output.dir: missing; expected a string"},
        BadCase{"format_unknown", edit({{14, "formats = [\"gptq\", \"gguf\"]"}}),
                "/p/pipe.toml:14:20: output.formats: expected one of gptq, gptq_v2, awq, "
                "compressed-tensors, dense, sparse-24-bitmask, found \"gguf\""},
        BadCase{"output_unknown_key", edit({{14, "format = [\"gptq\"]"}}),
                "/p/pipe.toml:14:1: output.format: unknown key; did you mean 'formats'?"},
        // --- [eval]
        BadCase{"eval_texts_missing", edit({{16, ""}}),
                "/p/pipe.toml:15:1: eval.texts: missing; expected a string or an array of "
                "strings"},
        BadCase{"eval_seqlen_zero", edit({{17, "seqlen = 0"}}),
                "/p/pipe.toml:17:10: eval.seqlen: expected an integer >= 1, found 0"},
        BadCase{"eval_unknown_key", edit({{17, "seq_len = 128"}}),
                "/p/pipe.toml:17:1: eval.seq_len: unknown key; did you mean 'seqlen'?"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- files ------------------------------------------------------------------------------------

class PipelineFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("mcomp_pipeline_" +
                 std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "models" / "tiny");
        fs::create_directories(root_ / "data");
        std::ofstream(root_ / "models" / "tiny" / "config.json") << "{}";
        std::ofstream(root_ / "data" / "calib.txt") << "text";
        std::ofstream(root_ / "data" / "dev.txt") << "text";
    }
    void TearDown() override { fs::remove_all(root_); }

    Expected<Pipeline> write_and_parse(const std::string& text) {
        std::ofstream(root_ / "pipe.toml") << text;
        return parse_pipeline(root_ / "pipe.toml", plugins());
    }

    fs::path root_;
};

TEST_F(PipelineFiles, InputsThatExistPass) {
    Expected<Pipeline> pipeline = write_and_parse(edit({}));
    ASSERT_TRUE(pipeline) << pipeline.error().message;
    EXPECT_EQ(pipeline->model.path, root_ / "models" / "tiny");
    const Status inputs = check_pipeline_inputs(*pipeline);
    EXPECT_TRUE(inputs) << inputs.error().message;
}

TEST_F(PipelineFiles, MissingInputsAreNamedWithTheirKey) {
    const std::string file = (root_ / "pipe.toml").string();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {edit({{2, "path = \"models/none\""}}),
         file + ":2:8: model.path: " + (root_ / "models" / "none").string() +
             " is not a model folder (expected a folder with config.json)"},
        {edit({{4, "text = [\"data/calib.txt\", \"data/missing.txt\"]"}}),
         file + ":4:27: calibration.text: " + (root_ / "data" / "missing.txt").string() +
             " does not exist or is not a file"},
        {edit({{16, "texts = \"data\""}}), file +
                                               ":16:9: eval.texts: " + (root_ / "data").string() +
                                               " does not exist or is not a file"},
    };
    for (const auto& [text, message] : cases) {
        Expected<Pipeline> pipeline = write_and_parse(text);
        ASSERT_TRUE(pipeline) << pipeline.error().message;
        const Status inputs = check_pipeline_inputs(*pipeline);
        ASSERT_FALSE(inputs) << text;
        EXPECT_EQ(inputs.error().kind, ErrorKind::not_found);
        EXPECT_EQ(inputs.error().message, message);
    }
}

TEST_F(PipelineFiles, UnreadableFileIsAnIoError) {
    Expected<Pipeline> pipeline = parse_pipeline(root_ / "none.toml", plugins());
    ASSERT_FALSE(pipeline);
    EXPECT_EQ(pipeline.error().kind, ErrorKind::io);
    EXPECT_EQ(pipeline.error().message, (root_ / "none.toml").string() +
                                            ": cannot read the pipeline: No such file or "
                                            "directory");
}

}  // namespace
}  // namespace mcomp
