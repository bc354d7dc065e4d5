// test_resume.cpp: a run stopped with SIGKILL (no chance to clean up) or with Ctrl-C
// (SIGINT: stop at the next safe point, exit 130) after its first block leaves no output
// folder, only the work folder; started again it continues from the last finished block and
// writes the same bytes as a run that was never interrupted (every file but the report, whose
// times differ; its numbers are compared).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compress/synth.hpp"
#include "compress_test_util.hpp"
#include "process_util.hpp"

namespace mcomp::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A 4-block synthetic model, a calibration text, and a pipeline whose first stage (probe,
// 100 ms per layer) makes each block take most of a second: probe, then RTN 4-bit,
// written as GPTQ and dense.
struct Fixture {
    ScratchDir scratch{"resume"};
    fs::path pipeline;

    Fixture() {
        write_text(scratch / "config.json",
                   R"({"hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 4,
                       "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
                       "max_position_embeddings": 256})");
        compress::SynthOptions options;
        options.config = (scratch / "config.json").string();
        options.out = scratch / "model";
        options.dtype = DType::f32;
        EXPECT_TRUE(compress::synthesize_model(options).has_value());
        std::string text;
        for (int i = 0; i < 400; ++i) {
            text += "Sample sentence number " + std::to_string(i) + " for calibration. ";
        }
        write_text(scratch / "text.txt", text);
        pipeline = scratch / "pipeline.toml";
        write_text(
            pipeline,
            "[model]\npath = \"model\"\n"
            "[calibration]\ntext = \"text.txt\"\nsamples = 6\nseqlen = 64\nseed = 3\n"
            "[[stage]]\nuse = \"probe\"\nparams = { scale = 0.9, delay_ms = 100, stats = false }\n"
            "[[stage]]\nuse = \"rtn\"\nparams = { bits = 4, group_size = 32 }\n"
            "[output]\ndir = \"unused\"\nformats = [\"gptq\", \"dense\"]\n"
            "[eval]\ntexts = [\"text.txt\"]\nseqlen = 64\n");
    }

    std::vector<std::string> args(const std::string& out) const {
        return {"run", pipeline.string(), "--output", (scratch / out).string(), "--max-windows",
                "4"};
    }

    // The next_block of the work folder's state, -1 without one.
    std::int64_t next_block(const std::string& out) const {
        const fs::path state = scratch / (out + ".mcomp-work") / "state.json";
        const std::string text = read_text(state);
        try {
            return text.empty() ? -1 : json::parse(text).at("next_block").get<std::int64_t>();
        } catch (const json::exception&) {
            return -1;
        }
    }
};

// `value` without its "seconds" keys (times differ between runs).
json without_times(json value) {
    if (value.is_object()) {
        value.erase("seconds");
        for (auto& [key, item] : value.items()) {
            item = without_times(item);
        }
    } else if (value.is_array()) {
        for (json& item : value) {
            item = without_times(item);
        }
    }
    return value;
}

// Every file under `a` equals the one under `b`, report.* aside (compared by their numbers).
void expect_same_output(const fs::path& a, const fs::path& b) {
    std::size_t files = 0;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(a)) {
        if (!entry.is_regular_file()) {
            continue;
        }
        const fs::path relative = fs::relative(entry.path(), a);
        ASSERT_TRUE(fs::exists(b / relative)) << relative;
        if (relative.filename().string().rfind("report.", 0) == 0) {
            continue;
        }
        ++files;
        EXPECT_TRUE(read_text(entry.path()) == read_text(b / relative)) << relative << " differs";
    }
    EXPECT_GE(files, 10u);
    const json ra = json::parse(read_text(a / "report.json"));
    const json rb = json::parse(read_text(b / "report.json"));
    EXPECT_EQ(without_times(ra["eval"]), without_times(rb["eval"]));
    EXPECT_EQ(ra["outputs"][0]["file_bytes"], rb["outputs"][0]["file_bytes"]);
    EXPECT_EQ(ra["stages"][0]["layers"], rb["stages"][0]["layers"]);
}

TEST(Resume, AfterSigkillTheOutputIsByteIdentical) {
    Fixture f;
    const ProcessResult whole = run_mcomp(f.args("whole"), f.scratch / "whole.log");
    ASSERT_EQ(whole.exit_code, 0) << whole.output;

    const pid_t pid = spawn_mcomp(f.args("killed"), f.scratch / "killed.log");
    const bool first_block =
        wait_for([&] { return f.next_block("killed") >= 1; }, std::chrono::seconds(120));
    ::kill(pid, SIGKILL);
    const ProcessResult killed = wait_mcomp(pid, f.scratch / "killed.log");
    ASSERT_TRUE(first_block) << killed.output;
    ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << "the run ended before it could be killed";
    EXPECT_FALSE(fs::exists(f.scratch / "killed"));
    const std::int64_t saved = f.next_block("killed");
    EXPECT_GE(saved, 1);
    EXPECT_LT(saved, 4);

    const ProcessResult resumed = run_mcomp(f.args("killed"), f.scratch / "resumed.log");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
    const json report = json::parse(read_text(f.scratch / "killed" / "report.json"));
    EXPECT_GE(report["resumed_at_block"].get<std::int64_t>(), saved);
    expect_same_output(f.scratch / "whole", f.scratch / "killed");
    EXPECT_FALSE(fs::exists(f.scratch / "killed.mcomp-work"));
}

TEST(Resume, CtrlCStopsAtASafePointAndResumes) {
    Fixture f;
    const ProcessResult whole = run_mcomp(f.args("whole"), f.scratch / "whole.log");
    ASSERT_EQ(whole.exit_code, 0) << whole.output;

    const pid_t pid = spawn_mcomp(f.args("interrupted"), f.scratch / "interrupted.log");
    const bool first_block =
        wait_for([&] { return f.next_block("interrupted") >= 1; }, std::chrono::seconds(120));
    ::kill(pid, SIGINT);
    const ProcessResult interrupted = wait_mcomp(pid, f.scratch / "interrupted.log");
    ASSERT_TRUE(first_block) << interrupted.output;
    ASSERT_EQ(interrupted.exit_code, 130) << interrupted.output;
    EXPECT_NE(interrupted.output.find("run the same command again to continue"), std::string::npos)
        << interrupted.output;
    EXPECT_FALSE(fs::exists(f.scratch / "interrupted"));
    for (const fs::directory_entry& entry : fs::directory_iterator(f.scratch.path())) {
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
            << entry.path() << ": a staging folder was left behind";
    }
    EXPECT_GE(f.next_block("interrupted"), 1);

    const ProcessResult resumed = run_mcomp(f.args("interrupted"), f.scratch / "resumed.log");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    expect_same_output(f.scratch / "whole", f.scratch / "interrupted");
}

}  // namespace
}  // namespace mcomp::test
