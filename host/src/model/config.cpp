// config.cpp: see config.hpp. Defaults follow transformers' LlamaConfig, MistralConfig and
// Qwen2Config; a key present with the value null counts as absent, as it does there.
#include "model/config.hpp"

#include <nlohmann/json.hpp>

#include "model/json_errors.hpp"
#include "util/strings.hpp"

namespace mcomp {

namespace {

using nlohmann::json;

// Typed access to one JSON object, with messages that name the source and the key.
class ConfigReader {
  public:
    ConfigReader(const json& object, std::string source, std::string prefix = "")
        : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

    const json* find(const std::string& key) const {
        const auto it = object_.find(key);
        return it == object_.end() || it->is_null() ? nullptr : &*it;
    }

    Error bad(const std::string& key, const std::string& expected, const json& found) const {
        std::string text = found.dump();
        if (text.size() > 40) {
            text = text.substr(0, 37) + "...";
        }
        return make_error(ErrorKind::bad_input, source_ + ": key '" + prefix_ + key + "' must be " +
                                                    expected + ", found " + text);
    }

    Error missing(const std::string& key) const {
        return make_error(ErrorKind::bad_input,
                          source_ + ": required key '" + prefix_ + key + "' is missing");
    }

    // A positive integer; `fallback` when absent, or an error when there is none.
    Expected<std::int64_t> positive(const std::string& key,
                                    std::optional<std::int64_t> fallback = std::nullopt) const {
        const json* value = find(key);
        if (value == nullptr) {
            if (fallback) {
                return *fallback;
            }
            return missing(key);
        }
        if (!value->is_number_integer() || value->get<std::int64_t>() <= 0) {
            return bad(key, "a positive integer", *value);
        }
        return value->get<std::int64_t>();
    }

    Expected<double> positive_real(const std::string& key, std::optional<double> fallback) const {
        const json* value = find(key);
        if (value == nullptr) {
            if (fallback) {
                return *fallback;
            }
            return missing(key);
        }
        if (!value->is_number() || value->get<double>() <= 0.0) {
            return bad(key, "a positive number", *value);
        }
        return value->get<double>();
    }

    Expected<bool> boolean(const std::string& key, bool fallback) const {
        const json* value = find(key);
        if (value == nullptr) {
            return fallback;
        }
        if (!value->is_boolean()) {
            return bad(key, "true or false", *value);
        }
        return value->get<bool>();
    }

    Expected<std::string> text(const std::string& key, std::string fallback) const {
        const json* value = find(key);
        if (value == nullptr) {
            return fallback;
        }
        if (!value->is_string()) {
            return bad(key, "a string", *value);
        }
        return value->get<std::string>();
    }

    // Present, even as null.
    bool has(const std::string& key) const { return object_.contains(key); }

    const std::string& source() const { return source_; }

  private:
    const json& object_;
    std::string source_;
    std::string prefix_;
};

// Assigns an Expected's value or returns its error from the enclosing function.
#define MCOMP_ASSIGN(dst, expr)            \
    do {                                   \
        auto assign_result_ = (expr);      \
        if (!assign_result_) {             \
            return assign_result_.error(); \
        }                                  \
        dst = std::move(*assign_result_);  \
    } while (0)

Status parse_family(const ConfigReader& reader, ModelConfig& config) {
    const json* type = reader.find("model_type");
    if (type == nullptr) {
        return reader.missing("model_type");
    }
    if (!type->is_string()) {
        return reader.bad("model_type", "a string", *type);
    }
    config.model_type = type->get<std::string>();
    if (config.model_type == "llama") {
        config.family = ModelFamily::llama;
    } else if (config.model_type == "mistral") {
        config.family = ModelFamily::mistral;
    } else if (config.model_type == "qwen2") {
        config.family = ModelFamily::qwen2;
    } else {
        return make_error(ErrorKind::unsupported,
                          reader.source() + ": model_type '" + config.model_type +
                              "' is not supported (supported: llama, mistral, qwen2)");
    }
    return {};
}

Status parse_shapes(const ConfigReader& reader, ModelConfig& config) {
    MCOMP_ASSIGN(config.vocab_size, reader.positive("vocab_size"));
    MCOMP_ASSIGN(config.hidden_size, reader.positive("hidden_size"));
    MCOMP_ASSIGN(config.intermediate_size, reader.positive("intermediate_size"));
    MCOMP_ASSIGN(config.num_hidden_layers, reader.positive("num_hidden_layers"));
    MCOMP_ASSIGN(config.num_attention_heads, reader.positive("num_attention_heads"));
    MCOMP_ASSIGN(config.num_key_value_heads,
                 reader.positive("num_key_value_heads", config.num_attention_heads));
    const std::string& src = reader.source();
    if (reader.find("head_dim") == nullptr &&
        config.hidden_size % config.num_attention_heads != 0) {
        return make_error(ErrorKind::bad_input, src + ": hidden_size " +
                                                    std::to_string(config.hidden_size) +
                                                    " is not divisible by num_attention_heads " +
                                                    std::to_string(config.num_attention_heads) +
                                                    " and there is no head_dim");
    }
    MCOMP_ASSIGN(config.head_dim,
                 reader.positive("head_dim", config.hidden_size / config.num_attention_heads));
    if (config.num_attention_heads % config.num_key_value_heads != 0) {
        return make_error(ErrorKind::bad_input, src + ": num_attention_heads " +
                                                    std::to_string(config.num_attention_heads) +
                                                    " is not a multiple of num_key_value_heads " +
                                                    std::to_string(config.num_key_value_heads));
    }
    if (config.head_dim % 2 != 0) {
        return make_error(ErrorKind::bad_input,
                          src + ": head_dim " + std::to_string(config.head_dim) +
                              " is odd; rotary embeddings need an even head_dim");
    }
    return {};
}

Status parse_rope_scaling(const ConfigReader& reader, const json& value, ModelConfig& config) {
    const std::string& src = reader.source();
    if (!value.is_object()) {
        return reader.bad("rope_scaling", "an object or null", value);
    }
    const ConfigReader scaling(value, src, "rope_scaling.");
    std::string type;
    MCOMP_ASSIGN(type, scaling.text("rope_type", ""));
    if (type.empty()) {
        MCOMP_ASSIGN(type, scaling.text("type", "default"));
    }
    RopeScaling& rope = config.rope_scaling;
    if (type == "default") {
        rope.type = RopeScalingType::none;
        return {};
    }
    if (type != "linear" && type != "llama3") {
        return make_error(ErrorKind::unsupported, src + ": rope_scaling type '" + type +
                                                      "' is not supported (supported: "
                                                      "default, linear, llama3)");
    }
    MCOMP_ASSIGN(rope.factor, scaling.positive_real("factor", std::nullopt));
    rope.type = RopeScalingType::linear;
    if (type == "llama3") {
        rope.type = RopeScalingType::llama3;
        MCOMP_ASSIGN(rope.low_freq_factor, scaling.positive_real("low_freq_factor", std::nullopt));
        MCOMP_ASSIGN(rope.high_freq_factor,
                     scaling.positive_real("high_freq_factor", std::nullopt));
        MCOMP_ASSIGN(rope.original_max_position_embeddings,
                     scaling.positive("original_max_position_embeddings"));
        if (rope.high_freq_factor <= rope.low_freq_factor) {
            return make_error(ErrorKind::bad_input,
                              src +
                                  ": rope_scaling.high_freq_factor must be larger than "
                                  "rope_scaling.low_freq_factor");
        }
    }
    return {};
}

Status parse_rope(const ConfigReader& reader, ModelConfig& config) {
    MCOMP_ASSIGN(config.rope_theta, reader.positive_real("rope_theta", 10000.0));
    // transformers 5 moves theta and scaling into "rope_parameters".
    if (const json* parameters = reader.find("rope_parameters")) {
        if (!parameters->is_object()) {
            return reader.bad("rope_parameters", "an object", *parameters);
        }
        const ConfigReader nested(*parameters, reader.source(), "rope_parameters.");
        MCOMP_ASSIGN(config.rope_theta, nested.positive_real("rope_theta", config.rope_theta));
        return parse_rope_scaling(reader, *parameters, config);
    }
    if (const json* scaling = reader.find("rope_scaling")) {
        return parse_rope_scaling(reader, *scaling, config);
    }
    return {};
}

Status parse_biases_and_window(const ConfigReader& reader, ModelConfig& config) {
    bool attention_bias = false;
    MCOMP_ASSIGN(attention_bias, reader.boolean("attention_bias", false));
    MCOMP_ASSIGN(config.mlp_bias, reader.boolean("mlp_bias", false));
    config.qkv_bias = attention_bias;
    config.o_bias = attention_bias;
    if (config.family == ModelFamily::qwen2) {
        // Qwen2Attention builds q/k/v with bias=True and o_proj without, whatever the config.
        config.qkv_bias = true;
        config.o_bias = false;
        config.mlp_bias = false;
        bool use_window = false;
        MCOMP_ASSIGN(use_window, reader.boolean("use_sliding_window", false));
        if (use_window) {
            return make_error(ErrorKind::unsupported,
                              reader.source() +
                                  ": use_sliding_window true is not supported "
                                  "for qwen2 (per-layer windows)");
        }
    }
    if (config.family == ModelFamily::mistral) {
        config.mlp_bias = false;
        config.o_bias = false;
        config.qkv_bias = false;
        // MistralConfig defaults to a 4096-token window; an explicit null means none.
        config.sliding_window = 4096;
        if (reader.has("sliding_window")) {
            config.sliding_window = std::nullopt;
        }
        if (reader.find("sliding_window") != nullptr) {
            std::int64_t size = 0;
            MCOMP_ASSIGN(size, reader.positive("sliding_window"));
            config.sliding_window = size;
        }
    }
    return {};
}

Status parse_tokens(const ConfigReader& reader, ModelConfig& config) {
    if (const json* bos = reader.find("bos_token_id")) {
        if (!bos->is_number_integer()) {
            return reader.bad("bos_token_id", "an integer or null", *bos);
        }
        config.bos_token_id = bos->get<std::int64_t>();
    }
    if (const json* eos = reader.find("eos_token_id")) {
        const json list = eos->is_array() ? *eos : json::array({*eos});
        for (const json& id : list) {
            if (!id.is_number_integer()) {
                return reader.bad("eos_token_id", "an integer, a list of integers or null", *eos);
            }
            config.eos_token_ids.push_back(id.get<std::int64_t>());
        }
    }
    MCOMP_ASSIGN(config.torch_dtype, reader.text("torch_dtype", ""));
    if (config.torch_dtype.empty()) {
        MCOMP_ASSIGN(config.torch_dtype, reader.text("dtype", ""));  // transformers >= 4.56
    }
    if (const json* quant = reader.find("quantization_config")) {
        if (!quant->is_object()) {
            return reader.bad("quantization_config", "an object", *quant);
        }
        const ConfigReader nested(*quant, reader.source(), "quantization_config.");
        MCOMP_ASSIGN(config.quant_method, nested.text("quant_method", "unknown"));
    }
    return {};
}

std::int64_t default_max_positions(ModelFamily family) {
    switch (family) {
        case ModelFamily::llama:
            return 2048;
        case ModelFamily::mistral:
            return 4096 * 32;
        case ModelFamily::qwen2:
            return 32768;
    }
    return 2048;
}

}  // namespace

Expected<ModelConfig> parse_model_config(std::string_view json_text, const std::string& source) {
    json root;
    try {
        root = json::parse(json_text.begin(), json_text.end());
    } catch (const json::exception& e) {
        return make_error(ErrorKind::bad_input,
                          source + ": not valid JSON (" + json_error_detail(e) + ")");
    }
    if (!root.is_object()) {
        return make_error(ErrorKind::bad_input, source + ": not a JSON object");
    }
    const ConfigReader reader(root, source);
    ModelConfig config;
    MCOMP_TRY(parse_family(reader, config));
    MCOMP_TRY(parse_shapes(reader, config));
    std::string act;
    MCOMP_ASSIGN(act, reader.text("hidden_act", "silu"));
    if (act != "silu") {
        return make_error(
            ErrorKind::unsupported,
            source + ": hidden_act '" + act + "' is not supported (the Llama block uses silu)");
    }
    MCOMP_ASSIGN(config.rms_norm_eps, reader.positive_real("rms_norm_eps", 1e-6));
    MCOMP_TRY(parse_rope(reader, config));
    MCOMP_ASSIGN(config.tie_word_embeddings, reader.boolean("tie_word_embeddings", false));
    MCOMP_TRY(parse_biases_and_window(reader, config));
    MCOMP_ASSIGN(config.max_position_embeddings,
                 reader.positive("max_position_embeddings", default_max_positions(config.family)));
    MCOMP_TRY(parse_tokens(reader, config));
    return config;
}

Expected<ModelConfig> load_model_config(const std::string& path) {
    std::string text;
    if (!read_file(path, text)) {
        return make_error(ErrorKind::not_found,
                          path + ": cannot read; a Hugging Face model folder has a config.json");
    }
    return parse_model_config(text, path);
}

}  // namespace mcomp
