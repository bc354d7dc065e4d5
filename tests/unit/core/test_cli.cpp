// test_cli.cpp: the built `mcomp` program, run as a user would — output and exit codes
// (0 ok, 2 usage, 3 bad input, 4 internal/unsupported, 130 cancelled) — with the test plugins
// on MCOMP_PLUGIN_PATH.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Outcome {
    int code = -1;
    std::string output;  // stdout and stderr together
};

Outcome mcomp(const std::string& args) {
    const std::string command = "MCOMP_PLUGIN_PATH='" MCOMP_TEST_PLUGIN_DIR "' '" MCOMP_BUILD_DIR
                                "/bin/mcomp' " +
                                args + " 2>&1";
    Outcome run;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return run;
    }
    char buffer[4096];
    size_t n = 0;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
        run.output.append(buffer, n);
    }
    const int status = pclose(pipe);
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return run;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

struct Case {
    const char* name;
    std::string args;
    int code;
    std::string expected_output;  // a part of the output
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << c.name;
}

class Cli : public ::testing::TestWithParam<Case> {};

TEST_P(Cli, ExitCodeAndOutput) {
    const Outcome run = mcomp(GetParam().args);
    EXPECT_EQ(run.code, GetParam().code) << run.output;
    EXPECT_TRUE(contains(run.output, GetParam().expected_output)) << run.output;
}

const std::string kPlugins = fs::canonical(MCOMP_TEST_PLUGIN_DIR).string();

INSTANTIATE_TEST_SUITE_P(
    Table, Cli,
    ::testing::Values(
        // --- global
        Case{"help", "--help", 0, "130  cancelled (Ctrl-C; a second Ctrl-C stops at once)"},
        Case{"help_lists_codes", "--help", 0, "3    bad input (a manifest, model or file is wrong"},
        Case{"version", "--version", 0, "mcomp " MCOMP_VERSION_STRING " (plugin ABI 1.0)"},
        Case{"no_command", "", 2, "A subcommand is required"},
        Case{"unknown_option", "--bogus plugins list", 2, "--bogus"},
        Case{"bad_log_level", "--log-level loud plugins list", 2, "--log-level"},
        Case{"plugins_without_subcommand", "plugins", 2, "A subcommand is required"},
        // --- plugins list / show
        Case{"list", "plugins list", 0,
             "tp_good 1.2.3\n  techniques: tp_scale (pruner, layer), "
             "tp_quant (quantizer, layer), tp_block (quantizer, block)"
             "\n  backends:   cpu, cuda (not built)\n"},
        Case{"list_broken", "plugins list", 0,
             "tp_escape (broken)\n  error: " + kPlugins +
                 "/tp_escape/plugin.toml:13:11: backend.library: expected a file inside the "
                 "plugin's folder"},
        Case{"list_warns_once", "plugins list", 0,
             "[mcomp] warning: skipping 3 broken plugin(s): tp_escape, tp_malformed, tp_shadow "
             "(see 'mcomp plugins list')"},
        Case{"show", "plugins show tp_good", 0,
             "technique tp_quant (quantizer, layer granularity)\n  round-to-nearest per group\n"
             "  params:\n    bits             int    default 4, allowed 2 | 3 | 4 | 8\n"},
        Case{"show_ranges", "plugins show tp_good", 0,
             "scale            float  default 1.0, min 0.0, max 10.0  -- weight multiplier"},
        Case{"show_unknown", "plugins show tp_nope", 3,
             "mcomp: error: unknown plugin 'tp_nope'; did you mean 'tp_good'?"},
        Case{"show_broken", "plugins show tp_malformed", 3,
             "mcomp: error: plugin 'tp_malformed' is broken: " + kPlugins +
                 "/tp_malformed/plugin.toml:4:17: TOML syntax error"},
        Case{"show_needs_id", "plugins show", 2, "id is required"},
        // --- plugins test
        Case{"test_good", "plugins test tp_good", 0,
             "tp_block: skipped (block granularity needs a model; only layer techniques run on "
             "a random layer)"},
        Case{"test_good_runs", "-q plugins test tp_good -t tp_scale", 0,
             "tp_scale (pruner, layer) on cpu; params: scale=1.0, threshold=0.0, "
             "expect_tokens=-1, fail_in=\"none\", raise_sigint=false\n    layer 64x256, 4 "
             "calibration batches of 16 rows\n    weight: relative error 0.0000"},
        Case{"test_params", "plugins test tp_good -t tp_quant -p bits=3 -p group_size=-1", 0,
             "quant:  bits 3, group_size -1, num_groups 1, sym 0, desc_act 0, largest code 7"},
        Case{"test_bad_param", "plugins test tp_good -t tp_quant -p bits=5", 3,
             "mcomp: error: --param bits: expected one of 2, 3, 4, 8, found 5"},
        Case{"test_param_needs_technique", "plugins test tp_good -p bits=3", 2,
             "--param needs --technique"},
        Case{"test_bad_device", "plugins test tp_good --device gpu", 2, "--device"},
        Case{"test_unknown_technique", "plugins test tp_good -t nope", 3,
             "mcomp: error: plugin 'tp_good' has no technique 'nope'; it has: tp_scale, "
             "tp_quant, tp_block"},
        Case{"test_cuda_not_built", "plugins test tp_good --device cuda", 4,
             "mcomp: error: plugin 'tp_good' has no cuda backend built; use device = \"cpu\" or "
             "\"auto\""},
        Case{"test_refused", "plugins test tp_bad_abi", 3,
             "the library needs host ABI 2.0, this host has 1.0"},
        Case{"test_plugin_failure", "plugins test tp_good -t tp_scale -p fail_in=observe", 3,
             "mcomp: error: plugin 'tp_good' technique 'tp_scale': observe failed with "
             "MC_ERR_INVALID_ARGUMENT: asked to fail in observe"},
        Case{"test_exception", "plugins test tp_throws -t tp_throw_raw", 4,
             "begin_layer let a C++ exception escape (std::logic_error: raw boom)"},
        Case{"test_ctrl_c", "plugins test tp_good -t tp_scale -p raise_sigint=true", 130,
             "begin_layer failed with MC_ERR_CANCELLED: cancelled by the user"},
        // --- validate / run of files that need no scratch folder
        Case{"validate_plugin_source",
             "validate '" MCOMP_SOURCE_DIR "/tests/test-plugins/tp_good/plugin.toml'", 0,
             "is a valid plugin manifest\n  plugin tp_good 1.2.3 (min host ABI 1.0)"},
        Case{"validate_bad_plugin", "validate '" + kPlugins + "/tp_escape/plugin.toml'", 3,
             "mcomp: error: " + kPlugins + "/tp_escape/plugin.toml:13:11: backend.library"},
        Case{"validate_syntax_error", "validate '" + kPlugins + "/tp_malformed/plugin.toml'", 3,
             "/tp_malformed/plugin.toml:4:17: TOML syntax error"},
        Case{"validate_missing", "validate /nonexistent/pipe.toml", 3,
             "mcomp: error: /nonexistent/pipe.toml: cannot read the file: No such file or "
             "directory"},
        Case{"validate_needs_file", "validate", 2, "file is required"}),
    [](const auto& info) { return std::string(info.param.name); });

// Pipelines need files next to them.
class CliPipeline : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / "mcomp_cli_pipeline";
        fs::remove_all(root_);
        fs::create_directories(root_ / "model");
        std::ofstream(root_ / "model" / "config.json") << "{}";
        std::ofstream(root_ / "calib.txt") << "once upon a time";
        write("good.toml",
              "[model]\npath = \"model\"\n[calibration]\ntext = \"calib.txt\"\n"
              "[[stage]]\nuse = \"tp_scale\"\nparams = { scale = 2 }\n"
              "[[stage]]\nuse = \"tp_quant\"\ndevice = \"cpu\"\n"
              "[output]\ndir = \"out\"\n");
        write("typo.toml",
              "[model]\npath = \"model\"\n[[stage]]\nuse = \"tp_quant\"\n"
              "params = { bitz = 4 }\n[output]\ndir = \"out\"\n");
        write("nofile.toml",
              "[model]\npath = \"model\"\n[calibration]\ntext = \"none.txt\"\n"
              "[[stage]]\nuse = \"tp_quant\"\n[output]\ndir = \"out\"\n");
    }
    void TearDown() override { fs::remove_all(root_); }

    void write(const std::string& name, const std::string& text) {
        std::ofstream(root_ / name) << text;
    }
    std::string path(const std::string& name) const {
        std::string quoted = "'";  // appended piecewise: GCC 12 warns (-Wrestrict) on "'" + ...
        quoted += (root_ / name).string();
        quoted += "'";
        return quoted;
    }

    fs::path root_;
};

TEST_F(CliPipeline, ValidateAndRun) {
    const Outcome good = mcomp("validate " + path("good.toml"));
    EXPECT_EQ(good.code, 0) << good.output;
    EXPECT_TRUE(contains(good.output,
                         "  stage 1: tp_scale (plugin 'tp_good'; scale=2.0, threshold=0.0, "
                         "expect_tokens=-1, fail_in=\"none\", raise_sigint=false) on auto\n"
                         "  stage 2: tp_quant (plugin 'tp_good'; bits=4, group_size=16, "
                         "sym=false) on cpu\n"))
        << good.output;

    const Outcome typo = mcomp("validate " + path("typo.toml"));
    EXPECT_EQ(typo.code, 3) << typo.output;
    EXPECT_TRUE(contains(typo.output, "mcomp: error: " + (root_ / "typo.toml").string() +
                                          ":5:12: stage.params.bitz: unknown parameter of "
                                          "technique 'tp_quant'; did you mean 'bits'?"))
        << typo.output;

    const Outcome nofile = mcomp("validate " + path("nofile.toml"));
    EXPECT_EQ(nofile.code, 3) << nofile.output;
    EXPECT_TRUE(
        contains(nofile.output, (root_ / "none.txt").string() + " does not exist or is not a file"))
        << nofile.output;

    // `run` validates first (what it does with a valid pipeline is the engine's, tested there).
    const Outcome run = mcomp("run " + path("typo.toml"));
    EXPECT_EQ(run.code, 3) << run.output;
    EXPECT_TRUE(contains(run.output, "stage.params.bitz: unknown parameter")) << run.output;
}

TEST(CliLogging, QuietAndVerbose) {
    const Outcome normal = mcomp("plugins test tp_good -t tp_scale");
    EXPECT_TRUE(contains(normal.output, "[mcomp] info: plugin 'tp_good': device auto -> cpu"))
        << normal.output;
    const Outcome quiet = mcomp("--quiet plugins test tp_good -t tp_scale");
    EXPECT_EQ(quiet.code, 0);
    EXPECT_FALSE(contains(quiet.output, "info:")) << quiet.output;
    EXPECT_TRUE(contains(quiet.output, "warning: skipping 3 broken plugin(s)")) << quiet.output;
    const Outcome errors_only = mcomp("--log-level error plugins test tp_good -t tp_scale");
    EXPECT_FALSE(contains(errors_only.output, "warning")) << errors_only.output;
    const Outcome verbose = mcomp("-v plugins test tp_good -t tp_scale");
    EXPECT_TRUE(contains(verbose.output,
                         "[mcomp] debug: loaded plugin 'tp_good' 1.2.3 (cpu "
                         "backend, 3 technique(s))"))
        << verbose.output;
    EXPECT_TRUE(contains(verbose.output, "[plugin.tp_good] debug: begin_layer test.layer"))
        << verbose.output;
}

}  // namespace
