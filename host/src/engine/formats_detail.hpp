// formats_detail.hpp: helpers shared by the format packers (formats_*.cpp) — bit streams in
// int32 words, tensors from and to little-endian bytes, checks on the tensors a reader
// found, and typed lookups in a quantization_config. Not part of the engine's interface.
#pragma once

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/formats.hpp"

namespace mcomp::formats_detail {

// Packed tensors are written and read as the host's memory: little-endian only.
static_assert(std::endian::native == std::endian::little,
              "the format packers assume a little-endian host");

// "model.layers.0.mlp.up_proj" or "layer" for messages.
std::string layer_label(std::string_view name);

// "<module>.<suffix>", or the suffix alone when the module is unnamed.
std::string tensor_label(std::string_view module, std::string_view suffix);

// ---- Bit streams --------------------------------------------------------------------
// Value k (of `bits` bits) sits at bits [k·bits, (k+1)·bits) of a little-endian stream of
// 32-bit words; word w lives at base[w · stride]. A value may straddle two words (3 bits).

inline void put_stream(std::uint32_t* base, std::int64_t stride, std::int64_t index, int bits,
                       std::uint32_t value) {
    const std::int64_t bit = index * bits;
    const std::int64_t word = bit / 32;
    const int shift = static_cast<int>(bit % 32);
    base[word * stride] |= value << shift;
    if (shift + bits > 32) {
        base[(word + 1) * stride] |= value >> (32 - shift);
    }
}

inline std::uint32_t get_stream(const std::uint32_t* base, std::int64_t stride, std::int64_t index,
                                int bits) {
    const std::int64_t bit = index * bits;
    const std::int64_t word = bit / 32;
    const int shift = static_cast<int>(bit % 32);
    std::uint32_t value = base[word * stride] >> shift;
    if (shift + bits > 32) {
        value |= base[(word + 1) * stride] << (32 - shift);
    }
    return value & ((1u << bits) - 1u);
}

// ---- Tensors ------------------------------------------------------------------------

PackedTensor words_tensor(std::string name, std::vector<std::int64_t> shape,
                          const std::vector<std::uint32_t>& words);
PackedTensor i32_tensor(std::string name, std::vector<std::int64_t> shape,
                        const std::vector<std::int32_t>& values);
PackedTensor i64_tensor(std::string name, std::vector<std::int64_t> shape,
                        const std::vector<std::int64_t>& values);

// `values` (already in the tensor's layout) rounded to nearest even in `dtype` (F16, BF16
// or F32). Call check_scales_fit() first: an overflow here would be stored as inf.
PackedTensor scale_tensor(std::string name, std::vector<std::int64_t> shape,
                          const std::vector<float>& values, DType dtype);

// bad_input naming scales[o, g] when a scale of `layer` overflows `dtype`.
Status check_scales_fit(const QuantizedLinear& layer, DType dtype);

std::vector<std::uint32_t> read_words(const TensorView& view);
std::vector<std::int32_t> read_i32(const TensorView& view);
std::vector<std::int64_t> read_i64(const TensorView& view);
std::vector<float> read_floats(const TensorView& view);  // F16, BF16 or F32

// The tensor `suffix` with one of `dtypes`; bad_input naming it when missing or mistyped.
// `needed` lists the format's tensors for the message ("qweight, qzeros, scales").
Expected<const TensorView*> require_tensor(const LayerTensors& tensors, std::string_view module,
                                           std::string_view suffix,
                                           std::initializer_list<DType> dtypes,
                                           std::string_view needed);

// bad_input unless `view` has exactly `expected` as its shape; `why` says where the
// expectation comes from ("from qweight and bits 4").
Status require_shape(const TensorView& view, std::string_view module, std::string_view suffix,
                     const std::vector<std::int64_t>& expected, std::string_view why);

// bad_input unless `view` is 2-D with no zero extent.
Status require_matrix(const TensorView& view, std::string_view module, std::string_view suffix);

// ---- quantization_config lookups ----------------------------------------------------
// Each looks `keys` up in order (aliases such as "bits" / "w_bit") in `object`, whose
// path in messages is `where` ("quantization_config").

Expected<std::int64_t> json_int(const nlohmann::json& object,
                                std::initializer_list<const char*> keys, std::string_view where);
Expected<bool> json_bool(const nlohmann::json& object, std::initializer_list<const char*> keys,
                         std::string_view where, const bool* fallback = nullptr);
Expected<std::string> json_string(const nlohmann::json& object,
                                  std::initializer_list<const char*> keys, std::string_view where,
                                  const char* fallback = nullptr);

// bad_input unless `bits` is one of `allowed`.
Status check_bits(std::int64_t bits, std::initializer_list<int> allowed, std::string_view where);

}  // namespace mcomp::formats_detail
