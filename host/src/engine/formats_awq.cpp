// formats_awq.cpp: the AWQ GEMM checkpoint layout of AutoAWQ (see formats.hpp).
//
// Reference: AutoAWQ awq/modules/linear/gemm.py WQLinear_GEMM.from_linear(). Codes are
// packed along the output dim, eight 4-bit values per int32; the value in nibble k of word
// c is output column 8c + order[k] with order = 0,2,4,6,1,3,5,7 (the layout the GEMM
// kernel's interleaved dequantization expects). qzeros use the same order; zero points
// are stored as they are (no −1). Scales are [groups, out]: the transpose of the
// quantizer's [out, groups].
#include <string>

#include "engine/formats.hpp"
#include "engine/formats_detail.hpp"

namespace mcomp {

using namespace formats_detail;

namespace {

constexpr const char* kAwqTensors = "qweight, qzeros and scales";
constexpr int kPack = 8;  // 4-bit values per int32
constexpr int kOrder[kPack] = {0, 2, 4, 6, 1, 3, 5, 7};

// The nibble holding output column 8c + m: the inverse of kOrder.
constexpr int nibble_of(int m) {
    return m / 2 + 4 * (m % 2);
}

Status check_awq_packable(const QuantizedLinear& layer) {
    const std::string label = layer_label(layer.name);
    if (layer.bits != 4) {
        return make_error(ErrorKind::unsupported,
                          label + ": AWQ GEMM packs 4-bit codes only, this layer has " +
                              std::to_string(layer.bits) +
                              " bits (write it as GPTQ or "
                              "compressed-tensors)");
    }
    if (layer.out_features % kPack != 0) {
        return make_error(ErrorKind::unsupported,
                          label + ": AWQ GEMM needs out_features a multiple of 8, found " +
                              std::to_string(layer.out_features));
    }
    if (layer.group_size > 0 && layer.in_features % layer.group_size != 0) {
        return make_error(ErrorKind::unsupported, label + ": AWQ GEMM needs in_features (" +
                                                      std::to_string(layer.in_features) +
                                                      ") to be a multiple of group_size (" +
                                                      std::to_string(layer.group_size) + ")");
    }
    if (layer.desc_act) {
        return make_error(ErrorKind::unsupported,
                          label +
                              ": AWQ GEMM has no g_idx, so it cannot hold an act-order "
                              "(desc_act) layer; write it as GPTQ or compressed-tensors");
    }
    return {};
}

// Packs values[row, col] (row-major, `cols` wide) along the columns, AWQ's order.
std::vector<std::uint32_t> pack_rows(const std::vector<std::uint32_t>& values, std::int64_t rows,
                                     std::int64_t cols) {
    std::vector<std::uint32_t> words(static_cast<std::size_t>(rows * cols / kPack), 0u);
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t col = 0; col < cols; ++col) {
            const int shift = 4 * nibble_of(static_cast<int>(col % kPack));
            words[r * (cols / kPack) + col / kPack] |= values[r * cols + col] << shift;
        }
    }
    return words;
}

std::vector<std::uint32_t> unpack_rows(const std::vector<std::uint32_t>& words, std::int64_t rows,
                                       std::int64_t cols) {
    std::vector<std::uint32_t> values(static_cast<std::size_t>(rows * cols), 0u);
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols / kPack; ++c) {
            const std::uint32_t word = words[r * (cols / kPack) + c];
            for (int k = 0; k < kPack; ++k) {
                values[r * cols + c * kPack + kOrder[k]] = (word >> (4 * k)) & 0xfu;
            }
        }
    }
    return values;
}

}  // namespace

AwqConfig awq_config_for(const QuantizedLinear& layer) {
    AwqConfig config;
    config.bits = layer.bits;
    config.group_size = layer.group_size;
    return config;
}

Expected<std::vector<PackedTensor>> pack_awq(const QuantizedLinear& layer) {
    MCOMP_TRY(validate_quantized_linear(layer));
    MCOMP_TRY(check_awq_packable(layer));
    MCOMP_TRY(check_scales_fit(layer, DType::f16));
    const std::int64_t out = layer.out_features;
    const std::int64_t in = layer.in_features;
    const std::int64_t groups = layer.num_groups();

    // Both qweight and qzeros are [rows, out/8]: transpose to [in, out] / [groups, out] first.
    std::vector<std::uint32_t> codes_t(static_cast<std::size_t>(in * out), 0u);
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t i = 0; i < in; ++i) {
            codes_t[i * out + o] = layer.codes[o * in + i];
        }
    }
    std::vector<std::uint32_t> zeros_t(static_cast<std::size_t>(groups * out), 0u);
    std::vector<float> scales_t(static_cast<std::size_t>(groups * out), 0.0f);
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t g = 0; g < groups; ++g) {
            zeros_t[g * out + o] = static_cast<std::uint32_t>(layer.zeros[o * groups + g]);
            scales_t[g * out + o] = layer.scales[o * groups + g];
        }
    }
    std::vector<PackedTensor> tensors;
    tensors.push_back(words_tensor("qweight", {in, out / kPack}, pack_rows(codes_t, in, out)));
    tensors.push_back(
        words_tensor("qzeros", {groups, out / kPack}, pack_rows(zeros_t, groups, out)));
    tensors.push_back(scale_tensor("scales", {groups, out}, scales_t, DType::f16));
    return tensors;
}

Expected<QuantizedLinear> unpack_awq(const LayerTensors& tensors, const AwqConfig& config,
                                     std::string_view module) {
    MCOMP_TRY(check_bits(config.bits, {4}, "AWQ GEMM quantization_config"));
    const Expected<const TensorView*> qweight =
        require_tensor(tensors, module, "qweight", {DType::i32}, kAwqTensors);
    MCOMP_TRY(qweight);
    MCOMP_TRY(require_matrix(**qweight, module, "qweight"));
    const std::int64_t in = (*qweight)->shape[0];
    const std::int64_t out = (*qweight)->shape[1] * kPack;
    const std::int64_t group_size = config.group_size > 0 ? config.group_size : in;
    if (in % group_size != 0) {
        return make_error(ErrorKind::bad_input,
                          tensor_label(module, "qweight") + ": in_features " + std::to_string(in) +
                              " is not a multiple of group_size " + std::to_string(group_size));
    }
    const std::int64_t groups = in / group_size;
    const std::string why = "from qweight [" + std::to_string(in) + ", " +
                            std::to_string(out / kPack) + "] and group_size " +
                            std::to_string(config.group_size);
    const Expected<const TensorView*> qzeros =
        require_tensor(tensors, module, "qzeros", {DType::i32}, kAwqTensors);
    MCOMP_TRY(qzeros);
    MCOMP_TRY(require_shape(**qzeros, module, "qzeros", {groups, out / kPack}, why));
    const Expected<const TensorView*> scales = require_tensor(
        tensors, module, "scales", {DType::f16, DType::bf16, DType::f32}, kAwqTensors);
    MCOMP_TRY(scales);
    MCOMP_TRY(require_shape(**scales, module, "scales", {groups, out}, why));

    QuantizedLinear layer;
    layer.name = std::string(module);
    layer.out_features = out;
    layer.in_features = in;
    layer.bits = 4;
    layer.group_size = config.group_size;
    const std::vector<std::uint32_t> codes_t = unpack_rows(read_words(**qweight), in, out);
    const std::vector<std::uint32_t> zeros_t = unpack_rows(read_words(**qzeros), groups, out);
    const std::vector<float> scales_t = read_floats(**scales);
    layer.codes.resize(static_cast<std::size_t>(out * in));
    layer.zeros.resize(static_cast<std::size_t>(out * groups));
    layer.scales.resize(static_cast<std::size_t>(out * groups));
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t i = 0; i < in; ++i) {
            layer.codes[o * in + i] = static_cast<std::uint8_t>(codes_t[i * out + o]);
        }
        for (std::int64_t g = 0; g < groups; ++g) {
            layer.zeros[o * groups + g] = static_cast<float>(zeros_t[g * out + o]);
            layer.scales[o * groups + g] = scales_t[g * out + o];
        }
    }
    layer.g_idx = sequential_g_idx(in, config.group_size);
    MCOMP_TRY(validate_quantized_linear(layer));
    return layer;
}

Expected<std::vector<float>> dequantize_awq(const LayerTensors& tensors, const AwqConfig& config,
                                            std::string_view module) {
    const Expected<QuantizedLinear> layer = unpack_awq(tensors, config, module);
    MCOMP_TRY(layer);
    return dequantize(*layer);
}

nlohmann::json awq_quantization_config(const AwqConfig& config) {
    // AutoAWQ's AwqConfig.to_transformers_dict(); vLLM reads bits|w_bit,
    // group_size|q_group_size and zero_point. Zero points are always stored.
    nlohmann::json dense = nullptr;
    if (!config.modules_to_not_convert.empty()) {
        dense = config.modules_to_not_convert;
    }
    return nlohmann::json{
        {"quant_method", "awq"}, {"bits", config.bits}, {"group_size", config.group_size},
        {"zero_point", true},    {"version", "gemm"},   {"modules_to_not_convert", dense},
    };
}

Expected<AwqConfig> parse_awq_quantization_config(const nlohmann::json& json) {
    const std::string_view where = "quantization_config";
    const Expected<std::string> method = json_string(json, {"quant_method"}, where, "awq");
    MCOMP_TRY(method);
    if (*method != "awq") {
        return make_error(ErrorKind::bad_input,
                          "quantization_config.quant_method: expected "
                          "\"awq\", found \"" +
                              *method + "\"");
    }
    const Expected<std::string> version = json_string(json, {"version"}, where, "gemm");
    MCOMP_TRY(version);
    if (*version != "gemm" && *version != "GEMM") {
        return make_error(ErrorKind::unsupported, "quantization_config.version: \"" + *version +
                                                      "\" is not supported (mcomp reads AWQ "
                                                      "\"gemm\")");
    }
    const Expected<bool> zero_point = json_bool(json, {"zero_point"}, where);
    MCOMP_TRY(zero_point);
    if (!*zero_point) {
        return make_error(ErrorKind::unsupported,
                          "quantization_config.zero_point: AWQ GEMM without zero points is not "
                          "supported (mcomp reads zero_point true)");
    }
    AwqConfig config;
    const Expected<std::int64_t> bits = json_int(json, {"bits", "w_bit"}, where);
    MCOMP_TRY(bits);
    MCOMP_TRY(check_bits(*bits, {4}, "quantization_config"));
    config.bits = static_cast<int>(*bits);
    const Expected<std::int64_t> group_size = json_int(json, {"group_size", "q_group_size"}, where);
    MCOMP_TRY(group_size);
    if (*group_size == 0 || *group_size < -1 || *group_size > INT32_MAX) {
        return make_error(ErrorKind::bad_input,
                          "quantization_config.group_size: " + std::to_string(*group_size) +
                              " must be positive or -1");
    }
    config.group_size = static_cast<int>(*group_size);
    return config;
}

}  // namespace mcomp
