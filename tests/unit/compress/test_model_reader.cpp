// test_model_reader.cpp: opening model folders of every kind (compress/model_reader.hpp);
// the round trip of each packed format is in test_run_pipeline.cpp.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compress/model_reader.hpp"
#include "compress/synth.hpp"
#include "compress_test_util.hpp"
#include "model/checkpoint.hpp"

namespace mcomp::compress {
namespace {

std::filesystem::path tiny_model(const test::ScratchDir& scratch) {
    SynthOptions options;
    options.config = "tiny-test";
    options.out = scratch / "m";
    options.dtype = DType::f32;
    EXPECT_TRUE(synthesize_model(options).has_value());
    return options.out;
}

void set_quantization_config(const std::filesystem::path& dir, const nlohmann::json& quant) {
    nlohmann::json config = nlohmann::json::parse(test::read_text(dir / "config.json"));
    config["quantization_config"] = quant;
    test::write_text(dir / "config.json", config.dump(2));
}

TEST(ModelReader, DenseIsMapped) {
    test::ScratchDir scratch("reader");
    const auto dir = tiny_model(scratch);
    Expected<OpenedModel> model = open_model(dir.string());
    ASSERT_TRUE(model.has_value()) << model.error().message;
    EXPECT_EQ(model->format, "dense");
    EXPECT_TRUE(model->mapped);
    EXPECT_EQ(model->packed_layers, 0);
}

TEST(ModelReader, BadInputs) {
    test::ScratchDir scratch("reader-bad");
    const auto dir = tiny_model(scratch);
    struct Case {
        nlohmann::json quant;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{{"quant_method", "bitsandbytes"}},
         (dir / "config.json").string() +
             ": quantization_config.quant_method 'bitsandbytes' is not one mcomp reads (gptq, awq, "
             "compressed-tensors)"},
        // A GPTQ config over a folder without packed tensors: nothing to dequantize, the
        // dense weights are read as they are.
    };
    for (const Case& c : cases) {
        set_quantization_config(dir, c.quant);
        Expected<OpenedModel> model = open_model(dir.string());
        ASSERT_FALSE(model.has_value());
        EXPECT_EQ(model.error().message, c.message);
    }
    Expected<OpenedModel> missing = open_model((scratch / "nothing").string());
    ASSERT_FALSE(missing.has_value());
}

TEST(ModelReader, QuantizedConfigWithoutPackedTensorsReadsDense) {
    test::ScratchDir scratch("reader-gptq");
    const auto dir = tiny_model(scratch);
    set_quantization_config(dir, {{"quant_method", "gptq"},
                                  {"bits", 4},
                                  {"group_size", 32},
                                  {"desc_act", false},
                                  {"sym", true}});
    Expected<OpenedModel> model = open_model(dir.string());
    ASSERT_TRUE(model.has_value()) << model.error().message;
    EXPECT_EQ(model->format, "gptq");
    EXPECT_FALSE(model->mapped);
    EXPECT_EQ(model->packed_layers, 0);
}

TEST(ModelReader, InMemoryCheckpointIsValidatedLikeAFolder) {
    test::ScratchDir scratch("memory-checkpoint");
    const auto dir = tiny_model(scratch);
    Expected<Checkpoint> disk = Checkpoint::open(dir.string());
    ASSERT_TRUE(disk.has_value());
    const auto owned = [&](const std::string& name) {
        const TensorView& view = *disk->find(name);
        Checkpoint::OwnedTensor tensor{name, view.dtype, view.shape, {}};
        tensor.bytes.assign(view.data, view.data + view.num_bytes);
        return tensor;
    };
    std::vector<Checkpoint::OwnedTensor> tensors;
    for (const std::string& name : disk->tensor_names()) {
        tensors.push_back(owned(name));
    }
    Expected<Checkpoint> memory = Checkpoint::from_tensors("synthetic", disk->config(), tensors);
    ASSERT_TRUE(memory.has_value()) << memory.error().message;
    EXPECT_EQ(memory->file_of("model.norm.weight"), "synthetic (in memory)");
    EXPECT_EQ(memory->embed_tokens().data, memory->lm_head().data);  // tied

    std::vector<Checkpoint::OwnedTensor> bad = tensors;
    for (Checkpoint::OwnedTensor& tensor : bad) {
        if (tensor.name == "model.norm.weight") {
            tensor.shape = {32, 2};
        }
    }
    Expected<Checkpoint> misshapen = Checkpoint::from_tensors("synthetic", disk->config(), bad);
    ASSERT_FALSE(misshapen.has_value());
    EXPECT_EQ(misshapen.error().message,
              "synthetic (in memory): tensor 'model.norm.weight' has shape [32, 2] but "
              "config.json implies [64] (hidden_size)");
    bad = tensors;
    bad[0].bytes.pop_back();
    Expected<Checkpoint> short_bytes = Checkpoint::from_tensors("synthetic", disk->config(), bad);
    ASSERT_FALSE(short_bytes.has_value());
    EXPECT_EQ(short_bytes.error().kind, ErrorKind::internal);
}

}  // namespace
}  // namespace mcomp::compress
