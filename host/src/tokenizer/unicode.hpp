// unicode.hpp: the UTF-8 and byte-level helpers the tokenizer pipeline needs.
//
// The Hugging Face `tokenizers` library works on Rust `String`s, which are always valid
// UTF-8; these helpers give the C++ pipeline the same footing (lossy repair of invalid
// input, code point iteration, Rust's `char::is_whitespace`) and the GPT-2 byte-to-char
// table of the ByteLevel pre-tokenizer and decoder.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcomp::tok {

// Bytes of the UTF-8 sequence a lead byte starts (1 for ASCII and for stray bytes).
inline std::size_t utf8_seq_len(unsigned char lead) {
    if (lead < 0xC0) {
        return 1;
    }
    if (lead < 0xE0) {
        return 2;
    }
    return lead < 0xF0 ? 3 : 4;
}

// Length of the valid UTF-8 sequence at s[pos], or 0 when it is ill-formed there.
std::size_t utf8_valid_len_at(std::string_view s, std::size_t pos);

bool utf8_is_valid(std::string_view s);

// Converts bytes to valid UTF-8 the way Rust's String::from_utf8_lossy does: each maximal
// ill-formed subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// The code point of the valid sequence at s[pos]; `len_out` receives its byte length.
char32_t utf8_decode_at(std::string_view s, std::size_t pos, std::size_t& len_out);

void utf8_append(std::string& dst, char32_t cp);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_unicode_whitespace(char32_t cp);

// The ByteLevel table of GPT-2 (openai/gpt-2 encoder.py bytes_to_unicode): every byte
// maps to one printable code point, stored here as its UTF-8 text.
const std::array<std::string, 256>& byte_level_chars();

// Reverse of byte_level_chars: the byte a code point stands for, or -1.
int byte_level_byte(char32_t cp);

}  // namespace mcomp::tok
