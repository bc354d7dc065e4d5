// unicode.cpp: see unicode.hpp.
#include "tokenizer/unicode.hpp"

#include <vector>

namespace mcomp::tok {

namespace {

// Valid second-byte range for a lead byte (Unicode 15, Table 3-7); false for bytes that
// can never start a sequence.
bool second_byte_range(unsigned char lead, unsigned char& lo, unsigned char& hi) {
    lo = 0x80;
    hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        return true;
    }
    if (lead == 0xE0) {
        lo = 0xA0;
        return true;
    }
    if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
        return true;
    }
    if (lead == 0xED) {
        hi = 0x9F;
        return true;
    }
    if (lead == 0xF0) {
        lo = 0x90;
        return true;
    }
    if (lead >= 0xF1 && lead <= 0xF3) {
        return true;
    }
    if (lead == 0xF4) {
        hi = 0x8F;
        return true;
    }
    return false;
}

// Bytes of the longest prefix at s[pos] that is (the start of) a valid sequence, and
// whether it is complete. Drives both validation and the lossy repair.
std::size_t utf8_prefix_len(std::string_view s, std::size_t pos, bool& complete) {
    const auto lead = static_cast<unsigned char>(s[pos]);
    complete = true;
    if (lead < 0x80) {
        return 1;
    }
    unsigned char lo = 0;
    unsigned char hi = 0;
    complete = false;
    if (!second_byte_range(lead, lo, hi)) {
        return 0;
    }
    const std::size_t need = utf8_seq_len(lead);
    std::size_t got = 1;
    while (got < need && pos + got < s.size()) {
        const auto b = static_cast<unsigned char>(s[pos + got]);
        const bool ok = got == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) {
            break;
        }
        ++got;
    }
    complete = got == need;
    return got;
}

}  // namespace

std::size_t utf8_valid_len_at(std::string_view s, std::size_t pos) {
    bool complete = false;
    const std::size_t n = utf8_prefix_len(s, pos, complete);
    return complete ? n : 0;
}

bool utf8_is_valid(std::string_view s) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (static_cast<unsigned char>(s[pos]) < 0x80) {
            ++pos;
            continue;
        }
        const std::size_t n = utf8_valid_len_at(s, pos);
        if (n == 0) {
            return false;
        }
        pos += n;
    }
    return true;
}

std::string utf8_lossy(std::string_view bytes) {
    static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
    std::string dst;
    dst.reserve(bytes.size());
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        bool complete = false;
        const std::size_t n = utf8_prefix_len(bytes, pos, complete);
        if (complete) {
            dst.append(bytes.substr(pos, n));
            pos += n;
        } else {
            // A maximal subpart (at least the lead byte) becomes one replacement char.
            dst.append(kReplacement);
            pos += n == 0 ? 1 : n;
        }
    }
    return dst;
}

char32_t utf8_decode_at(std::string_view s, std::size_t pos, std::size_t& len_out) {
    const auto lead = static_cast<unsigned char>(s[pos]);
    const std::size_t n = utf8_seq_len(lead);
    len_out = n;
    if (n == 1) {
        return lead;
    }
    char32_t cp = lead & (0x7F >> n);
    for (std::size_t i = 1; i < n; ++i) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
    }
    return cp;
}

void utf8_append(std::string& dst, char32_t cp) {
    if (cp < 0x80) {
        dst.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        dst.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        dst.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        dst.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        dst.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        dst.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        dst.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        dst.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        dst.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        dst.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

bool is_unicode_whitespace(char32_t cp) {
    if (cp <= 0x20) {
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    }
    switch (cp) {
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

namespace {

// bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// 256, 257, ... in byte order.
std::array<char32_t, 256> make_byte_level_code_points() {
    std::array<char32_t, 256> cps{};
    char32_t next_free = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable =
            (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cps[b] = printable ? static_cast<char32_t>(b) : next_free++;
    }
    return cps;
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        const std::array<char32_t, 256> cps = make_byte_level_code_points();
        for (int b = 0; b < 256; ++b) {
            utf8_append(t[b], cps[b]);
        }
        return t;
    }();
    return table;
}

int byte_level_byte(char32_t cp) {
    static const std::vector<int> reverse = [] {
        const std::array<char32_t, 256> cps = make_byte_level_code_points();
        std::vector<int> r(512, -1);
        for (int b = 0; b < 256; ++b) {
            r[cps[b]] = b;
        }
        return r;
    }();
    return cp < reverse.size() ? reverse[cp] : -1;
}

}  // namespace mcomp::tok
