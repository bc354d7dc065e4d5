// test_unicode.cpp: UTF-8 validation and lossy repair (Rust from_utf8_lossy semantics),
// code point helpers, and the GPT-2 byte-level table.
#include <gtest/gtest.h>

#include "tokenizer/unicode.hpp"

namespace mcomp::tok {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(TokUtf8, ValidatesStrictly) {
    EXPECT_TRUE(utf8_is_valid("plain ASCII"));
    EXPECT_TRUE(utf8_is_valid("café 日本 😀"));
    EXPECT_FALSE(utf8_is_valid("\xC0\xAF")) << "overlong";
    EXPECT_FALSE(utf8_is_valid("\xED\xA0\x80")) << "surrogate";
    EXPECT_FALSE(utf8_is_valid("\xF4\x90\x80\x80")) << "above U+10FFFF";
    EXPECT_FALSE(utf8_is_valid("\xE6\x97")) << "truncated";
}

TEST(TokUtf8, LossyReplacesMaximalSubparts) {
    // Unicode "substitution of maximal subparts", as Rust and Python do it.
    EXPECT_EQ(utf8_lossy("a\xFF"
                         "b"),
              "a" + kFffd + "b");
    EXPECT_EQ(utf8_lossy("\xE6\x97"
                         "x"),
              kFffd + "x")
        << "a truncated sequence is one replacement";
    EXPECT_EQ(utf8_lossy("\xC0\xAF"), kFffd + kFffd) << "C0 never starts a sequence";
    EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);
    EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), kFffd);
    EXPECT_EQ(utf8_lossy("ok 😀"), "ok 😀");
}

TEST(TokUtf8, DecodesAndEncodesCodePoints) {
    std::size_t n = 0;
    EXPECT_EQ(utf8_decode_at("😀", 0, n), U'\U0001F600');
    EXPECT_EQ(n, 4u);
    std::string s;
    for (const char32_t cp : {U'a', U'é', U'▁', U'\U0001F600'}) {
        utf8_append(s, cp);
    }
    EXPECT_EQ(s, "aé▁😀");
}

TEST(TokUnicode, WhitespaceIsRustsWhiteSpace) {
    for (const char32_t cp :
         {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', U'\u0085', U'\u00A0', U'\u2003', U'\u3000'}) {
        EXPECT_TRUE(is_unicode_whitespace(cp)) << static_cast<uint32_t>(cp);
    }
    for (const char32_t cp : {U'a', U'_', U'\u200B', U'▁'}) {
        EXPECT_FALSE(is_unicode_whitespace(cp)) << static_cast<uint32_t>(cp);
    }
}

TEST(TokByteLevelTable, MatchesGpt2BytesToUnicode) {
    const auto& chars = byte_level_chars();
    EXPECT_EQ(chars['A'], "A");
    EXPECT_EQ(chars[' '], "Ġ") << "U+0120: 32 is the 33rd unprintable byte";
    EXPECT_EQ(chars['\n'], "Ċ");
    EXPECT_EQ(chars[0], "Ā");
    EXPECT_EQ(chars[0xAD], "Ń") << "soft hyphen is not printable";
    EXPECT_EQ(chars[0xE9], "é");
    for (int b = 0; b < 256; ++b) {
        std::size_t n = 0;
        EXPECT_EQ(byte_level_byte(utf8_decode_at(chars[b], 0, n)), b);
    }
    EXPECT_EQ(byte_level_byte(U'▁'), -1);
}

}  // namespace
}  // namespace mcomp::tok
