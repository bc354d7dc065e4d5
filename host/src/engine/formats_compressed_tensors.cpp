// formats_compressed_tensors.cpp: the compressed-tensors "pack-quantized" layout that
// llm-compressor writes and vLLM / transformers read (see formats.hpp).
//
// Reference: compressed-tensors compressors/quantized_compressors/pack_quantized.py
// (pack_to_int32, unpack_from_int32, PackedQuantizationCompressor.compress_module) and
// vLLM's CompressedTensorsWNA16 (weight_g_idx). Their quantized values are signed,
// q ∈ [−2^(bits−1), 2^(bits−1)), with w = scale · (q − zp); packing adds 2^(bits−1), so the
// stored fields are q + 2^(bits−1) = our code and zp + 2^(bits−1) = our zero point.
// pack_to_int32 puts 32/bits values in each int32 (10 for 3 bits, leaving 2 bits unused),
// low bits first, zero-padding the last word; weights along the input dim (packed_dim 1),
// zero points along the output dim (packed_dim 0). Symmetric layers store no zero point.
#include <string>
#include <utility>

#include "engine/formats.hpp"
#include "engine/formats_detail.hpp"

namespace mcomp {

using namespace formats_detail;

namespace {

constexpr const char* kCtTensors = "weight_packed, weight_scale, weight_shape";

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
    return (a + b - 1) / b;
}

}  // namespace

CompressedTensorsConfig compressed_tensors_config_for(const QuantizedLinear& layer) {
    CompressedTensorsConfig config;
    config.bits = layer.bits;
    config.group_size = layer.group_size;
    config.sym = layer.sym;
    config.desc_act = layer.desc_act;
    return config;
}

Expected<std::vector<PackedTensor>> pack_compressed_tensors(const QuantizedLinear& layer,
                                                            DType scale_dtype) {
    MCOMP_TRY(validate_quantized_linear(layer));
    if (scale_dtype != DType::f16 && scale_dtype != DType::bf16 && scale_dtype != DType::f32) {
        return make_error(ErrorKind::unsupported, layer_label(layer.name) +
                                                      ": compressed-tensors scales in " +
                                                      std::string(dtype_name(scale_dtype)) +
                                                      " are not supported (use F16, BF16 or F32)");
    }
    MCOMP_TRY(check_scales_fit(layer, scale_dtype));
    const std::int64_t out = layer.out_features;
    const std::int64_t in = layer.in_features;
    const std::int64_t groups = layer.num_groups();
    const int bits = layer.bits;
    const int per_word = 32 / bits;

    const std::int64_t words_per_row = ceil_div(in, per_word);
    std::vector<std::uint32_t> packed(static_cast<std::size_t>(out * words_per_row), 0u);
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t i = 0; i < in; ++i) {
            const std::uint32_t code = layer.codes[o * in + i];
            packed[o * words_per_row + i / per_word] |= code << (bits * (i % per_word));
        }
    }
    std::vector<PackedTensor> tensors;
    tensors.push_back(words_tensor("weight_packed", {out, words_per_row}, packed));
    tensors.push_back(scale_tensor("weight_scale", {out, groups}, layer.scales, scale_dtype));
    if (!layer.sym) {
        const std::int64_t zero_rows = ceil_div(out, per_word);
        std::vector<std::uint32_t> zeros(static_cast<std::size_t>(zero_rows * groups), 0u);
        for (std::int64_t o = 0; o < out; ++o) {
            for (std::int64_t g = 0; g < groups; ++g) {
                const auto zero = static_cast<std::uint32_t>(layer.zeros[o * groups + g]);
                zeros[(o / per_word) * groups + g] |= zero << (bits * (o % per_word));
            }
        }
        tensors.push_back(words_tensor("weight_zero_point", {zero_rows, groups}, zeros));
    }
    tensors.push_back(i64_tensor("weight_shape", {2}, {out, in}));
    if (layer.desc_act) {
        tensors.push_back(i32_tensor("weight_g_idx", {in}, layer.g_idx));
    }
    return tensors;
}

namespace {

// weight_shape [out, in], checked.
Expected<std::pair<std::int64_t, std::int64_t>> read_weight_shape(const LayerTensors& tensors,
                                                                  std::string_view module) {
    const Expected<const TensorView*> shape =
        require_tensor(tensors, module, "weight_shape", {DType::i64, DType::i32}, kCtTensors);
    MCOMP_TRY(shape);
    MCOMP_TRY(require_shape(**shape, module, "weight_shape", {2}, "[out_features, in_features]"));
    std::int64_t out = 0;
    std::int64_t in = 0;
    if ((*shape)->dtype == DType::i64) {
        const std::vector<std::int64_t> extents = read_i64(**shape);
        out = extents[0];
        in = extents[1];
    } else {
        const std::vector<std::int32_t> extents = read_i32(**shape);
        out = extents[0];
        in = extents[1];
    }
    if (out <= 0 || in <= 0) {
        return make_error(ErrorKind::bad_input, tensor_label(module, "weight_shape") + ": [" +
                                                    std::to_string(out) + ", " +
                                                    std::to_string(in) + "] is not a weight shape");
    }
    return std::make_pair(out, in);
}

// codes [out, in] from weight_packed [out, ceil(in / (32/bits))] (unpack_from_int32,
// packed_dim 1, without the signed offset).
std::vector<std::uint8_t> read_ct_codes(const TensorView& packed, std::int64_t out, std::int64_t in,
                                        int bits) {
    const int per_word = 32 / bits;
    const std::int64_t words_per_row = ceil_div(in, per_word);
    const std::uint32_t mask = (1u << bits) - 1u;
    const std::vector<std::uint32_t> words = read_words(packed);
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(out * in), 0);
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t i = 0; i < in; ++i) {
            const std::uint32_t word = words[o * words_per_row + i / per_word];
            codes[o * in + i] = static_cast<std::uint8_t>((word >> (bits * (i % per_word))) & mask);
        }
    }
    return codes;
}

// zeros [out, groups] from weight_zero_point [ceil(out / (32/bits)), groups] (packed_dim 0).
std::vector<float> read_ct_zeros(const TensorView& packed, std::int64_t out, std::int64_t groups,
                                 int bits) {
    const int per_word = 32 / bits;
    const std::uint32_t mask = (1u << bits) - 1u;
    const std::vector<std::uint32_t> words = read_words(packed);
    std::vector<float> zeros(static_cast<std::size_t>(out * groups), 0.0f);
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t g = 0; g < groups; ++g) {
            const std::uint32_t word = words[(o / per_word) * groups + g];
            zeros[o * groups + g] = static_cast<float>((word >> (bits * (o % per_word))) & mask);
        }
    }
    return zeros;
}

}  // namespace

Expected<QuantizedLinear> unpack_compressed_tensors(const LayerTensors& tensors,
                                                    const CompressedTensorsConfig& config,
                                                    std::string_view module) {
    MCOMP_TRY(check_bits(config.bits, {2, 3, 4, 8}, "compressed-tensors quantization_config"));
    const auto shape = read_weight_shape(tensors, module);
    MCOMP_TRY(shape);
    QuantizedLinear layer;
    layer.name = std::string(module);
    layer.out_features = shape->first;
    layer.in_features = shape->second;
    layer.bits = config.bits;
    layer.group_size = config.group_size;
    layer.sym = config.sym;
    layer.desc_act = config.desc_act;
    const std::int64_t out = layer.out_features;
    const std::int64_t in = layer.in_features;
    const std::int64_t groups = layer.num_groups();
    const int bits = layer.bits;
    const int per_word = 32 / bits;
    const std::string why = "from weight_shape [" + std::to_string(out) + ", " +
                            std::to_string(in) + "], num_bits " + std::to_string(bits) +
                            " and group_size " + std::to_string(config.group_size);

    const Expected<const TensorView*> packed =
        require_tensor(tensors, module, "weight_packed", {DType::i32}, kCtTensors);
    MCOMP_TRY(packed);
    const std::int64_t words_per_row = ceil_div(in, per_word);
    MCOMP_TRY(require_shape(**packed, module, "weight_packed", {out, words_per_row}, why));
    const Expected<const TensorView*> scales = require_tensor(
        tensors, module, "weight_scale", {DType::f16, DType::bf16, DType::f32}, kCtTensors);
    MCOMP_TRY(scales);
    MCOMP_TRY(require_shape(**scales, module, "weight_scale", {out, groups}, why));

    layer.codes = read_ct_codes(**packed, out, in, bits);
    layer.scales = read_floats(**scales);
    layer.zeros.assign(static_cast<std::size_t>(out * groups), static_cast<float>(1 << (bits - 1)));
    if (!config.sym) {
        const Expected<const TensorView*> zeros =
            require_tensor(tensors, module, "weight_zero_point", {DType::i32},
                           "weight_zero_point when asymmetric");
        MCOMP_TRY(zeros);
        MCOMP_TRY(require_shape(**zeros, module, "weight_zero_point",
                                {ceil_div(out, per_word), groups}, why));
        layer.zeros = read_ct_zeros(**zeros, out, groups, bits);
    }
    if (config.desc_act || tensors.find("weight_g_idx") != tensors.end()) {
        const Expected<const TensorView*> g_idx = require_tensor(
            tensors, module, "weight_g_idx", {DType::i32}, "weight_g_idx with actorder \"group\"");
        MCOMP_TRY(g_idx);
        MCOMP_TRY(require_shape(**g_idx, module, "weight_g_idx", {in}, why));
        layer.g_idx = read_i32(**g_idx);
    } else {
        layer.g_idx = sequential_g_idx(in, config.group_size);
    }
    MCOMP_TRY(validate_quantized_linear(layer));
    return layer;
}

Expected<std::vector<float>> dequantize_compressed_tensors(const LayerTensors& tensors,
                                                           const CompressedTensorsConfig& config,
                                                           std::string_view module) {
    const Expected<QuantizedLinear> layer = unpack_compressed_tensors(tensors, config, module);
    MCOMP_TRY(layer);
    return dequantize(*layer);
}

// ---- quantization_config ------------------------------------------------------------

nlohmann::json compressed_tensors_quantization_config(const CompressedTensorsConfig& config) {
    // A QuantizationConfig of compressed-tensors with one scheme, as llm-compressor saves a
    // W{bits}A16 model: strategy "group" or "channel" (group_size -1), actorder "group"
    // when g_idx is stored.
    const bool channel = config.group_size <= 0;
    nlohmann::json weights = {
        {"num_bits", config.bits},
        {"type", "int"},
        {"symmetric", config.sym},
        {"strategy", channel ? "channel" : "group"},
        {"group_size", channel ? nlohmann::json(nullptr) : nlohmann::json(config.group_size)},
        {"block_structure", nullptr},
        {"dynamic", false},
        {"actorder", config.desc_act ? nlohmann::json("group") : nlohmann::json(nullptr)},
        {"observer", "minmax"},
        {"observer_kwargs", nlohmann::json::object()},
    };
    nlohmann::json group = {
        {"targets", {"Linear"}},        {"weights", std::move(weights)},
        {"input_activations", nullptr}, {"output_activations", nullptr},
        {"format", "pack-quantized"},
    };
    return nlohmann::json{
        {"quant_method", "compressed-tensors"},
        {"format", "pack-quantized"},
        {"quantization_status", "compressed"},
        {"config_groups", {{"group_0", std::move(group)}}},
        {"ignore", config.ignore},
        {"kv_cache_scheme", nullptr},
        {"global_compression_ratio", nullptr},
        {"sparsity_config", nlohmann::json::object()},
    };
}

namespace {

// The one config group's "weights" object, or an error naming what is not supported.
Expected<const nlohmann::json*> single_weight_scheme(const nlohmann::json& json) {
    const auto groups = json.find("config_groups");
    if (groups == json.end() || !groups->is_object() || groups->empty()) {
        return make_error(ErrorKind::bad_input,
                          "quantization_config: key \"config_groups\" is missing or empty");
    }
    if (groups->size() != 1) {
        return make_error(ErrorKind::unsupported,
                          "quantization_config.config_groups: " + std::to_string(groups->size()) +
                              " groups; mcomp reads one scheme per checkpoint");
    }
    const std::string name = groups->begin().key();
    const nlohmann::json& group = groups->begin().value();
    const std::string where = "quantization_config.config_groups." + name;
    const auto inputs = group.find("input_activations");
    if (inputs != group.end() && !inputs->is_null()) {
        return make_error(ErrorKind::unsupported,
                          where +
                              ".input_activations: activation quantization is not supported "
                              "(mcomp reads weight-only schemes)");
    }
    const auto weights = group.find("weights");
    if (weights == group.end() || !weights->is_object()) {
        return make_error(ErrorKind::bad_input, where + ": key \"weights\" is missing");
    }
    return &*weights;
}

// actorder: null / false / "weight" keep sequential groups; "group" / true store g_idx.
Expected<bool> parse_actorder(const nlohmann::json& weights, const std::string& where) {
    const auto actorder = weights.find("actorder");
    if (actorder == weights.end() || actorder->is_null()) {
        return false;
    }
    if (actorder->is_boolean()) {
        return actorder->get<bool>();
    }
    if (actorder->is_string() && (*actorder == "group" || *actorder == "weight")) {
        return *actorder == "group";
    }
    return make_error(ErrorKind::bad_input, where +
                                                ".actorder: expected null, \"group\" or "
                                                "\"weight\", found " +
                                                actorder->dump());
}

// strategy "group" with its group_size, or "channel" (-1).
Expected<int> parse_group_size(const nlohmann::json& weights, const std::string& where) {
    const Expected<std::string> strategy = json_string(weights, {"strategy"}, where);
    MCOMP_TRY(strategy);
    if (*strategy == "channel") {
        return -1;
    }
    if (*strategy != "group") {
        return make_error(ErrorKind::unsupported, where + ".strategy: \"" + *strategy +
                                                      "\" is not supported (mcomp reads \"group\" "
                                                      "and \"channel\")");
    }
    const Expected<std::int64_t> group_size = json_int(weights, {"group_size"}, where);
    MCOMP_TRY(group_size);
    if (*group_size <= 0 || *group_size > INT32_MAX) {
        return make_error(
            ErrorKind::bad_input,
            where + ".group_size: " + std::to_string(*group_size) + " must be positive");
    }
    return static_cast<int>(*group_size);
}

}  // namespace

Expected<CompressedTensorsConfig> parse_compressed_tensors_quantization_config(
    const nlohmann::json& json) {
    const std::string_view top = "quantization_config";
    const Expected<std::string> method = json_string(json, {"quant_method"}, top);
    MCOMP_TRY(method);
    if (*method != "compressed-tensors") {
        return make_error(ErrorKind::bad_input,
                          "quantization_config.quant_method: expected "
                          "\"compressed-tensors\", found \"" +
                              *method + "\"");
    }
    const Expected<std::string> format = json_string(json, {"format"}, top);
    MCOMP_TRY(format);
    if (*format != "pack-quantized") {
        return make_error(ErrorKind::unsupported, "quantization_config.format: \"" + *format +
                                                      "\" is not supported (mcomp reads "
                                                      "\"pack-quantized\")");
    }
    const Expected<const nlohmann::json*> scheme = single_weight_scheme(json);
    MCOMP_TRY(scheme);
    const nlohmann::json& weights = **scheme;
    const std::string where =
        "quantization_config.config_groups." + json["config_groups"].begin().key() + ".weights";
    CompressedTensorsConfig config;
    const Expected<std::string> type = json_string(weights, {"type"}, where, "int");
    MCOMP_TRY(type);
    if (*type != "int") {
        return make_error(ErrorKind::unsupported, where + ".type: \"" + *type +
                                                      "\" is not supported (mcomp reads \"int\")");
    }
    const Expected<std::int64_t> bits = json_int(weights, {"num_bits"}, where);
    MCOMP_TRY(bits);
    MCOMP_TRY(check_bits(*bits, {2, 3, 4, 8}, where));
    config.bits = static_cast<int>(*bits);
    const bool yes = true;
    const Expected<bool> sym = json_bool(weights, {"symmetric"}, where, &yes);
    MCOMP_TRY(sym);
    config.sym = *sym;
    const Expected<int> group_size = parse_group_size(weights, where);
    MCOMP_TRY(group_size);
    config.group_size = *group_size;
    const Expected<bool> desc_act = parse_actorder(weights, where);
    MCOMP_TRY(desc_act);
    config.desc_act = *desc_act;
    config.ignore.clear();
    if (const auto ignore = json.find("ignore"); ignore != json.end() && ignore->is_array()) {
        for (const nlohmann::json& name : *ignore) {
            if (name.is_string()) {
                config.ignore.push_back(name.get<std::string>());
            }
        }
    }
    return config;
}

}  // namespace mcomp
