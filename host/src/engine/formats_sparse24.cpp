// formats_sparse24.cpp: the compressed-tensors "sparse-24-bitmask" layout of 2:4-sparse weights
// that llm-compressor writes and vLLM (CompressedTensors24) / transformers read (formats.hpp).
//
// Reference: compressed-tensors compressors/sparse_compressors/sparse_24_bitmask.py
// (Sparse24BitMaskTensor.from_dense / dict, sparse24_bitmask_compress / _decompress,
// get_24_bytemasks) and utils/helpers.py (pack_bitmasks / unpack_bitmasks):
//   - the kept positions are the top-2 |w| of every group of 4 consecutive elements of a row
//     (exactly 2 per group, so a group with fewer non-zeros keeps a zero);
//   - "compressed" = tensor[bytemask] reshaped to [rows, cols / 2], in the weight's dtype;
//   - "bitmask" = numpy.packbits(bytemask, axis=-1, bitorder="little"): U8 [rows, ceil(cols/8)],
//     element j of a row at bit j % 8 of byte j / 8;
//   - "shape" = torch.tensor(shape).reshape(-1, 1): I64 [2, 1].
// The reference's compressor silently keeps the top 2 of any group; mcomp refuses a weight that
// is not 2:4 instead (it would store a different model). A group with fewer than two non-zeros
// marks its first zeros, whose values are stored as they are (±0), so the round trip is exact
// but for the sign of a -0 the bitmask does not keep (the reference decompresses those to +0
// too; the pruners store +0).
#include <algorithm>
#include <cstring>
#include <string>

#include "engine/formats.hpp"
#include "engine/formats_detail.hpp"

namespace mcomp {

using namespace formats_detail;

namespace {

constexpr const char* kSparseTensors = "compressed, bitmask, shape";

// Element k of a F32 / F16 / BF16 buffer is ±0 (the bits without the sign are all 0).
bool is_zero(const std::byte* data, DType dtype, std::int64_t k) {
    if (dtype == DType::f32) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, data + k * 4, 4);
        return (bits & 0x7fffffffu) == 0;
    }
    std::uint16_t bits = 0;
    std::memcpy(&bits, data + k * 2, 2);
    return (bits & 0x7fffu) == 0;
}

bool is_float(DType dtype) {
    return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
}

// The kept positions of one group of 4 (bit p set: position p kept): its non-zeros, then its
// first zeros up to two. -1 when the group holds more than two non-zeros.
int group_mask(const std::byte* data, DType dtype, std::int64_t first) {
    int mask = 0;
    int kept = 0;
    for (int p = 0; p < 4; ++p) {
        if (!is_zero(data, dtype, first + p)) {
            mask |= 1 << p;
            ++kept;
        }
    }
    if (kept > 2) {
        return -1;
    }
    for (int p = 0; p < 4 && kept < 2; ++p) {
        if ((mask & (1 << p)) == 0) {
            mask |= 1 << p;
            ++kept;
        }
    }
    return mask;
}

std::string not_two_of_four(std::string_view module, std::int64_t row, std::int64_t col) {
    return layer_label(module) + ": not 2:4 sparse: row " + std::to_string(row) + ", inputs " +
           std::to_string(col) + ".." + std::to_string(col + 3) +
           " hold more than 2 non-zero weights; sparse-24-bitmask stores layers with at most 2 "
           "non-zeros in every 4 consecutive inputs (prune with n = 2, m = 4, or write the "
           "dense format)";
}

}  // namespace

Expected<std::vector<PackedTensor>> pack_sparse24_bitmask(const TensorView& weight,
                                                          std::string_view module) {
    if (!is_float(weight.dtype) || weight.shape.size() != 2 || weight.shape[0] <= 0 ||
        weight.shape[1] <= 0) {
        return make_error(ErrorKind::bad_input,
                          layer_label(module) +
                              ": sparse-24-bitmask needs a non-empty 2-D F32, "
                              "F16 or BF16 weight, found " +
                              std::string(dtype_name(weight.dtype)) + " " +
                              shape_to_string(weight.shape));
    }
    const std::int64_t rows = weight.shape[0];
    const std::int64_t cols = weight.shape[1];
    if (cols % 4 != 0) {
        return make_error(ErrorKind::bad_input,
                          layer_label(module) + ": in_features " + std::to_string(cols) +
                              " is not a multiple of 4; sparse-24-bitmask needs whole groups "
                              "of 4 inputs");
    }
    const std::size_t size = dtype_size(weight.dtype);
    const std::int64_t mask_cols = (cols + 7) / 8;
    PackedTensor compressed;
    compressed.name = "compressed";
    compressed.dtype = weight.dtype;
    compressed.shape = {rows, cols / 2};
    compressed.bytes.resize(static_cast<std::size_t>(rows * cols / 2) * size);
    PackedTensor bitmask;
    bitmask.name = "bitmask";
    bitmask.dtype = DType::u8;
    bitmask.shape = {rows, mask_cols};
    bitmask.bytes.assign(static_cast<std::size_t>(rows * mask_cols), std::byte{0});
    std::byte* dst = compressed.bytes.data();
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; c += 4) {
            const std::int64_t first = r * cols + c;
            const int mask = group_mask(weight.data, weight.dtype, first);
            if (mask < 0) {
                return make_error(ErrorKind::bad_input, not_two_of_four(module, r, c));
            }
            for (int p = 0; p < 4; ++p) {
                if ((mask & (1 << p)) == 0) {
                    continue;
                }
                std::memcpy(dst, weight.data + (first + p) * size, size);
                dst += size;
                const std::int64_t j = c + p;
                bitmask.bytes[static_cast<std::size_t>(r * mask_cols + j / 8)] |=
                    static_cast<std::byte>(1u << (j % 8));
            }
        }
    }
    std::vector<PackedTensor> tensors;
    tensors.push_back(std::move(compressed));
    tensors.push_back(std::move(bitmask));
    tensors.push_back(i64_tensor("shape", {2, 1}, {rows, cols}));
    return tensors;
}

namespace {

// shape: [out, in] from I64 (or I32) [2, 1] or [2].
Expected<std::pair<std::int64_t, std::int64_t>> read_dense_shape(const LayerTensors& tensors,
                                                                 std::string_view module) {
    const Expected<const TensorView*> shape =
        require_tensor(tensors, module, "shape", {DType::i64, DType::i32}, kSparseTensors);
    MCOMP_TRY(shape);
    const TensorView& view = **shape;
    if (view.shape != std::vector<std::int64_t>{2, 1} &&
        view.shape != std::vector<std::int64_t>{2}) {
        return make_error(ErrorKind::bad_input, tensor_label(module, "shape") + ": shape " +
                                                    shape_to_string(view.shape) +
                                                    ", expected [2, 1] (rows, columns)");
    }
    std::int64_t out = 0;
    std::int64_t in = 0;
    if (view.dtype == DType::i64) {
        const std::vector<std::int64_t> extents = read_i64(view);
        out = extents[0];
        in = extents[1];
    } else {
        const std::vector<std::int32_t> extents = read_i32(view);
        out = extents[0];
        in = extents[1];
    }
    if (out <= 0 || in <= 0 || in % 4 != 0) {
        return make_error(ErrorKind::bad_input,
                          tensor_label(module, "shape") + ": [" + std::to_string(out) + ", " +
                              std::to_string(in) +
                              "] is not the shape of a 2:4-sparse weight (positive, columns a "
                              "multiple of 4)");
    }
    return std::make_pair(out, in);
}

}  // namespace

Expected<PackedTensor> unpack_sparse24_bitmask(const LayerTensors& tensors,
                                               std::string_view module) {
    const auto shape = read_dense_shape(tensors, module);
    MCOMP_TRY(shape);
    const auto [rows, cols] = *shape;
    const std::string why =
        "from shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
    const Expected<const TensorView*> compressed = require_tensor(
        tensors, module, "compressed", {DType::f32, DType::f16, DType::bf16}, kSparseTensors);
    MCOMP_TRY(compressed);
    MCOMP_TRY(require_shape(**compressed, module, "compressed", {rows, cols / 2}, why));
    const Expected<const TensorView*> bitmask =
        require_tensor(tensors, module, "bitmask", {DType::u8}, kSparseTensors);
    MCOMP_TRY(bitmask);
    const std::int64_t mask_cols = (cols + 7) / 8;
    MCOMP_TRY(require_shape(**bitmask, module, "bitmask", {rows, mask_cols}, why));

    const DType dtype = (*compressed)->dtype;
    const std::size_t size = dtype_size(dtype);
    PackedTensor dense;
    dense.name = "weight";
    dense.dtype = dtype;
    dense.shape = {rows, cols};
    dense.bytes.assign(static_cast<std::size_t>(rows * cols) * size, std::byte{0});
    const std::byte* bits = (*bitmask)->data;
    const std::byte* src = (*compressed)->data;
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; c += 4) {
            int kept = 0;
            for (std::int64_t j = c; j < c + 4; ++j) {
                const auto byte = static_cast<unsigned>(bits[r * mask_cols + j / 8]);
                if (((byte >> (j % 8)) & 1u) == 0) {
                    continue;
                }
                if (++kept > 2) {
                    break;
                }
                std::memcpy(dense.bytes.data() + (r * cols + j) * size, src, size);
                src += size;
            }
            if (kept != 2) {
                return make_error(
                    ErrorKind::bad_input,
                    tensor_label(module, "bitmask") + ": row " + std::to_string(r) + ", columns " +
                        std::to_string(c) + ".." + std::to_string(c + 3) + " mark " +
                        (kept > 2 ? std::string("more than 2") : std::to_string(kept)) +
                        " of 4 positions; sparse-24-bitmask marks exactly 2 of every 4");
            }
        }
    }
    return dense;
}

nlohmann::json sparse24_bitmask_quantization_config(const Sparse24Config& config) {
    // ModelCompressor.update_config with a sparsity config only: quant_method and the
    // SparsityCompressionConfig (Sparse24BitMaskConfig) under "sparsity_config".
    return nlohmann::json{
        {"quant_method", "compressed-tensors"},
        {"sparsity_config",
         {{"format", "sparse-24-bitmask"},
          {"sparsity_structure", "2:4"},
          {"global_sparsity", config.global_sparsity},
          {"targets", config.targets},
          {"ignore", config.ignore}}},
    };
}

bool is_sparse24_bitmask_config(const nlohmann::json& config) {
    const auto sparsity = config.find("sparsity_config");
    return sparsity != config.end() && sparsity->is_object() &&
           sparsity->value("format", "") == "sparse-24-bitmask";
}

Expected<Sparse24Config> parse_sparse24_bitmask_config(const nlohmann::json& json) {
    const Expected<std::string> method = json_string(json, {"quant_method"}, "quantization_config");
    MCOMP_TRY(method);
    if (*method != "compressed-tensors") {
        return make_error(ErrorKind::bad_input,
                          "quantization_config.quant_method: expected \"compressed-tensors\", "
                          "found \"" +
                              *method + "\"");
    }
    if (const auto groups = json.find("config_groups");
        groups != json.end() && groups->is_object() && !groups->empty()) {
        return make_error(ErrorKind::unsupported,
                          "quantization_config: sparse-24-bitmask together with quantization "
                          "(config_groups) is not supported; mcomp reads sparse-24-bitmask "
                          "checkpoints of dense (unquantized) weights");
    }
    const auto sparsity = json.find("sparsity_config");
    if (sparsity == json.end() || !sparsity->is_object()) {
        return make_error(ErrorKind::bad_input,
                          "quantization_config: key \"sparsity_config\" is missing");
    }
    const std::string where = "quantization_config.sparsity_config";
    const Expected<std::string> format = json_string(*sparsity, {"format"}, where);
    MCOMP_TRY(format);
    if (*format != "sparse-24-bitmask") {
        return make_error(ErrorKind::unsupported, where + ".format: \"" + *format +
                                                      "\" is not supported (mcomp reads "
                                                      "\"sparse-24-bitmask\")");
    }
    const Expected<std::string> structure =
        json_string(*sparsity, {"sparsity_structure"}, where, "2:4");
    MCOMP_TRY(structure);
    if (*structure != "2:4") {
        return make_error(ErrorKind::bad_input, where +
                                                    ".sparsity_structure: expected \"2:4\", "
                                                    "found \"" +
                                                    *structure + "\"");
    }
    Sparse24Config config;
    config.targets.clear();
    config.ignore.clear();
    if (const auto value = sparsity->find("global_sparsity");
        value != sparsity->end() && value->is_number()) {
        config.global_sparsity = value->get<double>();
    }
    for (const auto& [key, list] :
         {std::pair{"targets", &config.targets}, std::pair{"ignore", &config.ignore}}) {
        const auto names = sparsity->find(key);
        if (names != sparsity->end() && names->is_array()) {
            for (const nlohmann::json& name : *names) {
                if (name.is_string()) {
                    list->push_back(name.get<std::string>());
                }
            }
        }
    }
    return config;
}

}  // namespace mcomp
