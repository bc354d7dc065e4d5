// dtype.hpp: element types of checkpoint tensors, as safetensors names them, and the
// conversions from the 16-bit floating formats to fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace mcomp {

// Every dtype the safetensors format defines. Dense Llama weights are F32, F16 or BF16;
// the integer types appear in packed quantized checkpoints (int32 qweight, ...).
enum class DType {
    f64 = 1,
    f32,
    f16,
    bf16,
    i64,
    i32,
    i16,
    i8,
    u64,
    u32,
    u16,
    u8,
    boolean,
    f8_e4m3,
    f8_e5m2,
};

// Bytes per element.
std::size_t dtype_size(DType dtype);

// The safetensors name ("F32", "BF16", ...).
std::string_view dtype_name(DType dtype);

// The dtype named `name` in a safetensors header, or nothing for an unknown name.
std::optional<DType> parse_dtype(std::string_view name);

// The names parse_dtype() knows, comma separated, for error messages.
std::string_view known_dtype_names();

// bf16 is the upper half of an fp32: widening is exact.
inline float bf16_to_f32(std::uint16_t bits) {
    const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
    float value = 0.0f;
    std::memcpy(&value, &wide, sizeof value);
    return value;
}

// Round to nearest even, as torch's .to(torch.bfloat16) does; NaN stays NaN.
inline std::uint16_t f32_to_bf16(float value) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
    }
    const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

// IEEE half to fp32, exact for every value (subnormals included).
float f16_to_f32(std::uint16_t bits);

// fp32 to IEEE half, round to nearest even.
std::uint16_t f32_to_f16(float value);

// Widens `count` elements of a F32, F16 or BF16 buffer to fp32 (a copy for F32).
// Returns false for any other dtype.
bool convert_to_f32(DType dtype, const void* src, std::size_t count, float* dst);

}  // namespace mcomp
