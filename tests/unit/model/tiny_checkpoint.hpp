// tiny_checkpoint.hpp: builds small Llama-family checkpoints (config.json +
// model.safetensors) in a temporary folder for the model and runtime tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/dtype.hpp"
#include "model/llama_layout.hpp"
#include "model/safetensors.hpp"

namespace mcomp::testing {

// A fresh folder under the system temp dir, removed with its contents at scope exit.
class TempDir {
  public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = "mcomp-test-" + std::to_string(::getpid()) + "-";
        if (info != nullptr) {
            name += std::string(info->test_suite_name()) + "-" + info->name();
        }
        for (char& c : name) {
            if (c == '/') {
                c = '_';
            }
        }
        path_ = std::filesystem::temp_directory_path() / name;
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string str() const { return path_.string(); }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

// The config.json of a small GQA Llama; tests edit the JSON before writing it.
inline nlohmann::json tiny_config_json() {
    return nlohmann::json{{"architectures", {"LlamaForCausalLM"}},
                          {"model_type", "llama"},
                          {"vocab_size", 40},
                          {"hidden_size", 16},
                          {"intermediate_size", 24},
                          {"num_hidden_layers", 2},
                          {"num_attention_heads", 4},
                          {"num_key_value_heads", 2},
                          {"rms_norm_eps", 1e-5},
                          {"rope_theta", 10000.0},
                          {"rope_scaling", nullptr},
                          {"tie_word_embeddings", false},
                          {"max_position_embeddings", 64},
                          {"bos_token_id", 1},
                          {"eos_token_id", 2},
                          {"torch_dtype", "float32"}};
}

// fp32 values of every tensor a config implies, seeded, in HF's initialiser range.
struct TinyWeights {
    std::map<std::string, std::vector<std::int64_t>> shapes;
    std::map<std::string, std::vector<float>> values;
};

inline TinyWeights make_tiny_weights(const ModelConfig& config, bool with_embed, bool with_head,
                                     std::uint32_t seed = 7) {
    TinyWeights weights;
    std::vector<ExpectedTensor> tensors = expected_block_tensors(config);
    const std::vector<std::int64_t> vocab = {config.vocab_size, config.hidden_size};
    if (with_embed) {
        tensors.push_back({std::string(kEmbedTokensName), vocab, ""});
    }
    if (with_head) {
        tensors.push_back({std::string(kLmHeadName), vocab, ""});
    }
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.2f);
    for (const ExpectedTensor& tensor : tensors) {
        std::int64_t count = 1;
        for (const std::int64_t extent : tensor.shape) {
            count *= extent;
        }
        std::vector<float> values(static_cast<std::size_t>(count));
        const bool is_norm = tensor.name.find("norm") != std::string::npos;
        for (float& value : values) {
            value = is_norm ? 1.0f + 0.5f * normal(rng) : normal(rng);
        }
        weights.shapes[tensor.name] = tensor.shape;
        weights.values[tensor.name] = std::move(values);
    }
    return weights;
}

// Writes the weights as `dtype` (F32, F16 or BF16) into `path`.
inline void write_tiny_weights(const std::string& path, const TinyWeights& weights,
                               DType dtype = DType::f32) {
    std::vector<std::vector<std::uint16_t>> halves;
    halves.reserve(weights.values.size());
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, values] : weights.values) {
        TensorToWrite tensor;
        tensor.name = name;
        tensor.dtype = dtype;
        tensor.shape = weights.shapes.at(name);
        if (dtype == DType::f32) {
            tensor.data = values.data();
            tensor.num_bytes = values.size() * sizeof(float);
        } else {
            std::vector<std::uint16_t> half(values.size());
            for (std::size_t i = 0; i < values.size(); ++i) {
                half[i] = dtype == DType::bf16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
            }
            halves.push_back(std::move(half));
            tensor.data = halves.back().data();
            tensor.num_bytes = halves.back().size() * sizeof(std::uint16_t);
        }
        tensors.push_back(std::move(tensor));
    }
    const Status status = write_safetensors(path, tensors, {{"format", "pt"}});
    ASSERT_TRUE(status) << status.error().message;
}

// A complete checkpoint folder: config.json from `config_json`, model.safetensors with
// seeded weights (lm_head included unless tied). Returns the weights written.
inline TinyWeights write_tiny_checkpoint(const std::string& dir, const nlohmann::json& config_json,
                                         DType dtype = DType::f32, std::uint32_t seed = 7) {
    write_text(dir + "/config.json", config_json.dump(2));
    const Expected<ModelConfig> config = parse_model_config(config_json.dump(), "config.json");
    EXPECT_TRUE(config) << config.error().message;
    TinyWeights weights = make_tiny_weights(*config, true, !config->tie_word_embeddings, seed);
    write_tiny_weights(dir + "/model.safetensors", weights, dtype);
    return weights;
}

}  // namespace mcomp::testing
