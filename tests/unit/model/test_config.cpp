// test_config.cpp: config.json parsing — values, transformers' defaults per model_type,
// and the messages for configs that cannot be used.
#include "model/config.hpp"

#include <gtest/gtest.h>

#include "tiny_checkpoint.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

using nlohmann::json;

Expected<ModelConfig> parse(const json& j) {
    return parse_model_config(j.dump(), "config.json");
}

TEST(ModelConfig, TinyStoriesConfig) {
    const std::string path = test_data_dir() + "/models/TinyStories-656K/config.json";
    std::string text;
    if (!read_file(path, text)) {
        GTEST_SKIP() << "shared test model not found at " << path << " (set MCOMP_TEST_DATA)";
    }
    const Expected<ModelConfig> config = load_model_config(path);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->family, ModelFamily::llama);
    EXPECT_EQ(config->vocab_size, 2048);
    EXPECT_EQ(config->hidden_size, 128);
    EXPECT_EQ(config->intermediate_size, 384);
    EXPECT_EQ(config->num_hidden_layers, 2);
    EXPECT_EQ(config->num_attention_heads, 8);
    EXPECT_EQ(config->num_key_value_heads, 4);
    EXPECT_EQ(config->head_dim, 16);
    EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-6);
    EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
    EXPECT_EQ(config->rope_scaling.type, RopeScalingType::none);
    EXPECT_TRUE(config->tie_word_embeddings);
    EXPECT_FALSE(config->qkv_bias);
    EXPECT_FALSE(config->o_bias);
    EXPECT_FALSE(config->mlp_bias);
    EXPECT_EQ(config->max_position_embeddings, 512);
    EXPECT_EQ(config->bos_token_id, 1);
    EXPECT_EQ(config->eos_token_ids, std::vector<std::int64_t>{2});
    EXPECT_EQ(config->torch_dtype, "float32");
    EXPECT_EQ(config->quant_method, "");
}

TEST(ModelConfig, DefaultsWhenKeysAreAbsentOrNull) {
    json j = {
        {"model_type", "llama"},          {"vocab_size", 10},       {"hidden_size", 64},
        {"intermediate_size", 96},        {"num_hidden_layers", 1}, {"num_attention_heads", 4},
        {"num_key_value_heads", nullptr}, {"head_dim", nullptr}};
    const Expected<ModelConfig> config = parse(j);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->num_key_value_heads, 4);
    EXPECT_EQ(config->head_dim, 16);
    EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-6);
    EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
    EXPECT_FALSE(config->tie_word_embeddings);
    EXPECT_EQ(config->max_position_embeddings, 2048);
    EXPECT_FALSE(config->bos_token_id.has_value());
    EXPECT_TRUE(config->eos_token_ids.empty());
    EXPECT_FALSE(config->sliding_window.has_value());
}

TEST(ModelConfig, ExplicitHeadDimAndLlama3RopeScaling) {
    json j = testing::tiny_config_json();
    j["head_dim"] = 8;  // 4 heads * 8 != hidden 16: allowed, as in Gemma-like configs
    j["eos_token_id"] = {128001, 128008, 128009};
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 8192}};
    const Expected<ModelConfig> config = parse(j);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->head_dim, 8);
    EXPECT_EQ(config->q_size(), 32);
    EXPECT_EQ(config->kv_size(), 16);
    EXPECT_EQ(config->eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
    EXPECT_EQ(config->rope_scaling.type, RopeScalingType::llama3);
    EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 8.0);
    EXPECT_EQ(config->rope_scaling.original_max_position_embeddings, 8192);

    j["rope_scaling"] = {{"type", "linear"}, {"factor", 2}};
    const Expected<ModelConfig> linear = parse(j);
    ASSERT_TRUE(linear) << linear.error().message;
    EXPECT_EQ(linear->rope_scaling.type, RopeScalingType::linear);
    EXPECT_DOUBLE_EQ(linear->rope_scaling.factor, 2.0);
}

TEST(ModelConfig, RopeParametersOfTransformers5) {
    json j = testing::tiny_config_json();
    j.erase("rope_theta");
    j.erase("rope_scaling");
    j["rope_parameters"] = {{"rope_type", "llama3"},   {"rope_theta", 500000.0},
                            {"factor", 32.0},          {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
    const Expected<ModelConfig> config = parse(j);
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_DOUBLE_EQ(config->rope_theta, 500000.0);
    EXPECT_EQ(config->rope_scaling.type, RopeScalingType::llama3);
    EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 32.0);
    j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
    const Expected<ModelConfig> plain = parse(j);
    ASSERT_TRUE(plain) << plain.error().message;
    EXPECT_DOUBLE_EQ(plain->rope_theta, 1000000.0);
    EXPECT_EQ(plain->rope_scaling.type, RopeScalingType::none);
}

TEST(ModelConfig, FamilyRules) {
    json j = testing::tiny_config_json();
    j["model_type"] = "qwen2";
    j["attention_bias"] = false;  // ignored: Qwen2 always has q/k/v bias
    Expected<ModelConfig> qwen = parse(j);
    ASSERT_TRUE(qwen) << qwen.error().message;
    EXPECT_EQ(qwen->family, ModelFamily::qwen2);
    EXPECT_TRUE(qwen->qkv_bias);
    EXPECT_FALSE(qwen->o_bias);

    j = testing::tiny_config_json();
    j["attention_bias"] = true;
    j["mlp_bias"] = true;
    Expected<ModelConfig> llama = parse(j);
    ASSERT_TRUE(llama) << llama.error().message;
    EXPECT_TRUE(llama->qkv_bias);
    EXPECT_TRUE(llama->o_bias);
    EXPECT_TRUE(llama->mlp_bias);

    j = testing::tiny_config_json();
    j["model_type"] = "mistral";
    Expected<ModelConfig> mistral = parse(j);
    ASSERT_TRUE(mistral) << mistral.error().message;
    EXPECT_EQ(mistral->sliding_window, 4096);
    j["sliding_window"] = nullptr;
    mistral = parse(j);
    ASSERT_TRUE(mistral) << mistral.error().message;
    EXPECT_FALSE(mistral->sliding_window.has_value());
    j["sliding_window"] = 32;
    mistral = parse(j);
    ASSERT_TRUE(mistral) << mistral.error().message;
    EXPECT_EQ(mistral->sliding_window, 32);

    j = testing::tiny_config_json();
    j["dtype"] = "bfloat16";
    j.erase("torch_dtype");
    j["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}};
    const Expected<ModelConfig> quantized = parse(j);
    ASSERT_TRUE(quantized) << quantized.error().message;
    EXPECT_EQ(quantized->torch_dtype, "bfloat16");
    EXPECT_EQ(quantized->quant_method, "gptq");
}

TEST(ModelConfig, RejectsBadConfigs) {
    struct Case {
        const char* what;
        std::string text;
        std::string message;  // after "config.json: "
    };
    const auto edited = [](const char* key, json value) {
        json j = testing::tiny_config_json();
        if (value.is_discarded()) {
            j.erase(key);
        } else {
            j[key] = std::move(value);
        }
        return j.dump();
    };
    const json gone(json::value_t::discarded);
    const Case cases[] = {
        {"malformed", R"({"model_type": "llama",})",
         "not valid JSON (line 1, column 24: syntax error while parsing object key - "
         "unexpected '}'; expected string literal)"},
        {"not an object", "[]", "not a JSON object"},
        {"no model_type", edited("model_type", gone), "required key 'model_type' is missing"},
        {"unsupported family", edited("model_type", "gpt2"),
         "model_type 'gpt2' is not supported (supported: llama, mistral, qwen2)"},
        {"missing size", edited("hidden_size", gone), "required key 'hidden_size' is missing"},
        {"string size", edited("hidden_size", "16"),
         "key 'hidden_size' must be a positive integer, found \"16\""},
        {"zero layers", edited("num_hidden_layers", 0),
         "key 'num_hidden_layers' must be a positive integer, found 0"},
        {"float heads", edited("num_attention_heads", 4.5),
         "key 'num_attention_heads' must be a positive integer, found 4.5"},
        {"indivisible hidden", edited("num_attention_heads", 3),
         "hidden_size 16 is not divisible by num_attention_heads 3 and there is no head_dim"},
        {"bad gqa", edited("num_key_value_heads", 3),
         "num_attention_heads 4 is not a multiple of num_key_value_heads 3"},
        {"odd head_dim", edited("head_dim", 5),
         "head_dim 5 is odd; rotary embeddings need an even head_dim"},
        {"negative eps", edited("rms_norm_eps", -1.0),
         "key 'rms_norm_eps' must be a positive number, found -1.0"},
        {"bool as string", edited("tie_word_embeddings", "true"),
         "key 'tie_word_embeddings' must be true or false, found \"true\""},
        {"activation", edited("hidden_act", "gelu"),
         "hidden_act 'gelu' is not supported (the Llama block uses silu)"},
        {"rope type", edited("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}),
         "rope_scaling type 'yarn' is not supported (supported: default, linear, llama3)"},
        {"rope factor", edited("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}),
         "required key 'rope_scaling.low_freq_factor' is missing"},
        {"rope not object", edited("rope_scaling", 3),
         "key 'rope_scaling' must be an object or null, found 3"},
        {"eos", edited("eos_token_id", "2"),
         "key 'eos_token_id' must be an integer, a list of integers or null, found \"2\""},
    };
    for (const Case& c : cases) {
        const Expected<ModelConfig> config = parse_model_config(c.text, "config.json");
        ASSERT_FALSE(config) << c.what;
        EXPECT_EQ(config.error().message, "config.json: " + c.message) << c.what;
    }
}

TEST(ModelConfig, MissingFile) {
    const Expected<ModelConfig> config = load_model_config("/nonexistent/config.json");
    ASSERT_FALSE(config);
    EXPECT_EQ(config.error().kind, ErrorKind::not_found);
    EXPECT_EQ(config.error().message,
              "/nonexistent/config.json: cannot read; a Hugging Face model folder has a "
              "config.json");
}

}  // namespace
}  // namespace mcomp
