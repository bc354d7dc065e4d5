// test_sparsegpt_pipelines.cpp: the ready SparseGPT pipelines (manifests/pipelines/sparsegpt-*)
// run end to end with the built `mcomp` on the shared model, as the authors' llama.py runs
// (not true-sequential: the manifests set true_sequential = false), and land on the
// reference's perplexity on ts_dev.txt at seqlen 512 (dense 39.6444):
//
//   50% unstructured 59.1790      2:4 90.8058      50% + joint 4-bit per row 62.1344
//
// (the reference numbers of issue 6: IST-DASLab/sparsegpt llama.py on the same model, data and
// calibration windows). The 2:4 + 4-bit pipelines have no reference number; they must stay
// within a factor of the dense perplexity, and the report's sparsity says whether the 2:4
// zeros survived. Labelled slow (about five runs of a minute on two busy cores); skips
// without the shared material.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "plugin_harness.hpp"
#include "util/strings.hpp"

namespace mcomp::test {
namespace {

namespace fs = std::filesystem;

struct PipelineCase {
    std::string pipeline;
    std::vector<std::string> extra_args;
    std::optional<double> reference_ppl;  // within 5e-4
    double max_ratio = 3.0;               // ppl after / ppl before
    double min_sparsity = 0.5;            // the report's sparsity of the written weights
};

std::string case_name(const ::testing::TestParamInfo<PipelineCase>& info) {
    std::string name = info.param.pipeline.substr(0, info.param.pipeline.find('.'));
    for (char& c : name) {
        c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    }
    return name;
}

// `text` in single quotes for the shell.
std::string quoted(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.push_back('\'');
    for (const char c : text) {
        if (c == '\'') {
            out.append("'\\''");
        } else {
            out.push_back(c);
        }
    }
    out.push_back('\'');
    return out;
}

// Runs the built `mcomp` with `args`; returns its exit status, stdout+stderr in `output`.
int run_mcomp(const std::vector<std::string>& args, std::string& output) {
    std::string command = "MCOMP_TEST_DATA=";
    command.append(quoted(test_data_dir()));
    command.append(" MCOMP_PLUGIN_PATH=");
    command.append(quoted(build_plugin_dir().string()));
    command.push_back(' ');
    command.append(quoted(std::string(MCOMP_BUILD_DIR) + "/bin/mcomp"));
    for (const std::string& arg : args) {
        command.push_back(' ');
        command.append(quoted(arg));
    }
    command.append(" 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        output = "popen failed";
        return -1;
    }
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
        output += buffer.data();
    }
    const int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class SparseGptPipeline : public ::testing::TestWithParam<PipelineCase> {};

TEST_P(SparseGptPipeline, LandsOnTheReference) {
    if (!fs::exists(test_data_dir() + "/models/TinyStories-656K/model.safetensors")) {
        GTEST_SKIP() << "shared test material not found under " << test_data_dir()
                     << " (set MCOMP_TEST_DATA)";
    }
    const PipelineCase& c = GetParam();
    const fs::path out =
        fs::temp_directory_path() / ("mcomp-sparsegpt-" + case_name({c, 0}) + "-" +
                                     std::to_string(reinterpret_cast<uintptr_t>(&c)));
    std::vector<std::string> args = {
        "run",      std::string(MCOMP_SOURCE_DIR) + "/manifests/pipelines/" + c.pipeline,
        "--output", out.string(),
        "--force",  "--quiet"};
    args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    std::string output;
    ASSERT_EQ(run_mcomp(args, output), 0) << output;
    std::ifstream stream(out / "report.json");
    const nlohmann::json report = nlohmann::json::parse(stream);
    const nlohmann::json& eval = report.at("eval").at(0);
    const double before = eval.at("before").at("ppl").get<double>();
    const double after = eval.at("after").at(0).at("ppl").get<double>();
    const double sparsity = report.at("outputs").at(0).at("sparsity").get<double>();
    std::printf("%s: ppl %.6f -> %.6f, sparsity %.6f\n", c.pipeline.c_str(), before, after,
                sparsity);
    EXPECT_NEAR(before, 39.6444, 5e-4);
    if (c.reference_ppl) {
        EXPECT_NEAR(after, *c.reference_ppl, 5e-4);
    }
    EXPECT_LT(after / before, c.max_ratio);
    EXPECT_GE(sparsity, c.min_sparsity);
    std::error_code ignored;
    fs::remove_all(out, ignored);
}

INSTANTIATE_TEST_SUITE_P(
    Manifests, SparseGptPipeline,
    ::testing::Values(PipelineCase{"sparsegpt-50.toml", {}, 59.1790, 2.0, 0.5},
                      PipelineCase{"sparsegpt-2of4.toml", {}, 90.8058, 3.0, 0.5},
                      PipelineCase{"sparsegpt-50-w4.toml", {}, 62.1344, 2.0, 0.5},
                      PipelineCase{"sparsegpt-2of4-w4.toml", {}, std::nullopt, 3.0, 0.5},
                      // GPTQ with keep_zeros keeps every zero of the first stage
                      // (test_sparsegpt_then_gptq.cpp): 95.985783, sparsity 0.503873.
                      PipelineCase{"sparsegpt-2of4-then-gptq-w4.toml", {}, std::nullopt, 3.0, 0.5}),
    case_name);

}  // namespace
}  // namespace mcomp::test
