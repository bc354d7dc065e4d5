// test_sparse_formats.cpp: the outputs of pruned models through the real `mcomp` on the shared
// model, with a small calibration set (16 windows of 128 tokens) so each run takes seconds:
//
//   - sparse-24-bitmask round trip: SparseGPT 2:4 written as dense and as sparse-24-bitmask in
//     one run; read back (open_model), every tensor of the two equals bit for bit, in f32 and
//     in bf16; the report's perplexity after is the same for both and `mcomp eval` on the
//     sparse folder gives it again; config.json carries compressed-tensors' sparsity_config;
//   - writing an unstructured 50% model as sparse-24-bitmask is refused, naming the layer and
//     the first group of 4 inputs with more than 2 non-zeros;
//   - the early checks of the output formats: a packed quantized format needs a stage that
//     returns codes (a quantizer, or sparsegpt with bits < 16, which then writes gptq and
//     compressed-tensors checkpoints), sparse-24-bitmask needs a pruner.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "compress/model_reader.hpp"
#include "compress_test_util.hpp"
#include "process_util.hpp"

namespace mcomp::test {
namespace {

using nlohmann::json;

// A pipeline on the shared model: `stages` ([[stage]] tables), `formats` (TOML array text).
std::string pipeline_text(const std::string& stages, const std::string& formats) {
    return "[model]\npath = \"${MCOMP_TEST_DATA}/models/TinyStories-656K\"\n"
           "[calibration]\ntext = \"${MCOMP_TEST_DATA}/data/tinystories/ts_calib.txt\"\n"
           "samples = 16\nseqlen = 128\nseed = 0\ntrue_sequential = false\n" +
           stages + "[output]\ndir = \"out\"\nformats = " + formats +
           "\n[eval]\ntexts = [\"${MCOMP_TEST_DATA}/data/tinystories/ts_dev.txt\"]\n"
           "seqlen = 512\n";
}

const char* const kSparseGpt24 = "[[stage]]\nuse = \"sparsegpt\"\nparams = { n = 2, m = 4 }\n";

// Every tensor of the two folders, read as mcomp reads them, equal bit for bit.
void expect_same_tensors(const std::filesystem::path& a, const std::filesystem::path& b) {
    Expected<compress::OpenedModel> first = compress::open_model(a.string());
    Expected<compress::OpenedModel> second = compress::open_model(b.string());
    ASSERT_TRUE(first.has_value()) << first.error().message;
    ASSERT_TRUE(second.has_value()) << second.error().message;
    EXPECT_EQ(first->format, "dense");
    EXPECT_EQ(second->format, "sparse-24-bitmask");
    EXPECT_EQ(second->packed_layers, 14);
    const Checkpoint& x = *first->checkpoint;
    const Checkpoint& y = *second->checkpoint;
    ASSERT_EQ(x.tensor_names(), y.tensor_names());
    for (const std::string& name : x.tensor_names()) {
        const TensorView& u = *x.find(name);
        const TensorView& v = *y.find(name);
        EXPECT_EQ(u.dtype, v.dtype) << name;
        EXPECT_EQ(u.shape, v.shape) << name;
        ASSERT_EQ(u.num_bytes, v.num_bytes) << name;
        EXPECT_EQ(std::memcmp(u.data, v.data, u.num_bytes), 0) << name;
    }
}

void expect_sparse_round_trip(const std::string& dtype) {
    ScratchDir scratch("sparse24-" + dtype);
    write_text(scratch / "pipe.toml",
               pipeline_text(kSparseGpt24, "[\"dense\", \"sparse-24-bitmask\"]"));
    const ProcessResult run = run_mcomp({"run", (scratch / "pipe.toml").string(), "--quiet",
                                         "--dtype", dtype, "--max-windows", "10"},
                                        scratch / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const std::filesystem::path dense = scratch / "out" / "dense";
    const std::filesystem::path sparse = scratch / "out" / "sparse-24-bitmask";
    expect_same_tensors(dense, sparse);

    const json report = json::parse(read_text(scratch / "out" / "report.json"));
    const json& after = report["eval"][0]["after"];
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[1]["format"], "sparse-24-bitmask");
    EXPECT_EQ(after[0]["ppl"].get<double>(), after[1]["ppl"].get<double>());
    EXPECT_EQ(report["outputs"][1]["sparsity"].get<double>(), 0.5);
    // Half the values and one bit per weight: 17 bits per fp32 weight, 9 per bf16 one (plus
    // the 16-byte shape of each layer).
    const double bits = report["outputs"][1]["bits_per_weight"].get<double>();
    EXPECT_NEAR(bits, dtype == "f32" ? 17.0 : 9.0, 0.02);

    const json config = json::parse(read_text(sparse / "config.json"));
    const json& quant = config["quantization_config"];
    EXPECT_EQ(quant["quant_method"], "compressed-tensors");
    EXPECT_FALSE(quant.contains("config_groups"));
    EXPECT_EQ(quant["sparsity_config"]["format"], "sparse-24-bitmask");
    EXPECT_EQ(quant["sparsity_config"]["sparsity_structure"], "2:4");
    EXPECT_EQ(quant["sparsity_config"]["global_sparsity"].get<double>(), 0.5);
    EXPECT_EQ(quant["sparsity_config"]["ignore"], json({"lm_head"}));
    for (const auto& [layer, structure] : config["mcomp"]["sparsity"]["structure"].items()) {
        EXPECT_EQ(structure, "2:4") << layer;
    }
    EXPECT_EQ(config["mcomp"]["sparsity"]["structure"].size(), 14u);

    const ProcessResult eval = run_mcomp({"eval", "--model", sparse.string(), "--text",
                                          test_data_dir() + "/data/tinystories/ts_dev.txt",
                                          "--seqlen", "512", "--max-windows", "10", "--json"},
                                         scratch / "eval.log");
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
    const json result = json::parse(eval.output);
    EXPECT_EQ(result["format"], "sparse-24-bitmask");
    EXPECT_EQ(result["ppl"].get<double>(), after[1]["ppl"].get<double>());
}

TEST(SparseFormats, TwoOfFourBitmaskReadsBackBitForBitInF32) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    expect_sparse_round_trip("f32");
}

TEST(SparseFormats, TwoOfFourBitmaskReadsBackBitForBitInBf16) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    expect_sparse_round_trip("bf16");
}

TEST(SparseFormats, AnUnstructuredModelIsNotWrittenAsTwoOfFour) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("sparse24-unstructured");
    write_text(scratch / "pipe.toml",
               pipeline_text("[[stage]]\nuse = \"sparsegpt\"\nparams = { sparsity = 0.5 }\n",
                             "[\"sparse-24-bitmask\"]"));
    const ProcessResult run =
        run_mcomp({"run", (scratch / "pipe.toml").string(), "--quiet", "--max-windows", "1"},
                  scratch / "run.log");
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.output.find("sparse-24-bitmask: model.layers."), std::string::npos) << run.output;
    EXPECT_NE(run.output.find(": not 2:4 sparse: row "), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("sparse-24-bitmask stores layers with at most 2 non-zeros in every "
                              "4 consecutive inputs (prune with n = 2, m = 4, or write the "
                              "dense format)"),
              std::string::npos)
        << run.output;
}

struct FormatCheck {
    const char* name;
    std::string stages;
    std::string formats;
    std::string message;  // "" when the run must succeed
};

TEST(SparseFormats, OutputFormatsNeedAStageThatProducesWhatTheyStore) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    const std::vector<FormatCheck> cases = {
        {"gptq after pruning only",
         "[[stage]]\nuse = \"sparsegpt\"\nparams = { n = 2, m = 4, bits = 16 }\n", "[\"gptq\"]",
         "output format 'gptq' stores quantized layers, but no stage quantizes (a quantizer, or "
         "a technique with bits < 16 such as sparsegpt's joint quantization); use formats = "
         "[\"dense\"]"},
        {"sparse-24-bitmask after quantizing only",
         "[[stage]]\nuse = \"rtn\"\nparams = { bits = 4, group_size = 64 }\n",
         "[\"sparse-24-bitmask\"]",
         "output format 'sparse-24-bitmask' stores 2:4-pruned layers, but no stage is a pruner; "
         "add a 2:4 pruner stage (n = 2, m = 4) or use formats = [\"dense\"]"},
    };
    for (const FormatCheck& c : cases) {
        SCOPED_TRACE(c.name);
        ScratchDir scratch("formats");
        write_text(scratch / "pipe.toml", pipeline_text(c.stages, c.formats));
        const ProcessResult run =
            run_mcomp({"run", (scratch / "pipe.toml").string(), "--quiet"}, scratch / "run.log");
        EXPECT_NE(run.exit_code, 0);
        EXPECT_NE(run.output.find((scratch / "pipe.toml").string() + ": " + c.message),
                  std::string::npos)
            << run.output;
        EXPECT_FALSE(std::filesystem::exists(scratch / "out.mcomp-work")) << "refused before work";
    }
}

TEST(SparseFormats, JointQuantizedSparseGptWritesPackedFormats) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    ScratchDir scratch("joint");
    write_text(scratch / "pipe.toml",
               pipeline_text("[[stage]]\nuse = \"sparsegpt\"\n"
                             "params = { n = 2, m = 4, bits = 4, group_size = -1 }\n",
                             "[\"gptq\", \"compressed-tensors\", \"sparse-24-bitmask\"]"));
    const ProcessResult run =
        run_mcomp({"run", (scratch / "pipe.toml").string(), "--quiet", "--max-windows", "10"},
                  scratch / "run.log");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const json report = json::parse(read_text(scratch / "out" / "report.json"));
    const json& after = report["eval"][0]["after"];
    ASSERT_EQ(after.size(), 3u);
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(report["outputs"][i]["quantized_layers"].get<int>(), 14);
    }
    // The three hold the same weights: the 2:4 one stores the dequantized values densely.
    EXPECT_EQ(after[0]["ppl"].get<double>(), after[1]["ppl"].get<double>());
    EXPECT_EQ(after[0]["ppl"].get<double>(), after[2]["ppl"].get<double>());
    const json config = json::parse(read_text(scratch / "out" / "gptq" / "config.json"));
    EXPECT_EQ(config["quantization_config"]["bits"].get<int>(), 4);
    for (const auto& [layer, structure] : config["mcomp"]["sparsity"]["structure"].items()) {
        EXPECT_EQ(structure, "2:4") << layer;
    }
}

}  // namespace
}  // namespace mcomp::test
