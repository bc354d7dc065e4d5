// test_run_pipeline.cpp: `mcomp run` end to end through the library (compress/run_pipeline.hpp)
// on a synthetic model: every output format reads back to exactly the weights the engine
// kept (the round trip, bit for bit), perplexity after is the same for every format, the
// report says what happened, and the output folder is refused, replaced or never half-written.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "compress/model_reader.hpp"
#include "compress/run_pipeline.hpp"
#include "compress/synth.hpp"
#include "compress/work_dir.hpp"
#include "compress_test_util.hpp"
#include "core/host_services.hpp"

namespace mcomp::compress {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Fixture {
    test::ScratchDir scratch{"run"};
    fs::path model;

    Fixture() {
        SynthOptions options;
        options.config = "tiny-test";
        options.out = scratch / "model";
        options.dtype = DType::f32;
        EXPECT_TRUE(synthesize_model(options).has_value());
        model = options.out;
        std::string text;
        for (int i = 0; i < 300; ++i) {
            text += "The quick brown fox " + std::to_string(i) + " jumps over the lazy dog. ";
        }
        test::write_text(scratch / "text.txt", text);
    }

    std::string pipeline_text(const std::string& stages, const std::string& formats) const {
        return "[model]\npath = \"" + model.string() +
               "\"\n[calibration]\ntext = \"text.txt\"\nsamples = 4\nseqlen = 64\n" + stages +
               "[output]\ndir = \"out\"\nformats = " + formats +
               "\n[eval]\ntexts = [\"text.txt\"]\nseqlen = 128\n";
    }

    Expected<json> run(const std::string& text, RunOptions options = {}) {
        Expected<Pipeline> pipeline = test::pipeline_from_text(scratch.path(), text);
        if (!pipeline) {
            return pipeline.error();
        }
        options.progress = ProgressMode::quiet;
        options.eval_max_windows = 8;  // seconds, not minutes, on 2 busy cores
        return run_pipeline(*pipeline, test::test_registry(), options);
    }
};

const std::string kRtn = "[[stage]]\nuse = \"rtn\"\nparams = { bits = 4, group_size = 32 }\n";

TEST(RunPipeline, EveryFormatReadsBackTheEnginesWeightsBitForBit) {
    Fixture f;
    RunOptions options;
    options.keep_work = true;
    options.formats = {"dense", "gptq", "gptq_v2", "awq", "compressed-tensors"};
    Expected<json> report = f.run(f.pipeline_text(kRtn, "[\"dense\"]"), options);
    ASSERT_TRUE(report.has_value()) << report.error().message;
    const fs::path work = work_dir_for(f.scratch / "out");
    ASSERT_TRUE(fs::exists(work / "block-0.safetensors"));
    std::vector<std::unique_ptr<Checkpoint>> opened;
    for (const std::string& format : options.formats) {
        Expected<OpenedModel> model = open_model((f.scratch / "out" / format).string());
        ASSERT_TRUE(model.has_value()) << format << ": " << model.error().message;
        EXPECT_EQ(model->format, format);
        EXPECT_EQ(model->packed_layers, format == "dense" ? 0 : 14);
        for (std::int64_t block = 0; block < 2; ++block) {
            Expected<BlockRecords> records =
                BlockRecords::open(work / fmt::format("block-{}.safetensors", block));
            ASSERT_TRUE(records.has_value());
            for (const std::string& prefix : records->prefixes()) {
                const CompressedLinear record = *records->read(prefix);
                const TensorView* view = model->checkpoint->find(prefix + ".weight");
                ASSERT_NE(view, nullptr) << format << " " << prefix;
                ASSERT_EQ(view->dtype, DType::f32);
                ASSERT_EQ(view->num_bytes, record.weight.size() * 4);
                EXPECT_EQ(std::memcmp(view->data, record.weight.data(), view->num_bytes), 0)
                    << format << " " << prefix << " differs from the engine's weight";
            }
        }
    }
    // The same weights give the same perplexity, whichever format holds them.
    const json& after = (*report)["eval"][0]["after"];
    ASSERT_EQ(after.size(), 5u);
    for (const json& entry : after) {
        EXPECT_EQ(entry["ppl"].get<double>(), after[0]["ppl"].get<double>()) << entry["format"];
    }
    const double before = (*report)["eval"][0]["before"]["ppl"].get<double>();
    EXPECT_TRUE(std::isfinite(before));
    EXPECT_NE(after[0]["ppl"].get<double>(), before);
    // GPTQ 4-bit with fp16 scales per 32 columns and packed zeros: 4 + 16/32 + 4/32 bits,
    // plus g_idx (32 bits per column, over out rows).
    for (const json& output : (*report)["outputs"]) {
        if (output["format"] == "gptq") {
            EXPECT_GT(output["bits_per_weight"].get<double>(), 4.6);
            EXPECT_LT(output["bits_per_weight"].get<double>(), 5.5);
            EXPECT_EQ(output["quantized_layers"].get<int>(), 14);
        }
        if (output["format"] == "dense") {
            EXPECT_EQ(output["bits_per_weight"].get<double>(), 32.0);
        }
    }
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "report.json"));
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "report.md"));
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "gptq" / "quantize_config.json"));
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "awq" / "tokenizer.json"));
    const json config = json::parse(test::read_text(f.scratch / "out" / "gptq_v2" / "config.json"));
    EXPECT_EQ(config["quantization_config"]["checkpoint_format"], "gptq_v2");
    EXPECT_EQ(config["mcomp"]["stages"][0]["use"], "rtn");
}

// compressed-tensors and transformers' AWQ loader treat every Linear not listed in `ignore` /
// `modules_to_not_convert` as packed: a linear that no stage selected is stored dense and
// must be listed.
TEST(RunPipeline, PackedFormatsListEveryDenseLinear) {
    Fixture f;
    const std::string stages =
        "[[stage]]\nuse = \"rtn\"\nparams = { bits = 4, group_size = 32 }\n"
        "include = [\"model.layers.0.*\"]\n";
    RunOptions options;
    options.true_sequential = false;
    Expected<json> report =
        f.run(f.pipeline_text(stages, "[\"compressed-tensors\", \"awq\", \"gptq\"]"), options);
    ASSERT_TRUE(report.has_value()) << report.error().message;
    // GPTQ's config records how the run went (RTN has no damp: the default stays).
    const json gptq = json::parse(test::read_text(f.scratch / "out" / "gptq" / "config.json"));
    EXPECT_EQ(gptq["quantization_config"]["true_sequential"], false);
    EXPECT_EQ(gptq["quantization_config"]["damp_percent"], 0.01);
    std::vector<std::string> block1;
    for (const char* name : {"mlp.down_proj", "mlp.gate_proj", "mlp.up_proj", "self_attn.k_proj",
                             "self_attn.o_proj", "self_attn.q_proj", "self_attn.v_proj"}) {
        block1.push_back(std::string("model.layers.1.") + name);
    }
    const auto listed = [&](const std::string& format, const char* key) {
        const json config =
            json::parse(test::read_text(f.scratch / "out" / format / "config.json"));
        std::vector<std::string> names =
            config["quantization_config"][key].get<std::vector<std::string>>();
        std::sort(names.begin(), names.end());
        return names;
    };
    std::vector<std::string> ignore = block1;
    ignore.insert(ignore.begin(), "lm_head");
    EXPECT_EQ(listed("compressed-tensors", "ignore"), ignore);
    EXPECT_EQ(listed("awq", "modules_to_not_convert"), block1);
    for (const std::string format : {"compressed-tensors", "awq"}) {
        Expected<OpenedModel> model = open_model((f.scratch / "out" / format).string());
        ASSERT_TRUE(model.has_value()) << model.error().message;
        EXPECT_EQ(model->packed_layers, 7) << format;
    }
}

TEST(RunPipeline, PrunedModelRecordsSparsity) {
    Fixture f;
    const std::string stages = "[[stage]]\nuse = \"magnitude\"\nparams = { sparsity = 0.5 }\n";
    Expected<json> report = f.run(f.pipeline_text(stages, "[\"dense\"]"));
    ASSERT_TRUE(report.has_value()) << report.error().message;
    const json config = json::parse(test::read_text(f.scratch / "out" / "config.json"));
    const double sparsity = config["mcomp"]["sparsity"]["global"].get<double>();
    EXPECT_NEAR(sparsity, 0.5, 0.01);
    EXPECT_EQ(config["mcomp"]["sparsity"]["pruned_layers"].get<int>(), 14);
    EXPECT_FALSE(config.contains("quantization_config"));
    EXPECT_NEAR((*report)["outputs"][0]["sparsity"].get<double>(), sparsity, 1e-12);
    EXPECT_FALSE(fs::exists(work_dir_for(f.scratch / "out")));
}

TEST(RunPipeline, OutputFolderRules) {
    Fixture f;
    const std::string text = f.pipeline_text(kRtn, "[\"gptq\"]");
    ASSERT_TRUE(f.run(text).has_value());
    Expected<json> again = f.run(text);
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().message,
              (f.scratch / "out").string() +
                  ": the output folder exists; remove it or pass --force to replace it");
    RunOptions force;
    force.force = true;
    ASSERT_TRUE(f.run(text, force).has_value());
    for (const fs::directory_entry& entry : fs::directory_iterator(f.scratch.path())) {
        const std::string name = entry.path().filename().string();
        EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
        EXPECT_EQ(name.find(".old-"), std::string::npos) << name;
    }
}

TEST(RunPipeline, TrailingSlashOnTheOutputFolder) {
    Fixture f;
    std::string text = f.pipeline_text(kRtn, "[\"dense\"]");
    text.replace(text.find("dir = \"out\""), 11, "dir = \"out/\"");
    ASSERT_TRUE(f.run(text).has_value());
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "model.safetensors"));
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "report.json"));
}

TEST(RunPipeline, BadCombinations) {
    Fixture f;
    const std::string magnitude = "[[stage]]\nuse = \"magnitude\"\n";
    Expected<json> packed = f.run(f.pipeline_text(magnitude, "[\"awq\"]"));
    ASSERT_FALSE(packed.has_value());
    EXPECT_EQ(packed.error().message,
              (f.scratch / "pipeline.toml").string() +
                  ": output format 'awq' stores quantized layers, but no stage quantizes (a "
                  "quantizer, or a technique with bits < 16 such as sparsegpt's joint "
                  "quantization); use formats = [\"dense\"]");
    const std::string mixed = kRtn +
                              "[[stage]]\nuse = \"rtn\"\nparams = { bits = 8, group_size = 32 }\n"
                              "include = [\"*.mlp.*\"]\n";
    Expected<json> two_configs = f.run(f.pipeline_text(mixed, "[\"gptq\"]"));
    ASSERT_FALSE(two_configs.has_value());
    EXPECT_NE(two_configs.error().message.find("are quantized with different "
                                               "bits/group_size/sym/desc_act"),
              std::string::npos)
        << two_configs.error().message;
    EXPECT_FALSE(fs::exists(f.scratch / "out"));
}

TEST(RunPipeline, CancelledRunLeavesNoOutputAndResumes) {
    Fixture f;
    const std::string stages = "[[stage]]\nuse = \"probe\"\n";
    const std::string text = f.pipeline_text(stages, "[\"dense\"]");
    request_cancel();
    Expected<json> cancelled = f.run(text);
    reset_cancel();
    ASSERT_FALSE(cancelled.has_value());
    EXPECT_EQ(cancelled.error().kind, ErrorKind::cancelled);
    EXPECT_NE(cancelled.error().message.find("run the same command again to continue"),
              std::string::npos)
        << cancelled.error().message;
    EXPECT_FALSE(fs::exists(f.scratch / "out"));
    Expected<json> resumed = f.run(text);
    ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
    EXPECT_TRUE(fs::exists(f.scratch / "out" / "model.safetensors"));
}

}  // namespace
}  // namespace mcomp::compress
