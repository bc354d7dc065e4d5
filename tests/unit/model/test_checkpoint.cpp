// test_checkpoint.cpp: opening Hugging Face model folders — single file and sharded,
// tied embeddings, and every way a folder's weights can disagree with its config.json.
#include "model/checkpoint.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "model/llama_layout.hpp"
#include "tiny_checkpoint.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

using nlohmann::json;
using testing::TempDir;

TEST(Checkpoint, OpensTinyCheckpointWithAllTensors) {
    TempDir dir;
    const testing::TinyWeights weights =
        testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json());
    Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    EXPECT_EQ(checkpoint->config().num_hidden_layers, 2);
    const std::string name = linear_prefix(1, LinearId::down_proj) + ".weight";
    EXPECT_EQ(name, "model.layers.1.mlp.down_proj.weight");
    const TensorView* down = checkpoint->find(name);
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->shape, (std::vector<std::int64_t>{16, 24}));
    EXPECT_EQ(std::memcmp(down->data, weights.values.at(name).data(), down->num_bytes), 0);
    EXPECT_EQ(checkpoint->file_of(name), dir.file("model.safetensors"));
    EXPECT_NE(&checkpoint->embed_tokens(), &checkpoint->lm_head());
    EXPECT_EQ(checkpoint->tensor_names().size(), weights.values.size());
}

TEST(Checkpoint, TiedEmbeddingsUseWhicheverTensorIsStored) {
    for (const bool store_embed : {true, false}) {
        TempDir dir;
        json j = testing::tiny_config_json();
        j["tie_word_embeddings"] = true;
        testing::write_text(dir.file("config.json"), j.dump());
        const ModelConfig config = *parse_model_config(j.dump(), "config.json");
        const testing::TinyWeights weights =
            testing::make_tiny_weights(config, store_embed, !store_embed);
        testing::write_tiny_weights(dir.file("model.safetensors"), weights);
        Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
        ASSERT_TRUE(checkpoint) << checkpoint.error().message;
        EXPECT_EQ(&checkpoint->embed_tokens(), &checkpoint->lm_head());
        const std::string stored(store_embed ? kEmbedTokensName : kLmHeadName);
        EXPECT_EQ(checkpoint->embed_tokens().data, checkpoint->find(stored)->data);
    }
}

TEST(Checkpoint, OpensShardedCheckpoint) {
    TempDir dir;
    const json j = testing::tiny_config_json();
    testing::write_text(dir.file("config.json"), j.dump());
    const ModelConfig config = *parse_model_config(j.dump(), "config.json");
    const testing::TinyWeights all = testing::make_tiny_weights(config, true, true);
    testing::TinyWeights first;
    testing::TinyWeights second;
    json weight_map = json::object();
    for (const auto& [name, values] : all.values) {
        const bool in_first = name.find("layers.1.") == std::string::npos;
        testing::TinyWeights& part = in_first ? first : second;
        part.values[name] = values;
        part.shapes[name] = all.shapes.at(name);
        weight_map[name] =
            in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    testing::write_tiny_weights(dir.file("model-00001-of-00002.safetensors"), first);
    testing::write_tiny_weights(dir.file("model-00002-of-00002.safetensors"), second);
    testing::write_text(dir.file("model.safetensors.index.json"),
                        json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
    Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    const std::string name = "model.layers.1.self_attn.k_proj.weight";
    EXPECT_EQ(checkpoint->file_of(name), dir.file("model-00002-of-00002.safetensors"));
    EXPECT_EQ(std::memcmp(checkpoint->find(name)->data, all.values.at(name).data(),
                          checkpoint->find(name)->num_bytes),
              0);
}

TEST(Checkpoint, AcceptsHalfPrecisionWeights) {
    for (const DType dtype : {DType::bf16, DType::f16}) {
        TempDir dir;
        testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json(), dtype);
        Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
        ASSERT_TRUE(checkpoint) << checkpoint.error().message;
        EXPECT_EQ(checkpoint->lm_head().dtype, dtype);
    }
}

// Each case damages a valid tiny checkpoint; `message` may use {dir}.
struct BrokenCase {
    const char* what;
    std::function<void(const std::string& dir)> damage;
    std::string message;
};

std::string replace_dir(std::string text, const std::string& dir) {
    const std::string key = "{dir}";
    for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key)) {
        text.replace(at, key.size(), dir);
    }
    return text;
}

// Rewrites model.safetensors with one tensor changed by `edit` (or dropped when it
// returns false).
void rewrite_weights(const std::string& dir,
                     const std::function<bool(const std::string&, std::vector<std::int64_t>&,
                                              std::vector<float>&)>& edit,
                     DType dtype = DType::f32) {
    const json j = json::parse(std::ifstream(dir + "/config.json"));
    const ModelConfig config = *parse_model_config(j.dump(), "config.json");
    const testing::TinyWeights weights =
        testing::make_tiny_weights(config, true, !config.tie_word_embeddings);
    testing::TinyWeights edited;
    for (const auto& [name, values] : weights.values) {
        std::vector<std::int64_t> shape = weights.shapes.at(name);
        std::vector<float> data = values;
        if (edit(name, shape, data)) {
            edited.values[name] = data;
            edited.shapes[name] = shape;
        }
    }
    testing::write_tiny_weights(dir + "/model.safetensors", edited, dtype);
}

void write_config(const std::string& dir, const std::function<void(json&)>& edit) {
    json j = testing::tiny_config_json();
    edit(j);
    testing::write_text(dir + "/config.json", j.dump());
}

TEST(Checkpoint, RejectsBrokenFolders) {
    const std::string up = "model.layers.1.mlp.up_proj.weight";
    const BrokenCase cases[] = {
        {"no weights",
         [](const std::string& dir) { std::filesystem::remove(dir + "/model.safetensors"); },
         "{dir}: has neither model.safetensors nor model.safetensors.index.json; only "
         "safetensors weights are read (convert .bin files with transformers first)"},
        {"no config", [](const std::string& dir) { std::filesystem::remove(dir + "/config.json"); },
         "{dir}/config.json: cannot read; a Hugging Face model folder has a config.json"},
        {"malformed config",
         [](const std::string& dir) { testing::write_text(dir + "/config.json", "{\n  \"a\": }"); },
         "{dir}/config.json: not valid JSON (line 2, column 8: syntax error while parsing value "
         "- unexpected '}'; expected '[', '{', or a literal)"},
        {"missing tensor",
         [&](const std::string& dir) {
             rewrite_weights(dir,
                             [&](const std::string& name, auto&, auto&) { return name != up; });
         },
         "{dir}: tensor 'model.layers.1.mlp.up_proj.weight' is missing; the weights are "
         "incomplete or config.json belongs to another model"},
        {"config has more layers",
         [](const std::string& dir) {
             write_config(dir, [](json& j) { j["num_hidden_layers"] = 3; });
         },
         "{dir}: tensor 'model.layers.2.input_layernorm.weight' is missing; the weights are "
         "incomplete or config.json belongs to another model"},
        {"kv heads disagree",
         [](const std::string& dir) {
             write_config(dir, [](json& j) { j["num_key_value_heads"] = 4; });
         },
         "{dir}/model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight' has shape "
         "[8, 16] but config.json implies [16, 16] (num_key_value_heads*head_dim, hidden_size)"},
        {"intermediate disagrees",
         [](const std::string& dir) {
             write_config(dir, [](json& j) { j["intermediate_size"] = 32; });
         },
         "{dir}/model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight' has shape "
         "[24, 16] but config.json implies [32, 16] (intermediate_size, hidden_size)"},
        {"vocab disagrees",
         [](const std::string& dir) { write_config(dir, [](json& j) { j["vocab_size"] = 41; }); },
         "{dir}/model.safetensors: tensor 'model.embed_tokens.weight' has shape [40, 16] but "
         "config.json implies [41, 16] (vocab_size, hidden_size)"},
        {"norm shape",
         [](const std::string& dir) {
             rewrite_weights(dir, [](const std::string& name, auto& shape, auto& data) {
                 if (name == "model.norm.weight") {
                     shape = {2, 8};
                 }
                 (void)data;
                 return true;
             });
         },
         "{dir}/model.safetensors: tensor 'model.norm.weight' has shape [2, 8] but config.json "
         "implies [16] (hidden_size)"},
        {"missing bias",
         [](const std::string& dir) {
             write_config(dir, [](json& j) { j["model_type"] = "qwen2"; });
         },
         "{dir}: tensor 'model.layers.0.self_attn.q_proj.bias' is missing; the weights are "
         "incomplete or config.json belongs to another model"},
        {"untied without lm_head",
         [](const std::string& dir) {
             rewrite_weights(dir, [](const std::string& name, auto&, auto&) {
                 return name != "lm_head.weight";
             });
         },
         "{dir}: tensor 'lm_head.weight' is missing and {dir}/config.json has "
         "tie_word_embeddings false; the weights are incomplete"},
        {"quantized",
         [](const std::string& dir) {
             write_config(dir, [](json& j) {
                 j["quantization_config"] = {{"quant_method", "awq"}};
             });
         },
         "{dir}/config.json: quantization_config.quant_method 'awq': quantized checkpoints "
         "cannot be loaded as dense weights yet"},
    };
    for (const BrokenCase& c : cases) {
        TempDir dir;
        testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json());
        c.damage(dir.str());
        const Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
        ASSERT_FALSE(checkpoint) << c.what;
        EXPECT_EQ(checkpoint.error().message, replace_dir(c.message, dir.str())) << c.what;
    }
}

TEST(Checkpoint, RejectsIntegerWeights) {
    TempDir dir;
    testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json());
    const ModelConfig config = *load_model_config(dir.file("config.json"));
    testing::TinyWeights weights = testing::make_tiny_weights(config, true, true);
    std::vector<TensorToWrite> tensors;
    std::vector<std::int32_t> ints(16, 1);
    for (const auto& [name, values] : weights.values) {
        if (name == "model.norm.weight") {
            tensors.push_back({name, DType::i32, {16}, ints.data(), ints.size() * 4});
        } else {
            tensors.push_back(
                {name, DType::f32, weights.shapes.at(name), values.data(), values.size() * 4});
        }
    }
    ASSERT_TRUE(write_safetensors(dir.file("model.safetensors"), tensors));
    const Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
    ASSERT_FALSE(checkpoint);
    EXPECT_EQ(checkpoint.error().kind, ErrorKind::unsupported);
    EXPECT_EQ(checkpoint.error().message,
              dir.file("model.safetensors") +
                  ": tensor 'model.norm.weight' has dtype I32; dense weights must be F32, F16 "
                  "or BF16");
}

TEST(Checkpoint, RejectsBrokenShardIndexes) {
    struct Case {
        const char* what;
        json index;
        std::string message;
    };
    const std::string shard = "model-00001-of-00001.safetensors";
    const Case cases[] = {
        {"no weight_map", json{{"metadata", json::object()}},
         "{dir}/model.safetensors.index.json: 'weight_map' is missing or not an object"},
        {"escaping shard", json{{"weight_map", {{"model.norm.weight", "../x.safetensors"}}}},
         "{dir}/model.safetensors.index.json: weight_map entry 'model.norm.weight' names shard "
         "'../x.safetensors', which is not a file in the model folder"},
        {"missing shard", json{{"weight_map", {{"model.norm.weight", "gone.safetensors"}}}},
         "{dir}/gone.safetensors: cannot open: No such file or directory"},
        {"tensor not in shard", json{{"weight_map", {{"model.nope.weight", shard}}}},
         "{dir}/model.safetensors.index.json: weight_map puts 'model.nope.weight' in " + shard +
             ", which has no such tensor"},
    };
    for (const Case& c : cases) {
        TempDir dir;
        testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json());
        std::filesystem::rename(dir.file("model.safetensors"), dir.file(shard));
        testing::write_text(dir.file("model.safetensors.index.json"), c.index.dump());
        const Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
        ASSERT_FALSE(checkpoint) << c.what;
        EXPECT_EQ(checkpoint.error().message, replace_dir(c.message, dir.str())) << c.what;
    }
}

TEST(Checkpoint, RejectsAMalformedShardIndex) {
    TempDir dir;
    testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json());
    std::filesystem::remove(dir.file("model.safetensors"));
    testing::write_text(dir.file("model.safetensors.index.json"), "{\"weight_map\": {,}}");
    const Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
    ASSERT_FALSE(checkpoint);
    EXPECT_EQ(checkpoint.error().message,
              dir.file("model.safetensors.index.json") +
                  ": not valid JSON (line 1, column 17: syntax error while parsing object key - "
                  "unexpected ','; expected string literal)");
}

TEST(Checkpoint, RejectsATensorStoredInTwoShards) {
    TempDir dir;
    testing::write_tiny_checkpoint(dir.str(), testing::tiny_config_json());
    std::filesystem::copy_file(dir.file("model.safetensors"), dir.file("a.safetensors"));
    std::filesystem::rename(dir.file("model.safetensors"), dir.file("b.safetensors"));
    testing::write_text(
        dir.file("model.safetensors.index.json"),
        json{{"weight_map",
              {{"model.norm.weight", "a.safetensors"}, {"lm_head.weight", "b.safetensors"}}}}
            .dump());
    const Expected<Checkpoint> checkpoint = Checkpoint::open(dir.str());
    ASSERT_FALSE(checkpoint);
    EXPECT_EQ(checkpoint.error().message, "tensor 'lm_head.weight' is stored twice: in " +
                                              dir.file("b.safetensors") + " and in " +
                                              dir.file("a.safetensors"));
}

TEST(Checkpoint, OpensTinyStories) {
    const std::string dir = test_data_dir() + "/models/TinyStories-656K";
    if (!std::filesystem::exists(dir + "/model.safetensors")) {
        GTEST_SKIP() << "shared test model not found at " << dir << " (set MCOMP_TEST_DATA)";
    }
    Expected<Checkpoint> checkpoint = Checkpoint::open(dir);
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    // The file stores lm_head.weight only; the embedding is the same tensor.
    EXPECT_EQ(checkpoint->find("model.embed_tokens.weight"), nullptr);
    EXPECT_EQ(checkpoint->embed_tokens().data, checkpoint->find("lm_head.weight")->data);
    EXPECT_EQ(checkpoint->embed_tokens().shape, (std::vector<std::int64_t>{2048, 128}));
    EXPECT_EQ(checkpoint->tensor_names().size(), 20u);
}

}  // namespace
}  // namespace mcomp
