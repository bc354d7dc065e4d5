// formats.cpp: the format-independent parts of formats.hpp — the quantized layer, its
// checks and dequantization, packed tensors — and the helpers of formats_detail.hpp.
#include "engine/formats.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "engine/formats_detail.hpp"

namespace mcomp {

using formats_detail::layer_label;

// ---- QuantizedLinear ----------------------------------------------------------------

std::int64_t QuantizedLinear::num_groups() const {
    if (group_size <= 0) {
        return 1;
    }
    return (in_features + group_size - 1) / group_size;
}

std::vector<std::int32_t> sequential_g_idx(std::int64_t in_features, int group_size) {
    std::vector<std::int32_t> g_idx(static_cast<std::size_t>(in_features), 0);
    if (group_size > 0) {
        for (std::int64_t i = 0; i < in_features; ++i) {
            g_idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i / group_size);
        }
    }
    return g_idx;
}

namespace {

std::string at(std::int64_t row, std::int64_t col) {
    std::string text = "[";  // appended, not "[" + ...: GCC 12 warns (-Wrestrict) on that
    text += std::to_string(row);
    text += ", ";
    text += std::to_string(col);
    text += "]";
    return text;
}

float round_scale(float scale, DType dtype) {
    if (dtype == DType::f16) {
        return f16_to_f32(f32_to_f16(scale));
    }
    if (dtype == DType::bf16) {
        return bf16_to_f32(f32_to_bf16(scale));
    }
    return scale;
}

// Shortest text that reads back as `value` ("2.5", "16", "nan").
std::string number(float value) {
    char text[32] = {};
    const std::to_chars_result result = std::to_chars(text, text + sizeof text, value);
    return std::string(text, result.ptr);
}

Status validate_shape(const QuantizedLinear& layer) {
    const std::string label = layer_label(layer.name);
    if (layer.bits != 2 && layer.bits != 3 && layer.bits != 4 && layer.bits != 8) {
        return make_error(ErrorKind::unsupported, label + ": bits " + std::to_string(layer.bits) +
                                                      " is not supported (use 2, 3, 4 or 8)");
    }
    if (layer.out_features <= 0 || layer.in_features <= 0) {
        return make_error(ErrorKind::bad_input,
                          label + ": out_features " + std::to_string(layer.out_features) +
                              " and in_features " + std::to_string(layer.in_features) +
                              " must be positive");
    }
    if (layer.group_size == 0 || layer.group_size < -1) {
        return make_error(ErrorKind::bad_input, label + ": group_size " +
                                                    std::to_string(layer.group_size) +
                                                    " must be positive or -1 (one group per row)");
    }
    const std::int64_t groups = layer.num_groups();
    const auto expect_size = [&](std::size_t found, std::int64_t expected, const char* what,
                                 const std::string& formula) -> Status {
        if (found != static_cast<std::size_t>(expected)) {
            return make_error(ErrorKind::bad_input, label + ": " + what + " has " +
                                                        std::to_string(found) +
                                                        " values, expected " + formula + " = " +
                                                        std::to_string(expected));
        }
        return {};
    };
    const std::string per_group = "out_features * groups (groups = " + std::to_string(groups) +
                                  " for group_size " + std::to_string(layer.group_size) + ")";
    MCOMP_TRY(expect_size(layer.codes.size(), layer.out_features * layer.in_features, "codes",
                          "out_features * in_features"));
    MCOMP_TRY(expect_size(layer.scales.size(), layer.out_features * groups, "scales", per_group));
    MCOMP_TRY(expect_size(layer.zeros.size(), layer.out_features * groups, "zeros", per_group));
    MCOMP_TRY(expect_size(layer.g_idx.size(), layer.in_features, "g_idx", "in_features"));
    return {};
}

Status validate_values(const QuantizedLinear& layer) {
    const std::string label = layer_label(layer.name);
    const std::int64_t groups = layer.num_groups();
    const int max_code = (1 << layer.bits) - 1;
    const float sym_zero = static_cast<float>(1 << (layer.bits - 1));
    // Codes are the bulk (a 7B layer has 45M): a parallel scan first, the row-by-row search
    // below only finds the first bad code for the message.
    int largest = 0;
    const auto cells = static_cast<std::int64_t>(layer.codes.size());
#pragma omp parallel for schedule(static) reduction(max : largest)
    for (std::int64_t k = 0; k < cells; ++k) {
        largest = std::max<int>(largest, layer.codes[static_cast<std::size_t>(k)]);
    }
    const bool codes_fit = largest <= max_code;
    for (std::int64_t o = 0; o < layer.out_features; ++o) {
        for (std::int64_t i = 0; i < layer.in_features && !codes_fit; ++i) {
            const int code = layer.codes[static_cast<std::size_t>(o * layer.in_features + i)];
            if (code > max_code) {
                return make_error(ErrorKind::bad_input,
                                  label + ": code " + std::to_string(code) + " at " + at(o, i) +
                                      " does not fit in " + std::to_string(layer.bits) +
                                      " bits (max " + std::to_string(max_code) + ")");
            }
        }
        for (std::int64_t g = 0; g < groups; ++g) {
            const std::size_t k = static_cast<std::size_t>(o * groups + g);
            const float scale = layer.scales[k];
            const float zero = layer.zeros[k];
            if (!std::isfinite(scale)) {
                return make_error(ErrorKind::bad_input, label + ": scale " + number(scale) +
                                                            " at " + at(o, g) + " is not finite");
            }
            if (!(zero >= 0.0f && zero <= static_cast<float>(max_code)) ||
                zero != std::floor(zero)) {
                return make_error(ErrorKind::bad_input, label + ": zero point " + number(zero) +
                                                            " at " + at(o, g) +
                                                            " is not an integer in [0, " +
                                                            std::to_string(max_code) + "]");
            }
            if (layer.sym && zero != sym_zero) {
                return make_error(ErrorKind::bad_input,
                                  label + ": symmetric layer has zero point " + number(zero) +
                                      " at " + at(o, g) + "; a symmetric grid has every zero at " +
                                      number(sym_zero));
            }
        }
    }
    return {};
}

Status validate_g_idx(const QuantizedLinear& layer) {
    const std::string label = layer_label(layer.name);
    const std::int64_t groups = layer.num_groups();
    for (std::int64_t i = 0; i < layer.in_features; ++i) {
        const std::int32_t g = layer.g_idx[static_cast<std::size_t>(i)];
        if (g < 0 || g >= groups) {
            return make_error(ErrorKind::bad_input,
                              label + ": g_idx[" + std::to_string(i) + "] = " + std::to_string(g) +
                                  " is outside [0, " + std::to_string(groups) + ")");
        }
        const std::int64_t sequential = layer.group_size > 0 ? i / layer.group_size : 0;
        if (!layer.desc_act && g != sequential) {
            return make_error(ErrorKind::bad_input,
                              label + ": g_idx[" + std::to_string(i) + "] = " + std::to_string(g) +
                                  " but i / group_size = " + std::to_string(sequential) +
                                  "; without desc_act the groups are sequential (set desc_act "
                                  "for act-order)");
        }
    }
    return {};
}

}  // namespace

Status validate_quantized_linear(const QuantizedLinear& layer) {
    MCOMP_TRY(validate_shape(layer));
    MCOMP_TRY(validate_values(layer));
    MCOMP_TRY(validate_g_idx(layer));
    return {};
}

std::vector<float> dequantize(const QuantizedLinear& layer) {
    const std::int64_t groups = layer.num_groups();
    std::vector<float> weight(layer.codes.size(), 0.0f);
#pragma omp parallel for schedule(static)
    for (std::int64_t o = 0; o < layer.out_features; ++o) {
        for (std::int64_t i = 0; i < layer.in_features; ++i) {
            const std::size_t k = static_cast<std::size_t>(o * layer.in_features + i);
            const std::size_t gk = static_cast<std::size_t>(o * groups + layer.g_idx[i]);
            // code − zero is a small integer: exact in fp32, and so is the product with a
            // 16-bit scale (at most 11 + 9 significant bits).
            weight[k] = layer.scales[gk] * (static_cast<float>(layer.codes[k]) - layer.zeros[gk]);
        }
    }
    return weight;
}

QuantizedLinear with_scales_rounded(const QuantizedLinear& layer, DType dtype) {
    QuantizedLinear rounded = layer;
    for (float& scale : rounded.scales) {
        scale = round_scale(scale, dtype);
    }
    return rounded;
}

TensorView PackedTensor::view() const {
    TensorView view;
    view.dtype = dtype;
    view.shape = shape;
    view.data = bytes.data();
    view.num_bytes = bytes.size();
    return view;
}

LayerTensors views_of(const std::vector<PackedTensor>& tensors) {
    LayerTensors views;
    for (const PackedTensor& tensor : tensors) {
        views.emplace(tensor.name, tensor.view());
    }
    return views;
}

// ---- formats_detail -----------------------------------------------------------------

namespace formats_detail {

std::string layer_label(std::string_view name) {
    return name.empty() ? std::string("layer") : std::string(name);
}

std::string tensor_label(std::string_view module, std::string_view suffix) {
    return module.empty() ? std::string(suffix) : std::string(module) + "." + std::string(suffix);
}

namespace {

template <class T>
PackedTensor raw_tensor(std::string name, DType dtype, std::vector<std::int64_t> shape,
                        const std::vector<T>& values) {
    PackedTensor tensor;
    tensor.name = std::move(name);
    tensor.dtype = dtype;
    tensor.shape = std::move(shape);
    tensor.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) {
        std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
    }
    return tensor;
}

template <class T>
std::vector<T> read_raw(const TensorView& view) {
    std::vector<T> values(view.num_bytes / sizeof(T));
    if (!values.empty()) {
        std::memcpy(values.data(), view.data, values.size() * sizeof(T));
    }
    return values;
}

}  // namespace

PackedTensor words_tensor(std::string name, std::vector<std::int64_t> shape,
                          const std::vector<std::uint32_t>& words) {
    return raw_tensor(std::move(name), DType::i32, std::move(shape), words);
}

PackedTensor i32_tensor(std::string name, std::vector<std::int64_t> shape,
                        const std::vector<std::int32_t>& values) {
    return raw_tensor(std::move(name), DType::i32, std::move(shape), values);
}

PackedTensor i64_tensor(std::string name, std::vector<std::int64_t> shape,
                        const std::vector<std::int64_t>& values) {
    return raw_tensor(std::move(name), DType::i64, std::move(shape), values);
}

PackedTensor scale_tensor(std::string name, std::vector<std::int64_t> shape,
                          const std::vector<float>& values, DType dtype) {
    if (dtype == DType::f32) {
        return raw_tensor(std::move(name), DType::f32, std::move(shape), values);
    }
    std::vector<std::uint16_t> half(values.size(), 0);
    for (std::size_t k = 0; k < values.size(); ++k) {
        half[k] = dtype == DType::f16 ? f32_to_f16(values[k]) : f32_to_bf16(values[k]);
    }
    return raw_tensor(std::move(name), dtype, std::move(shape), half);
}

Status check_scales_fit(const QuantizedLinear& layer, DType dtype) {
    const std::int64_t groups = layer.num_groups();
    for (std::size_t k = 0; k < layer.scales.size(); ++k) {
        if (std::isinf(round_scale(layer.scales[k], dtype))) {
            const std::int64_t o = static_cast<std::int64_t>(k) / groups;
            const std::int64_t g = static_cast<std::int64_t>(k) % groups;
            return make_error(ErrorKind::bad_input,
                              layer_label(layer.name) + ": scale " + number(layer.scales[k]) +
                                  " at " + at(o, g) + " overflows " +
                                  std::string(dtype_name(dtype)) + " (max " +
                                  (dtype == DType::f16 ? "65504" : "3.39e38") + ")");
        }
    }
    return {};
}

std::vector<std::uint32_t> read_words(const TensorView& view) {
    return read_raw<std::uint32_t>(view);
}

std::vector<std::int32_t> read_i32(const TensorView& view) {
    return read_raw<std::int32_t>(view);
}

std::vector<std::int64_t> read_i64(const TensorView& view) {
    return read_raw<std::int64_t>(view);
}

std::vector<float> read_floats(const TensorView& view) {
    const std::size_t count = view.num_bytes / dtype_size(view.dtype);
    std::vector<float> values(count, 0.0f);
    convert_to_f32(view.dtype, view.data, count, values.data());
    return values;
}

}  // namespace formats_detail

}  // namespace mcomp
