// test_dtype.cpp: dtype names and sizes, and the 16-bit float conversions.
#include "model/dtype.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace mcomp {
namespace {

TEST(DType, NamesRoundTripAndSizes) {
    const std::pair<const char*, std::size_t> cases[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
        {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
        {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (const auto& [name, size] : cases) {
        const std::optional<DType> dtype = parse_dtype(name);
        ASSERT_TRUE(dtype.has_value()) << name;
        EXPECT_EQ(dtype_name(*dtype), name);
        EXPECT_EQ(dtype_size(*dtype), size) << name;
    }
    EXPECT_FALSE(parse_dtype("f32").has_value());
    EXPECT_FALSE(parse_dtype("F12").has_value());
}

TEST(DType, Bf16RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
    // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa.
    EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
    EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, F16KnownValues) {
    EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
    EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
    EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // halfway past the largest half: to inf
    EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even (zero)
    EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // tie to even (2)
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
}

TEST(DType, F16RoundTripsEveryHalf) {
    for (std::uint32_t bits = 0; bits < 0x10000u; ++bits) {
        const auto half = static_cast<std::uint16_t>(bits);
        const float value = f16_to_f32(half);
        if (std::isnan(value)) {
            continue;
        }
        ASSERT_EQ(f32_to_f16(value), half) << std::hex << bits;
    }
}

TEST(DType, ConvertToF32) {
    const std::uint16_t bf16[] = {0x3f80, 0xc000};
    const std::uint16_t f16[] = {0x3c00, 0xc000};
    const std::int32_t i32[] = {1, 2};
    float dst[2] = {0.0f, 0.0f};
    ASSERT_TRUE(convert_to_f32(DType::bf16, bf16, 2, dst));
    EXPECT_EQ(dst[0], 1.0f);
    EXPECT_EQ(dst[1], -2.0f);
    ASSERT_TRUE(convert_to_f32(DType::f16, f16, 2, dst));
    EXPECT_EQ(dst[0], 1.0f);
    EXPECT_EQ(dst[1], -2.0f);
    EXPECT_FALSE(convert_to_f32(DType::i32, i32, 2, dst));
}

}  // namespace
}  // namespace mcomp
