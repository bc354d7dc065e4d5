// test_memory_cap.cpp: one block resident at a time. `mcomp synth` writes a Llama-shaped
// model of about 480 MB (bf16, 16 blocks of hidden 1024); `mcomp run` quantizes it with RTN
// (a small calibration set runs through every block) into a GPTQ checkpoint, and the run's
// peak resident set (wait4's ru_maxrss: heap, and every mapped page it touched) stays well
// below the model's size: the calibration activations, one block in fp32 and the writer's
// 16 MiB chunks. Labelled slow (about a minute on two cores).
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "compress_test_util.hpp"
#include "process_util.hpp"

namespace mcomp::test {
namespace {

namespace fs = std::filesystem;

std::int64_t folder_bytes(const fs::path& dir, const std::string& extension) {
    std::int64_t total = 0;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == extension) {
            total += static_cast<std::int64_t>(entry.file_size());
        }
    }
    return total;
}

TEST(MemoryCap, ModelSeveralTimesLargerThanThePeakResidentSet) {
    ScratchDir scratch("memory");
    write_text(scratch / "config.json",
               R"({"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 16,
                   "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 16000,
                   "max_position_embeddings": 1024, "tie_word_embeddings": false})");
    const ProcessResult synth =
        run_mcomp({"synth", "--config", (scratch / "config.json").string(), "--out",
                   (scratch / "model").string(), "--dtype", "bf16", "--seed", "1"},
                  scratch / "synth.log");
    ASSERT_EQ(synth.exit_code, 0) << synth.output;
    const std::int64_t model_bytes = folder_bytes(scratch / "model", ".safetensors");
    ASSERT_GT(model_bytes, std::int64_t{450} << 20);

    std::string text;
    for (int i = 0; i < 2000; ++i) {
        text += "Calibration line " + std::to_string(i) + " of a synthetic text. ";
    }
    write_text(scratch / "calib.txt", text);
    write_text(scratch / "pipeline.toml",
               "[model]\npath = \"model\"\n"
               "[calibration]\ntext = \"calib.txt\"\nsamples = 4\nseqlen = 128\n"
               "[[stage]]\nuse = \"rtn\"\nparams = { bits = 4, group_size = 128 }\n"
               "[output]\ndir = \"out\"\nformats = [\"gptq\"]\n");
    const ProcessResult run =
        run_mcomp({"run", (scratch / "pipeline.toml").string(), "--quiet"}, scratch / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    // What the program holds before the engine starts (the report's "prepare" phase: in a
    // CUDA build the dynamic loader alone makes cuBLAS resident, about 150 MiB); the
    // engine's share is the rest.
    const nlohmann::json report = nlohmann::json::parse(read_text(scratch / "out" / "report.json"));
    ASSERT_EQ(report["phases"][0]["name"], "prepare");
    const std::int64_t baseline_bytes = report["phases"][0]["rss_bytes"].get<std::int64_t>();
    const std::int64_t peak_bytes = static_cast<std::int64_t>(run.max_rss_kib) * 1024;
    const std::int64_t engine_bytes = peak_bytes - baseline_bytes;
    std::printf(
        "model %.1f MiB (bf16); mcomp run peak RSS %.1f MiB, of which %.1f MiB above the "
        "program before the engine (%.2f of the model)\n",
        static_cast<double>(model_bytes) / 1048576.0, static_cast<double>(peak_bytes) / 1048576.0,
        static_cast<double>(engine_bytes) / 1048576.0,
        static_cast<double>(engine_bytes) / static_cast<double>(model_bytes));
    EXPECT_LT(engine_bytes, model_bytes / 3);
    EXPECT_EQ(report["outputs"][0]["quantized_layers"].get<int>(), 16 * 7);
    // 4-bit codes + fp16 scales and 4-bit zeros per 128 columns + int32 g_idx per column.
    EXPECT_NEAR(report["outputs"][0]["bits_per_weight"].get<double>(), 4.18, 0.01);
}

}  // namespace
}  // namespace mcomp::test
