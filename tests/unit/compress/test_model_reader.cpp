// test_model_reader.cpp: opening model folders of every kind (compress/model_reader.hpp);
// the round trip of each packed format is in test_run_pipeline.cpp.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compress/model_reader.hpp"
#include "compress/synth.hpp"
#include "compress_test_util.hpp"

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

}  // namespace
}  // namespace mcomp::compress
