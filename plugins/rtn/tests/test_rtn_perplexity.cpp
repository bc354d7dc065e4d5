// test_rtn_perplexity.cpp: end to end, `rtn` 4-bit with groups of 64 on every decoder linear
// of TinyStories-656K gives the perplexity of the PyTorch reference (GPTQ's llama.py RTN
// baseline, per group): 41.7336 on ts_dev.txt, seqlen 512, the llama_eval protocol (the fp32
// model itself: 39.6444, tests/unit/runtime/test_perplexity.cpp). Skips without the shared
// material.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "model/checkpoint.hpp"
#include "model/safetensors.hpp"
#include "plugin_harness.hpp"
#include "runtime/cpu_backend.hpp"
#include "runtime/llama_model.hpp"
#include "runtime/perplexity.hpp"
#include "tokenizer/tokenizer.hpp"
#include "util/strings.hpp"

namespace mcomp::test {
namespace {

bool is_decoder_linear(const std::string& name) {
    static const char* kLinears[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                     "gate_proj", "up_proj", "down_proj"};
    for (const char* linear : kLinears) {
        if (name.find(std::string(".") + linear + ".weight") != std::string::npos) {
            return true;
        }
    }
    return false;
}

// A scratch folder removed with the test.
struct ScratchDir {
    std::filesystem::path path;
    ScratchDir() {
        path =
            std::filesystem::temp_directory_path() /
            ("mcomp-rtn-ppl-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
        std::filesystem::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

TEST(RtnPerplexity, FourBitGroupsOf64MatchTheReferenceOnTinyStories) {
    const std::string model_dir = test_data_dir() + "/models/TinyStories-656K";
    std::string text;
    if (!std::filesystem::exists(model_dir + "/model.safetensors") ||
        !read_file(test_data_dir() + "/data/tinystories/ts_dev.txt", text)) {
        GTEST_SKIP() << "shared test material not found under " << test_data_dir()
                     << " (set MCOMP_TEST_DATA)";
    }
    auto source = Checkpoint::open(model_dir);
    ASSERT_TRUE(source.has_value()) << source.error().message;

    // Quantize every decoder linear through the real host; keep every other tensor.
    std::vector<std::vector<float>> storage;
    std::vector<TensorToWrite> tensors;
    for (const std::string& name : source->tensor_names()) {
        const TensorView* view = source->find(name);
        TensorToWrite tensor{name, view->dtype, view->shape, view->data, view->num_bytes};
        if (is_decoder_linear(name)) {
            ASSERT_EQ(view->dtype, DType::f32) << name;
            const auto* data = reinterpret_cast<const float*>(view->data);
            const LayerCase layer{view->shape[0], view->shape[1],
                                  std::vector<float>(data, data + view->numel())};
            auto result = run_technique(
                "rtn", DeviceRequest::cpu,
                {{"bits", int64_t{4}, ""}, {"group_size", int64_t{64}, ""}, {"sym", false, ""}},
                layer);
            ASSERT_TRUE(result.has_value()) << name << ": " << result.error().message;
            storage.push_back(std::move(result->weight));
            tensor.data = storage.back().data();
        }
        tensors.push_back(tensor);
    }
    ASSERT_EQ(storage.size(), 14u);  // 2 blocks x 7 linears

    const ScratchDir scratch;
    std::filesystem::copy_file(model_dir + "/config.json", scratch.path / "config.json");
    const Status written =
        write_safetensors((scratch.path / "model.safetensors").string(), tensors);
    ASSERT_TRUE(written.has_value()) << written.error().message;
    auto quantized = Checkpoint::open(scratch.path.string());
    ASSERT_TRUE(quantized.has_value()) << quantized.error().message;

    auto tokenizer = Tokenizer::load(model_dir);
    ASSERT_TRUE(tokenizer.has_value()) << tokenizer.error().message;
    const std::vector<std::int32_t> tokens = tokenizer->encode(text, true);
    CpuBackend backend;
    LlamaModel model(*quantized, backend);
    PerplexityOptions options;
    options.seq_len = 512;
    const auto result = perplexity(model, tokens, options);
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_EQ(result->windows, 118);
    std::printf("TinyStories-656K rtn w4 g64 asym, ts_dev seqlen 512: ppl %.6f\n", result->ppl);
    EXPECT_NEAR(result->ppl, 41.7336, 5e-4);
}

}  // namespace
}  // namespace mcomp::test
