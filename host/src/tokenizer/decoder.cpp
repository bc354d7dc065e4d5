// decoder.cpp: see decoder.hpp.
#include "tokenizer/decoder.hpp"

#include "tokenizer/normalizer.hpp"
#include "tokenizer/unicode.hpp"

namespace mcomp::tok {

namespace {

using Tokens = std::vector<std::string>;

// `<0xXX>` -> the byte, or -1 (ByteFallback).
int fallback_byte(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') {
        return -1;
    }
    int value = 0;
    for (int i = 3; i < 5; ++i) {
        const char c = token[i];
        int digit = -1;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        }
        if (digit < 0) {
            return -1;
        }
        value = value * 16 + digit;
    }
    return value;
}

// Runs of byte tokens become their UTF-8 text, or one U+FFFD per byte when invalid.
Tokens byte_fallback(Tokens tokens) {
    Tokens out;
    std::string bytes;
    auto flush = [&] {
        if (bytes.empty()) {
            return;
        }
        if (utf8_is_valid(bytes)) {
            out.push_back(bytes);
        } else {
            for (std::size_t i = 0; i < bytes.size(); ++i) {
                out.emplace_back("\xEF\xBF\xBD");
            }
        }
        bytes.clear();
    };
    for (std::string& t : tokens) {
        const int b = fallback_byte(t);
        if (b >= 0) {
            bytes.push_back(static_cast<char>(b));
            continue;
        }
        flush();
        out.push_back(std::move(t));
    }
    flush();
    return out;
}

// Removes up to `start` leading and `stop` trailing copies of the char `c`.
Tokens strip(Tokens tokens, const std::string& c, int start, int stop) {
    for (std::string& t : tokens) {
        std::size_t begin = 0;
        for (int i = 0; i < start && t.compare(begin, c.size(), c) == 0; ++i) {
            begin += c.size();
        }
        std::size_t end = t.size();
        for (int i = 0;
             i < stop && end >= begin + c.size() && t.compare(end - c.size(), c.size(), c) == 0;
             ++i) {
            end -= c.size();
        }
        t = t.substr(begin, end - begin);
    }
    return tokens;
}

// Token chars -> bytes through the GPT-2 table (a token with a char outside the table is
// kept as its own bytes), then the bytes read as UTF-8 lossily.
Tokens byte_level(const Tokens& tokens) {
    std::string bytes;
    for (const std::string& t : tokens) {
        std::string mapped;
        bool all_mapped = true;
        std::size_t pos = 0;
        while (pos < t.size() && all_mapped) {
            std::size_t n = 0;
            const int b = byte_level_byte(utf8_decode_at(t, pos, n));
            all_mapped = b >= 0;
            mapped.push_back(static_cast<char>(b));
            pos += n;
        }
        bytes += all_mapped ? mapped : t;
    }
    return {utf8_lossy(bytes)};
}

// The replacement char becomes a space, except in the first token when a prefix was
// prepended at encoding time.
Tokens metaspace(Tokens tokens, const std::string& rep, bool prepend) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const bool drop = i == 0 && prepend;
        std::string out;
        std::size_t pos = 0;
        const std::string& t = tokens[i];
        while (pos < t.size()) {
            if (t.compare(pos, rep.size(), rep) == 0) {
                if (!drop) {
                    out.push_back(' ');
                }
                pos += rep.size();
            } else {
                out.push_back(t[pos++]);
            }
        }
        tokens[i] = std::move(out);
    }
    return tokens;
}

}  // namespace

std::string decode_tokens(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens,
                          bool has_decoder) {
    std::string text;
    if (!has_decoder) {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            text += (i > 0 ? " " : "") + tokens[i];
        }
        return text;
    }
    for (const DecoderStep& step : steps) {
        switch (step.kind) {
            case DecoderKind::replace:
                for (std::string& t : tokens) {
                    replace_all(t, step.text, step.pattern, step.content);
                }
                break;
            case DecoderKind::byte_fallback:
                tokens = byte_fallback(std::move(tokens));
                break;
            case DecoderKind::fuse: {
                std::string all;
                for (const std::string& t : tokens) {
                    all += t;
                }
                tokens = {all};
                break;
            }
            case DecoderKind::strip:
                tokens = strip(std::move(tokens), step.text, step.strip_start, step.strip_stop);
                break;
            case DecoderKind::byte_level:
                tokens = byte_level(tokens);
                break;
            case DecoderKind::metaspace:
                tokens = metaspace(std::move(tokens), step.text, step.metaspace_prepend);
                break;
        }
    }
    for (const std::string& t : tokens) {
        text += t;
    }
    return text;
}

}  // namespace mcomp::tok
