// formats_gptq.cpp: the GPTQ checkpoint layout of AutoGPTQ / GPTQModel (see formats.hpp).
//
// Reference: AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py QuantLinear.pack()
// and GPTQModel gptqmodel/utils/model.py (convert_gptq_v1_to_v2_format, _shift_gptq_qzeros).
// AutoGPTQ packs codes down the input dim: for 2/4/8 bits, 32/bits values per int32, low
// bits first; for 3 bits, 32 values in 3 words with values 10 and 21 split across word
// boundaries. Both are one little-endian bit stream per output column, which is how this
// file packs every width. v1 ("gptq") stores zero − 1 in each field; GPTQModel's loader
// shifts each field back by +1 mod 2^bits, so zero 0 (field 2^bits − 1) survives there.
#include <algorithm>
#include <string>
#include <utility>

#include "engine/formats.hpp"
#include "engine/formats_detail.hpp"

namespace mcomp {

using namespace formats_detail;

namespace {

constexpr const char* kGptqTensors = "qweight, qzeros, scales and g_idx";

Status check_gptq_packable(const QuantizedLinear& layer) {
    const std::pair<std::int64_t, const char*> dims[] = {{layer.in_features, "in_features"},
                                                         {layer.out_features, "out_features"}};
    for (const auto& [extent, what] : dims) {
        if ((extent * layer.bits) % 32 != 0) {
            return make_error(ErrorKind::unsupported,
                              layer_label(layer.name) + ": GPTQ packs " + what +
                                  " * bits into whole int32 words, but " + what + " " +
                                  std::to_string(extent) + " at " + std::to_string(layer.bits) +
                                  " bits is " + std::to_string(extent * layer.bits) +
                                  " bits, not a multiple of 32");
        }
    }
    return {};
}

// [out, groups] -> [groups, out], or back with the extents swapped.
std::vector<float> transpose(const std::vector<float>& src, std::int64_t rows, std::int64_t cols) {
    std::vector<float> dst(src.size(), 0.0f);
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
            dst[static_cast<std::size_t>(c * rows + r)] =
                src[static_cast<std::size_t>(r * cols + c)];
        }
    }
    return dst;
}

const char* format_name(GptqCheckpointFormat format) {
    return format == GptqCheckpointFormat::gptq_v2 ? "gptq_v2" : "gptq";
}

// codes [out, in] from qweight [in·bits/32, out].
std::vector<std::uint8_t> read_gptq_codes(const TensorView& qweight, std::int64_t out,
                                          std::int64_t in, int bits) {
    const std::vector<std::uint32_t> words = read_words(qweight);
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(out * in), 0);
    for (std::int64_t o = 0; o < out; ++o) {
        for (std::int64_t i = 0; i < in; ++i) {
            codes[o * in + i] =
                static_cast<std::uint8_t>(get_stream(words.data() + o, out, i, bits));
        }
    }
    return codes;
}

// zeros [out, groups] from qzeros [groups, out·bits/32]; v1 fields read as field + 1 mod 2^bits.
std::vector<float> read_gptq_zeros(const TensorView& qzeros, std::int64_t out, std::int64_t groups,
                                   int bits, GptqCheckpointFormat format) {
    const std::vector<std::uint32_t> words = read_words(qzeros);
    const std::uint32_t mask = (1u << bits) - 1u;
    std::vector<float> zeros(static_cast<std::size_t>(out * groups), 0.0f);
    for (std::int64_t g = 0; g < groups; ++g) {
        for (std::int64_t o = 0; o < out; ++o) {
            std::uint32_t zero = get_stream(words.data() + g * (out * bits / 32), 1, o, bits);
            if (format == GptqCheckpointFormat::gptq) {
                zero = (zero + 1u) & mask;
            }
            zeros[o * groups + g] = static_cast<float>(zero);
        }
    }
    return zeros;
}

}  // namespace

GptqConfig gptq_config_for(const QuantizedLinear& layer, GptqCheckpointFormat format) {
    GptqConfig config;
    config.bits = layer.bits;
    config.group_size = layer.group_size;
    config.sym = layer.sym;
    config.desc_act = layer.desc_act;
    config.checkpoint_format = format;
    return config;
}

Expected<std::vector<PackedTensor>> pack_gptq(const QuantizedLinear& layer,
                                              GptqCheckpointFormat format) {
    MCOMP_TRY(validate_quantized_linear(layer));
    MCOMP_TRY(check_gptq_packable(layer));
    MCOMP_TRY(check_scales_fit(layer, DType::f16));
    const std::int64_t out = layer.out_features;
    const std::int64_t in = layer.in_features;
    const std::int64_t groups = layer.num_groups();
    const int bits = layer.bits;

    // qweight [in·bits/32, out]: column o is the bit stream of codes[o, 0..in). Threads own
    // bands of 16 columns (one 64-byte line of each word row), so no two write one line.
    std::vector<std::uint32_t> qweight(static_cast<std::size_t>(in * bits / 32 * out), 0u);
    constexpr std::int64_t kBand = 16;
    const std::int64_t word_rows = in * bits / 32;
#pragma omp parallel for schedule(static)
    for (std::int64_t o0 = 0; o0 < out; o0 += kBand) {
        const std::int64_t o1 = std::min(out, o0 + kBand);
        if (32 % bits == 0) {  // 2, 4, 8 bits: whole words of 32/bits consecutive codes
            const int per_word = 32 / bits;
            for (std::int64_t r = 0; r < word_rows; ++r) {
                for (std::int64_t o = o0; o < o1; ++o) {
                    const std::uint8_t* codes = layer.codes.data() + o * in + r * per_word;
                    std::uint32_t word = 0;
                    for (int k = 0; k < per_word; ++k) {
                        word |= static_cast<std::uint32_t>(codes[k]) << (k * bits);
                    }
                    qweight[static_cast<std::size_t>(r * out + o)] = word;
                }
            }
            continue;
        }
        for (std::int64_t i = 0; i < in; ++i) {
            for (std::int64_t o = o0; o < o1; ++o) {
                put_stream(qweight.data() + o, out, i, bits, layer.codes[o * in + i]);
            }
        }
    }
    // qzeros [groups, out·bits/32]: row g is the bit stream of zeros[0..out, g].
    const std::int64_t zero_words = out * bits / 32;
    const std::uint32_t mask = (1u << bits) - 1u;
    std::vector<std::uint32_t> qzeros(static_cast<std::size_t>(groups * zero_words), 0u);
    for (std::int64_t g = 0; g < groups; ++g) {
        for (std::int64_t o = 0; o < out; ++o) {
            std::uint32_t zero = static_cast<std::uint32_t>(layer.zeros[o * groups + g]);
            if (format == GptqCheckpointFormat::gptq) {
                zero = (zero - 1u) & mask;  // v1: zero − 1, wrapping within the field
            }
            put_stream(qzeros.data() + g * zero_words, 1, o, bits, zero);
        }
    }
    std::vector<PackedTensor> tensors;
    tensors.push_back(words_tensor("qweight", {in * bits / 32, out}, qweight));
    tensors.push_back(words_tensor("qzeros", {groups, zero_words}, qzeros));
    tensors.push_back(
        scale_tensor("scales", {groups, out}, transpose(layer.scales, out, groups), DType::f16));
    tensors.push_back(i32_tensor("g_idx", {in}, layer.g_idx));
    return tensors;
}

Expected<QuantizedLinear> unpack_gptq(const LayerTensors& tensors, const GptqConfig& config,
                                      std::string_view module) {
    MCOMP_TRY(check_bits(config.bits, {2, 3, 4, 8}, "GPTQ quantization_config"));
    const int bits = config.bits;
    const Expected<const TensorView*> qweight =
        require_tensor(tensors, module, "qweight", {DType::i32}, kGptqTensors);
    MCOMP_TRY(qweight);
    MCOMP_TRY(require_matrix(**qweight, module, "qweight"));
    const std::int64_t out = (*qweight)->shape[1];
    const std::int64_t in = (*qweight)->shape[0] * 32 / bits;
    MCOMP_TRY(
        require_shape(**qweight, module, "qweight", {in * bits / 32, out},
                      "in_features * bits / 32 whole words at " + std::to_string(bits) + " bits"));
    if ((out * bits) % 32 != 0) {
        return make_error(ErrorKind::bad_input, tensor_label(module, "qweight") +
                                                    ": out_features " + std::to_string(out) +
                                                    " at " + std::to_string(bits) +
                                                    " bits does not fill whole qzeros words");
    }
    QuantizedLinear layer;
    layer.name = std::string(module);
    layer.out_features = out;
    layer.in_features = in;
    layer.bits = bits;
    layer.group_size = config.group_size;
    layer.sym = config.sym;
    layer.desc_act = config.desc_act;
    const std::int64_t groups = layer.num_groups();
    const std::string why = "from qweight [" + std::to_string(in * bits / 32) + ", " +
                            std::to_string(out) + "], bits " + std::to_string(bits) +
                            " and group_size " + std::to_string(config.group_size);

    const Expected<const TensorView*> qzeros =
        require_tensor(tensors, module, "qzeros", {DType::i32}, kGptqTensors);
    MCOMP_TRY(qzeros);
    MCOMP_TRY(require_shape(**qzeros, module, "qzeros", {groups, out * bits / 32}, why));
    const Expected<const TensorView*> scales = require_tensor(
        tensors, module, "scales", {DType::f16, DType::bf16, DType::f32}, kGptqTensors);
    MCOMP_TRY(scales);
    MCOMP_TRY(require_shape(**scales, module, "scales", {groups, out}, why));

    layer.codes = read_gptq_codes(**qweight, out, in, bits);
    layer.zeros = read_gptq_zeros(**qzeros, out, groups, bits, config.checkpoint_format);
    layer.scales = transpose(read_floats(**scales), groups, out);

    if (tensors.find("g_idx") == tensors.end()) {
        layer.g_idx = sequential_g_idx(in, config.group_size);
    } else {
        const Expected<const TensorView*> g_idx =
            require_tensor(tensors, module, "g_idx", {DType::i32}, kGptqTensors);
        MCOMP_TRY(g_idx);
        MCOMP_TRY(require_shape(**g_idx, module, "g_idx", {in}, why));
        layer.g_idx = read_i32(**g_idx);
    }
    MCOMP_TRY(validate_quantized_linear(layer));
    return layer;
}

Expected<std::vector<float>> dequantize_gptq(const LayerTensors& tensors, const GptqConfig& config,
                                             std::string_view module) {
    const Expected<QuantizedLinear> layer = unpack_gptq(tensors, config, module);
    MCOMP_TRY(layer);
    return dequantize(*layer);
}

std::int64_t count_gptq_v1_zero_wraps(const QuantizedLinear& layer) {
    std::int64_t count = 0;
    for (const float zero : layer.zeros) {
        count += zero == 0.0f ? 1 : 0;
    }
    return count;
}

nlohmann::json gptq_quantization_config(const GptqConfig& config) {
    // Keys of AutoGPTQ's BaseQuantizeConfig / transformers' GPTQConfig; vLLM needs bits,
    // group_size and desc_act, and reads lm_head and checkpoint_format.
    return nlohmann::json{
        {"quant_method", "gptq"},
        {"bits", config.bits},
        {"group_size", config.group_size},
        {"desc_act", config.desc_act},
        {"sym", config.sym},
        {"static_groups", config.static_groups},
        {"true_sequential", config.true_sequential},
        {"damp_percent", config.damp_percent},
        {"lm_head", false},
        {"checkpoint_format", format_name(config.checkpoint_format)},
    };
}

Expected<GptqConfig> parse_gptq_quantization_config(const nlohmann::json& json) {
    const std::string_view where = "quantization_config";
    const Expected<std::string> method = json_string(json, {"quant_method"}, where);
    MCOMP_TRY(method);
    if (*method != "gptq") {
        return make_error(ErrorKind::bad_input,
                          "quantization_config.quant_method: expected "
                          "\"gptq\", found \"" +
                              *method + "\"");
    }
    GptqConfig config;
    const Expected<std::int64_t> bits = json_int(json, {"bits"}, where);
    MCOMP_TRY(bits);
    MCOMP_TRY(check_bits(*bits, {2, 3, 4, 8}, "quantization_config"));
    config.bits = static_cast<int>(*bits);
    const Expected<std::int64_t> group_size = json_int(json, {"group_size"}, where);
    MCOMP_TRY(group_size);
    if (*group_size == 0 || *group_size < -1 || *group_size > INT32_MAX) {
        return make_error(ErrorKind::bad_input,
                          "quantization_config.group_size: " + std::to_string(*group_size) +
                              " must be positive or -1");
    }
    config.group_size = static_cast<int>(*group_size);
    const bool no = false;
    const bool yes = true;
    const Expected<bool> desc_act = json_bool(json, {"desc_act"}, where, &no);
    MCOMP_TRY(desc_act);
    config.desc_act = *desc_act;
    const Expected<bool> sym = json_bool(json, {"sym"}, where, &yes);
    MCOMP_TRY(sym);
    config.sym = *sym;
    const Expected<bool> static_groups = json_bool(json, {"static_groups"}, where, &no);
    MCOMP_TRY(static_groups);
    config.static_groups = *static_groups;
    const Expected<bool> true_sequential = json_bool(json, {"true_sequential"}, where, &yes);
    MCOMP_TRY(true_sequential);
    config.true_sequential = *true_sequential;
    if (const auto damp = json.find("damp_percent"); damp != json.end() && damp->is_number()) {
        config.damp_percent = damp->get<double>();
    }
    const Expected<std::string> format =
        json_string(json, {"checkpoint_format", "format"}, where, "gptq");
    MCOMP_TRY(format);
    if (*format == "gptq_v2") {
        config.checkpoint_format = GptqCheckpointFormat::gptq_v2;
    } else if (*format != "gptq") {
        return make_error(ErrorKind::unsupported,
                          "quantization_config.checkpoint_format: \"" + *format +
                              "\" is not supported (mcomp reads \"gptq\" and \"gptq_v2\")");
    }
    return config;
}

}  // namespace mcomp
