// synth.cpp: see synth.hpp.
#include "compress/synth.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>

#include "compress/fs_atomic.hpp"
#include "compress/output_writer.hpp"
#include "compress/safetensors_stream.hpp"
#include "model/config.hpp"
#include "model/llama_layout.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::int64_t kTokenizerSize = 259;  // <unk>, <s>, </s> and 256 bytes
constexpr std::size_t kChunk = 1 << 16;       // values per generator stream

// Shapes of published models (their config.json values).
const std::map<std::string, json>& presets() {
    static const std::map<std::string, json> table = {
        {"tiny-test",
         {{"hidden_size", 64},
          {"intermediate_size", 160},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"vocab_size", 512},
          {"max_position_embeddings", 512},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true}}},
        {"smollm-135m",
         {{"hidden_size", 576},
          {"intermediate_size", 1536},
          {"num_hidden_layers", 30},
          {"num_attention_heads", 9},
          {"num_key_value_heads", 3},
          {"vocab_size", 49152},
          {"max_position_embeddings", 2048},
          {"rms_norm_eps", 1e-5},
          {"tie_word_embeddings", true}}},
        {"tinyllama-1.1b",
         {{"hidden_size", 2048},
          {"intermediate_size", 5632},
          {"num_hidden_layers", 22},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 4},
          {"vocab_size", 32000},
          {"max_position_embeddings", 2048},
          {"rms_norm_eps", 1e-5}}},
        {"llama-2-7b",
         {{"hidden_size", 4096},
          {"intermediate_size", 11008},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 32},
          {"vocab_size", 32000},
          {"max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-5}}},
        {"llama-2-13b",
         {{"hidden_size", 5120},
          {"intermediate_size", 13824},
          {"num_hidden_layers", 40},
          {"num_attention_heads", 40},
          {"num_key_value_heads", 40},
          {"vocab_size", 32000},
          {"max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-5}}},
        {"mistral-7b",
         {{"model_type", "mistral"},
          {"architectures", {"MistralForCausalLM"}},
          {"hidden_size", 4096},
          {"intermediate_size", 14336},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 8},
          {"vocab_size", 32768},
          {"max_position_embeddings", 32768},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 1000000.0},
          {"sliding_window", nullptr}}},
        {"qwen2-0.5b",
         {{"model_type", "qwen2"},
          {"architectures", {"Qwen2ForCausalLM"}},
          {"hidden_size", 896},
          {"intermediate_size", 4864},
          {"num_hidden_layers", 24},
          {"num_attention_heads", 14},
          {"num_key_value_heads", 2},
          {"vocab_size", 151936},
          {"max_position_embeddings", 32768},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000.0},
          {"tie_word_embeddings", true}}},
    };
    return table;
}

// The keys every synthetic config carries, unless the given config sets them.
json with_defaults(json config, DType dtype) {
    const json defaults = {{"architectures", {"LlamaForCausalLM"}},
                           {"model_type", "llama"},
                           {"hidden_act", "silu"},
                           {"initializer_range", 0.02},
                           {"rope_theta", 10000.0},
                           {"rope_scaling", nullptr},
                           {"attention_bias", false},
                           {"mlp_bias", false},
                           {"tie_word_embeddings", false},
                           {"bos_token_id", 1},
                           {"eos_token_id", 2},
                           {"use_cache", true}};
    for (const auto& [key, value] : defaults.items()) {
        if (!config.contains(key)) {
            config[key] = value;
        }
    }
    config["torch_dtype"] = torch_dtype_name(dtype);
    return config;
}

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest are shifted
// past 255, so every byte has a visible character (UTF-8 encoded here).
std::string byte_char(int byte) {
    int code = byte;
    const bool printable =
        (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    if (!printable) {
        int shifted = 0;
        for (int b = 0; b < byte; ++b) {
            const bool p =
                (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            shifted += p ? 0 : 1;
        }
        code = 256 + shifted;
    }
    std::string utf8;
    if (code < 0x80) {
        utf8 += static_cast<char>(code);
    } else {
        utf8 += static_cast<char>(0xC0 | (code >> 6));
        utf8 += static_cast<char>(0x80 | (code & 0x3F));
    }
    return utf8;
}

// SplitMix64: a counter-based stream, so chunks can be drawn in any order.
std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t name_hash(const std::string& name) {
    std::uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (const char c : name) {
        hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    }
    return hash;
}

// normal(0, std) values [begin, begin + count) of tensor `name`, Box-Muller on 53-bit uniforms.
void fill_normal(const std::string& name, std::uint64_t seed, float stddev, std::size_t begin,
                 std::size_t count, float* dst) {
    for (std::size_t chunk = begin / kChunk; chunk * kChunk < begin + count; ++chunk) {
        std::uint64_t state = seed ^ name_hash(name) ^ (chunk * 0xd1b54a32d192ed03ull);
        const std::size_t first = chunk * kChunk;
        for (std::size_t i = first; i < first + kChunk; i += 2) {
            const double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) * 0x1.0p-53;
            const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
            const double radius = std::sqrt(-2.0 * std::log(u1)) * stddev;
            const double angle = 2.0 * M_PI * u2;
            for (std::size_t k = 0; k < 2; ++k) {
                const std::size_t index = i + k;
                if (index >= begin && index < begin + count) {
                    dst[index - begin] = static_cast<float>(k == 0 ? radius * std::cos(angle)
                                                                   : radius * std::sin(angle));
                }
            }
        }
    }
}

enum class Init { normal, ones, zeros };

Init init_of(const std::string& name) {
    const auto ends_with = [&](std::string_view suffix) {
        return name.size() >= suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("norm.weight")) {
        return Init::ones;
    }
    return ends_with(".bias") ? Init::zeros : Init::normal;
}

Expected<json> load_config(const SynthOptions& options) {
    std::error_code ec;
    if (fs::is_regular_file(options.config, ec)) {
        std::string text;
        read_file(options.config, text);
        try {
            return json::parse(text);
        } catch (const json::exception& e) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: not valid JSON ({})", options.config, e.what()));
        }
    }
    return synth_preset(options.config);
}

}  // namespace

std::vector<std::string> synth_preset_names() {
    std::vector<std::string> names;
    for (const auto& [name, config] : presets()) {
        names.push_back(name);
    }
    return names;
}

Expected<json> synth_preset(std::string_view name) {
    const auto it = presets().find(std::string(name));
    if (it == presets().end()) {
        std::string known;
        for (const std::string& preset : synth_preset_names()) {
            if (!known.empty()) {
                known += ", ";
            }
            known += preset;
        }
        return make_error(
            ErrorKind::bad_input,
            fmt::format("'{}' is neither a config.json file nor a preset; presets: {}", name,
                        known));
    }
    return it->second;
}

std::string synth_tokenizer_json() {
    json vocab = json::object();
    vocab["<unk>"] = 0;
    vocab["<s>"] = 1;
    vocab["</s>"] = 2;
    for (int byte = 0; byte < 256; ++byte) {
        vocab[byte_char(byte)] = byte + 3;
    }
    json added = json::array();
    const char* specials[] = {"<unk>", "<s>", "</s>"};
    for (int id = 0; id < 3; ++id) {
        added.push_back({{"id", id},
                         {"content", specials[id]},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", true}});
    }
    const json byte_level = {{"type", "ByteLevel"},
                             {"add_prefix_space", false},
                             {"trim_offsets", true},
                             {"use_regex", true}};
    const json bos = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
    const json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
    const json seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
    const json tokenizer = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer", byte_level},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", {bos, seq_a}},
          {"pair", {bos, seq_a, bos, seq_b}},
          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
        {"decoder", byte_level},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"vocab", vocab},
          {"merges", json::array()}}}};
    return tokenizer.dump(2) + "\n";
}

std::string synth_tokenizer_config_json(std::int64_t model_max_length) {
    const json config = {{"add_bos_token", true},
                         {"add_eos_token", false},
                         {"bos_token", "<s>"},
                         {"eos_token", "</s>"},
                         {"unk_token", "<unk>"},
                         {"model_max_length", model_max_length},
                         {"clean_up_tokenization_spaces", false},
                         {"tokenizer_class", "PreTrainedTokenizerFast"}};
    return config.dump(2) + "\n";
}

Expected<SynthResult> synthesize_model(const SynthOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    if (options.dtype != DType::f32 && options.dtype != DType::f16 &&
        options.dtype != DType::bf16) {
        return make_error(ErrorKind::bad_input, "synth: dtype must be f32, f16 or bf16");
    }
    Expected<json> loaded = load_config(options);
    if (!loaded) {
        return loaded.error();
    }
    const json config = with_defaults(*loaded, options.dtype);
    const std::string config_text = config.dump(2) + "\n";
    Expected<ModelConfig> parsed = parse_model_config(config_text, options.config);
    if (!parsed) {
        return parsed.error();
    }
    if (parsed->vocab_size < kTokenizerSize) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("{}: vocab_size {} is below the {} tokens of the synthetic "
                                      "tokenizer",
                                      options.config, parsed->vocab_size, kTokenizerSize));
    }
    std::error_code ec;
    if (fs::exists(options.out, ec) && !options.force) {
        return make_error(ErrorKind::bad_input, fmt::format("{}: exists; remove it or pass --force",
                                                            options.out.string()));
    }
    std::vector<StreamTensor> tensors;
    for (const ExpectedTensor& expected : expected_block_tensors(*parsed)) {
        tensors.push_back({expected.name, options.dtype, expected.shape});
    }
    const std::vector<std::int64_t> vocab_shape = {parsed->vocab_size, parsed->hidden_size};
    tensors.push_back({std::string(kEmbedTokensName), options.dtype, vocab_shape});
    if (!parsed->tie_word_embeddings) {
        tensors.push_back({std::string(kLmHeadName), options.dtype, vocab_shape});
    }
    Expected<StagingDir> staging = StagingDir::create(options.out);
    if (!staging) {
        return staging.error();
    }
    const auto stddev = static_cast<float>(config.value("initializer_range", 0.02));
    SynthResult result;
    const FillTensor fill = [&](std::size_t i, std::size_t offset,
                                std::span<std::byte> dst) -> Status {
        const StreamTensor& tensor = tensors[i];
        const std::size_t element = dtype_size(tensor.dtype);
        const std::size_t first = offset / element;
        const std::size_t count = dst.size() / element;
        std::vector<float> values(count);
        const Init init = init_of(tensor.name);
        if (init == Init::normal) {
            // Chunks of the generator in parallel; each value depends only on its index.
            const std::size_t begin_chunk = first / kChunk;
            const std::size_t end_chunk = (first + count + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
            for (std::size_t chunk = begin_chunk; chunk < end_chunk; ++chunk) {
                const std::size_t lo = std::max(first, chunk * kChunk);
                const std::size_t hi = std::min(first + count, (chunk + 1) * kChunk);
                fill_normal(tensor.name, options.seed, stddev, lo, hi - lo,
                            values.data() + (lo - first));
            }
        } else {
            std::fill(values.begin(), values.end(), init == Init::ones ? 1.0f : 0.0f);
        }
        convert_float_buffer(DType::f32, values.data(), count, tensor.dtype, dst.data());
        if (offset == 0) {
            result.params +=
                tensor.shape.empty() ? 1 : static_cast<std::int64_t>(tensor.num_bytes() / element);
            result.weight_bytes += static_cast<std::int64_t>(tensor.num_bytes());
        }
        return {};
    };
    const fs::path dir = staging->path();
    MCOMP_TRY(write_model_weights(
        dir, tensors, options.max_shard_bytes > 0 ? options.max_shard_bytes : kDefaultMaxShardBytes,
        fill));
    MCOMP_TRY(write_file_atomic(dir / "config.json", config_text));
    MCOMP_TRY(write_file_atomic(dir / "tokenizer.json", synth_tokenizer_json()));
    MCOMP_TRY(write_file_atomic(dir / "tokenizer_config.json",
                                synth_tokenizer_config_json(parsed->max_position_embeddings)));
    const json generation = {
        {"bos_token_id", 1}, {"eos_token_id", 2}, {"_from_model_config", true}};
    MCOMP_TRY(write_file_atomic(dir / "generation_config.json", generation.dump(2) + "\n"));
    MCOMP_TRY(staging->commit(options.force));
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace mcomp::compress
