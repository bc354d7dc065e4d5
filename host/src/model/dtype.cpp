// dtype.cpp: see dtype.hpp.
#include "model/dtype.hpp"

#include <array>

namespace mcomp {

namespace {

struct DTypeInfo {
    DType dtype;
    std::string_view name;
    std::size_t size;
};

constexpr std::array<DTypeInfo, 15> kDTypes = {{
    {DType::f64, "F64", 8},
    {DType::f32, "F32", 4},
    {DType::f16, "F16", 2},
    {DType::bf16, "BF16", 2},
    {DType::i64, "I64", 8},
    {DType::i32, "I32", 4},
    {DType::i16, "I16", 2},
    {DType::i8, "I8", 1},
    {DType::u64, "U64", 8},
    {DType::u32, "U32", 4},
    {DType::u16, "U16", 2},
    {DType::u8, "U8", 1},
    {DType::boolean, "BOOL", 1},
    {DType::f8_e4m3, "F8_E4M3", 1},
    {DType::f8_e5m2, "F8_E5M2", 1},
}};

const DTypeInfo& info(DType dtype) {
    for (const DTypeInfo& entry : kDTypes) {
        if (entry.dtype == dtype) {
            return entry;
        }
    }
    return kDTypes[1];  // unreachable for a valid enum value
}

}  // namespace

std::size_t dtype_size(DType dtype) {
    return info(dtype).size;
}

std::string_view dtype_name(DType dtype) {
    return info(dtype).name;
}

std::optional<DType> parse_dtype(std::string_view name) {
    for (const DTypeInfo& entry : kDTypes) {
        if (entry.name == name) {
            return entry.dtype;
        }
    }
    return std::nullopt;
}

std::string_view known_dtype_names() {
    return "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2";
}

float f16_to_f32(std::uint16_t bits) {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    std::uint32_t exponent = (bits >> 10) & 0x1fu;
    std::uint32_t mantissa = bits & 0x3ffu;
    std::uint32_t wide = 0;
    if (exponent == 0x1fu) {
        wide = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN
    } else if (exponent != 0) {
        wide = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        wide = sign;  // signed zero
    } else {
        // Subnormal half: shift the mantissa up until its leading 1 is implicit.
        exponent = 113u;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        wide = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float value = 0.0f;
    std::memcpy(&value, &wide, sizeof value);
    return value;
}

std::uint16_t f32_to_f16(float value) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    const std::uint32_t sign = (bits >> 16) & 0x8000u;
    const std::uint32_t abs_bits = bits & 0x7fffffffu;
    if (abs_bits > 0x7f800000u) {
        return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
    }
    if (abs_bits >= 0x477ff000u) {
        return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
    }
    if (abs_bits < 0x38800000u) {
        // Result is subnormal (or zero): add the magic number that aligns the mantissa.
        float abs_value = 0.0f;
        std::memcpy(&abs_value, &abs_bits, sizeof abs_value);
        const float magic = 0.5f;  // 2^-1: its ulp is 2^-24, the smallest half subnormal
        const float sum = abs_value + magic;
        std::uint32_t sum_bits = 0;
        std::memcpy(&sum_bits, &sum, sizeof sum_bits);
        return static_cast<std::uint16_t>(sign | (sum_bits - 0x3f000000u));
    }
    const std::uint32_t odd = (abs_bits >> 13) & 1u;
    const std::uint32_t rounded = abs_bits + 0xc8000fffu + odd;  // rebias exponent, round even
    return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

bool convert_to_f32(DType dtype, const void* src, std::size_t count, float* dst) {
    switch (dtype) {
        case DType::f32:
            std::memcpy(dst, src, count * sizeof(float));
            return true;
        case DType::bf16: {
            const auto* half = static_cast<const std::uint16_t*>(src);
#pragma omp parallel for schedule(static) if (count > (1u << 16))
            for (std::size_t i = 0; i < count; ++i) {
                dst[i] = bf16_to_f32(half[i]);
            }
            return true;
        }
        case DType::f16: {
            const auto* half = static_cast<const std::uint16_t*>(src);
#pragma omp parallel for schedule(static) if (count > (1u << 16))
            for (std::size_t i = 0; i < count; ++i) {
                dst[i] = f16_to_f32(half[i]);
            }
            return true;
        }
        default:
            return false;
    }
}

}  // namespace mcomp
