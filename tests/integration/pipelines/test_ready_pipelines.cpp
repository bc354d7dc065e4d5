// test_ready_pipelines.cpp: every pipeline of manifests/pipelines runs with `mcomp run` on the
// shared model, and its report holds a finite perplexity within the stated factor of the
// dense model's; RTN w4 g64 lands on the authors' reference (41.7336 with fp32 scales, as
// `--format dense` keeps them; 41.7328 with the fp16 scales the GPTQ format stores). `mcomp
// eval` on the written checkpoint gives the report's number. The example third-party plugin
// (ternary) runs in a pipeline too. For pruned models the sparsity is checked per layer and
// overall from config.json's "mcomp" record: the asked ratio for unstructured runs, and the 2:4
// pattern for every layer of the 2:4 runs (the two-stage SparseGPT 2:4 -> GPTQ w4 included: its
// GPTQ stage keeps every zero of the first).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "compress_test_util.hpp"
#include "process_util.hpp"

namespace mcomp::test {
namespace {

using nlohmann::json;

constexpr double kDensePpl = 39.6444;  // tests/unit/runtime: transformers' value

struct ReadyCase {
    std::string pipeline;
    std::vector<std::string> extra_args;
    std::string format;
    double max_ratio;                    // ppl after / ppl before
    std::optional<double> expected_ppl;  // within 5e-4
    std::optional<double> sparsity;      // within 0.01
    // Per layer (config.json mcomp.sparsity): "2:4" = every layer has the 2:4 pattern;
    // "ratio" = every layer's sparsity within [sparsity, sparsity + 0.005]: magnitude and
    // SparseGPT also prune the weights tied with their threshold, as the references do
    // (magnitude reaches 0.5025 on this model's layers), Wanda's per-row choice is exact.
    std::string per_layer;
    std::optional<double> bits_per_weight;  // within 0.05
};

std::string case_name(const ::testing::TestParamInfo<ReadyCase>& info) {
    std::string name =
        info.param.pipeline.substr(0, info.param.pipeline.find('.')) + "_" + info.param.format;
    for (char& c : name) {
        c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    }
    return name;
}

class ReadyPipeline : public ::testing::TestWithParam<ReadyCase> {};

TEST_P(ReadyPipeline, RunsAndReports) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    const ReadyCase& c = GetParam();
    ScratchDir scratch("ready");
    const std::string pipeline =
        std::string(MCOMP_SOURCE_DIR) + "/manifests/pipelines/" + c.pipeline;
    std::vector<std::string> args = {"run", pipeline, "--output", (scratch / "out").string(),
                                     "--quiet"};
    args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    const ProcessResult run = run_mcomp(args, scratch / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;

    const json report = json::parse(read_text(scratch / "out" / "report.json"));
    ASSERT_EQ(report["eval"].size(), 1u);
    const json& eval = report["eval"][0];
    const double before = eval["before"]["ppl"].get<double>();
    const double after = eval["after"][0]["ppl"].get<double>();
    EXPECT_NEAR(before, kDensePpl, 5e-4);
    EXPECT_EQ(eval["windows"].get<int>(), 118);
    EXPECT_TRUE(std::isfinite(after));
    EXPECT_LT(after / before, c.max_ratio) << "ppl " << after;
    std::printf("%s (%s): ppl %.4f -> %.4f (x%.3f)\n", c.pipeline.c_str(), c.format.c_str(), before,
                after, after / before);
    if (c.expected_ppl) {
        EXPECT_NEAR(after, *c.expected_ppl, 5e-4);
    }
    const json& output = report["outputs"][0];
    // With several formats each is a sub-folder named after it; the first is checked.
    const std::filesystem::path model =
        report["outputs"].size() > 1 ? scratch / "out" / c.format : scratch / "out";
    EXPECT_EQ(output["format"], c.format);
    EXPECT_EQ(output["compressed_params"].get<std::int64_t>(),
              2 * (4 * 128 * 128 - 2 * 128 * 64 + 3 * 128 * 384));
    if (c.bits_per_weight) {
        EXPECT_NEAR(output["bits_per_weight"].get<double>(), *c.bits_per_weight, 0.05);
    }
    if (c.sparsity) {
        EXPECT_NEAR(output["sparsity"].get<double>(), *c.sparsity, 0.01);
        const json config = json::parse(read_text(model / "config.json"));
        EXPECT_NEAR(config["mcomp"]["sparsity"]["global"].get<double>(), *c.sparsity, 0.01);
        const json& layers = config["mcomp"]["sparsity"]["layers"];
        EXPECT_EQ(layers.size(), 14u);
        EXPECT_EQ(output["pruned_layers"].get<int>(), 14);
        for (const auto& [layer, ratio] : layers.items()) {
            const std::string structure = config["mcomp"]["sparsity"]["structure"][layer];
            std::printf("  %s: sparsity %.6f, %s\n", layer.c_str(), ratio.get<double>(),
                        structure.c_str());
            if (c.per_layer == "2:4") {
                EXPECT_EQ(structure, "2:4") << layer;
                EXPECT_GE(ratio.get<double>(), 0.5) << layer;
            } else if (c.per_layer == "ratio") {
                EXPECT_GE(ratio.get<double>(), *c.sparsity) << layer;
                EXPECT_LE(ratio.get<double>(), *c.sparsity + 0.005) << layer;
            }
        }
    }
    EXPECT_TRUE(std::filesystem::exists(scratch / "out" / "report.md"));
    EXPECT_TRUE(std::filesystem::exists(model / "tokenizer.json"));
    EXPECT_FALSE(std::filesystem::exists(scratch / "out.mcomp-work"));
}

INSTANTIATE_TEST_SUITE_P(
    Manifests, ReadyPipeline,
    ::testing::Values(
        ReadyCase{"rtn-w4g64.toml", {}, "gptq", 1.1, 41.7328, std::nullopt, "", 4.5},
        ReadyCase{"rtn-w4g64.toml",
                  {"--format", "dense"},
                  "dense",
                  1.1,
                  41.7336,
                  std::nullopt,
                  "",
                  std::nullopt},
        ReadyCase{"magnitude-50.toml", {}, "dense", 2.5, std::nullopt, 0.5, "ratio", std::nullopt},
        ReadyCase{"magnitude-50-then-rtn-w4.toml", {}, "gptq", 2.5, std::nullopt, 0.5, "", 4.5},
        // prune_wanda's order (true_sequential = false in the pipeline): the reference's
        // 71.6115 and 138.7645.
        ReadyCase{"wanda-50.toml", {}, "dense", 2.0, 71.6115, 0.5, "ratio", std::nullopt},
        ReadyCase{"wanda-2of4.toml", {}, "dense", 4.0, 138.7645, 0.5, "2:4", std::nullopt},
        // The authors' llama.py (not true-sequential): 59.1790 for 50%; SparseGPT prunes at
        // least the asked ratio per block of 128 columns (int(numel * 0.5) + 1, and ties).
        ReadyCase{"sparsegpt-50.toml", {}, "dense", 2.0, 59.1790, 0.5, "ratio", std::nullopt},
        // 2:4, written dense (checked here) and as sparse-24-bitmask (which refuses a layer
        // that is not 2:4): the reference's 90.8058.
        ReadyCase{"sparsegpt-2of4.toml", {}, "dense", 3.0, 90.8058, 0.5, "2:4", std::nullopt},
        // 2:4 with joint 4-bit quantization (one stage), dense and packed as GPTQ (4 bits +
        // per-row fp16 scale and zero + g_idx: 4.32 bits per weight).
        ReadyCase{
            "sparsegpt-2of4-w4.toml", {}, "dense", 3.0, std::nullopt, 0.5, "2:4", std::nullopt},
        ReadyCase{"sparsegpt-2of4-w4.toml",
                  {"--format", "gptq"},
                  "gptq",
                  3.0,
                  std::nullopt,
                  0.5,
                  "2:4",
                  4.32},
        // Two stages: SparseGPT 2:4, then GPTQ w4 with keep_zeros: the 2:4 pattern survives.
        ReadyCase{
            "sparsegpt-2of4-then-gptq-w4.toml", {}, "gptq", 3.0, std::nullopt, 0.5, "2:4", 4.32}),
    case_name);

TEST(ReadyPipelines, EvalCommandReadsTheGptqOutput) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("eval");
    const std::string pipeline =
        std::string(MCOMP_SOURCE_DIR) + "/manifests/pipelines/rtn-w4g64.toml";
    ASSERT_EQ(run_mcomp({"run", pipeline, "--output", (scratch / "out").string(), "--quiet",
                         "--max-windows", "20"},
                        scratch / "run.log")
                  .exit_code,
              0);
    const json report = json::parse(read_text(scratch / "out" / "report.json"));
    const ProcessResult eval = run_mcomp({"eval", "--model", (scratch / "out").string(), "--text",
                                          test_data_dir() + "/data/tinystories/ts_dev.txt",
                                          "--seqlen", "512", "--max-windows", "20", "--json"},
                                         scratch / "eval.log");
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
    const json result = json::parse(eval.output);
    EXPECT_EQ(result["format"], "gptq");
    EXPECT_EQ(result["windows"].get<int>(), 20);
    EXPECT_EQ(result["tokens"].get<int>(), 20 * 512);
    EXPECT_EQ(result["ppl"].get<double>(), report["eval"][0]["after"][0]["ppl"].get<double>());
    EXPECT_GT(result["tokens_per_s"].get<double>(), 0.0);
}

TEST(ReadyPipelines, ThirdPartyTernaryPluginInAPipeline) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("ternary");
    write_text(
        scratch / "ternary.toml",
        "[model]\npath = \"${MCOMP_TEST_DATA}/models/TinyStories-656K\"\n"
        "[[stage]]\nuse = \"ternary\"\nexclude = [\"*.down_proj\"]\n"
        "[output]\ndir = \"out\"\nformats = [\"gptq\"]\n"
        "[eval]\ntexts = [\"${MCOMP_TEST_DATA}/data/tinystories/ts_dev.txt\"]\nseqlen = 512\n");
    const ProcessResult run =
        run_mcomp({"run", (scratch / "ternary.toml").string(), "--quiet", "--max-windows", "10"},
                  scratch / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const json report = json::parse(read_text(scratch / "out" / "report.json"));
    EXPECT_EQ(report["stages"][0]["plugin"], "ternary");
    EXPECT_EQ(report["stages"][0]["layers"].get<int>(), 12);  // down_proj excluded
    EXPECT_EQ(report["outputs"][0]["quantized_layers"].get<int>(), 12);
    const double before = report["eval"][0]["before"]["ppl"].get<double>();
    const double after = report["eval"][0]["after"][0]["ppl"].get<double>();
    EXPECT_TRUE(std::isfinite(after));
    EXPECT_GT(after, before);
    const json config = json::parse(read_text(scratch / "out" / "config.json"));
    EXPECT_EQ(config["quantization_config"]["bits"].get<int>(), 2);
}

}  // namespace
}  // namespace mcomp::test
