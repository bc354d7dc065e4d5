// normalizer.cpp: see normalizer.hpp.
#include "tokenizer/normalizer.hpp"

#include <algorithm>
#include <cstddef>

#include "tokenizer/unicode.hpp"

#ifdef MCOMP_TOKENIZER_HAVE_ICU
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#endif

namespace mcomp::tok {

bool unicode_forms_available() {
#ifdef MCOMP_TOKENIZER_HAVE_ICU
    return true;
#else
    return false;
#endif
}

namespace {

std::vector<Span> find_all_of(const std::string& text, const std::string& from,
                              const std::optional<Regex>& pattern) {
    std::vector<Span> matches;
    if (pattern) {
        pattern->find_all(text, matches);
    } else if (!from.empty()) {
        for (std::size_t pos = text.find(from); pos != std::string::npos;
             pos = text.find(from, pos + from.size())) {
            matches.emplace_back(pos, pos + from.size());
        }
    }
    return matches;
}

// Where the origin prefix ends after the replacements. The reference aligns inserted
// chars with the last char they replace (NormalizedString::transform_range), so a match
// inside the prefix stays in it, and one that reaches past it cuts it at its start.
std::size_t origin_after_replace(const std::vector<Span>& matches, std::size_t origin_bytes,
                                 std::size_t to_size) {
    std::ptrdiff_t growth = 0;
    for (const Span& m : matches) {
        if (m.first >= origin_bytes) {
            break;
        }
        if (m.second > origin_bytes) {
            return static_cast<std::size_t>(static_cast<std::ptrdiff_t>(m.first) + growth);
        }
        growth +=
            static_cast<std::ptrdiff_t>(to_size) - static_cast<std::ptrdiff_t>(m.second - m.first);
    }
    return static_cast<std::size_t>(static_cast<std::ptrdiff_t>(origin_bytes) + growth);
}

// Removes whitespace at the ends; returns how many leading bytes went.
std::size_t strip(std::string& text, bool left, bool right) {
    std::size_t begin = 0;
    std::size_t end = text.size();
    std::size_t n = 0;
    while (left && begin < end && is_unicode_whitespace(utf8_decode_at(text, begin, n))) {
        begin += n;
    }
    while (right && end > begin) {
        std::size_t last = end - 1;
        while (last > begin && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) {
            --last;
        }
        if (!is_unicode_whitespace(utf8_decode_at(text, last, n))) {
            break;
        }
        end = last;
    }
    text = text.substr(begin, end - begin);
    return begin;
}

// Applies a Unicode normalization form; false when the text was already in it.
bool apply_form(NormalizerKind kind, std::string& text) {
#ifdef MCOMP_TOKENIZER_HAVE_ICU
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = nullptr;
    switch (kind) {
        case NormalizerKind::nfc:
            n = icu::Normalizer2::getNFCInstance(status);
            break;
        case NormalizerKind::nfd:
            n = icu::Normalizer2::getNFDInstance(status);
            break;
        case NormalizerKind::nfkc:
            n = icu::Normalizer2::getNFKCInstance(status);
            break;
        default:
            n = icu::Normalizer2::getNFKDInstance(status);
            break;
    }
    if (U_FAILURE(status) || n == nullptr) {
        return false;
    }
    const icu::UnicodeString src = icu::UnicodeString::fromUTF8(text);
    // Most text is already normalized; the quick check avoids a copy then.
    if (n->isNormalized(src, status) && U_SUCCESS(status)) {
        return false;
    }
    status = U_ZERO_ERROR;
    const icu::UnicodeString dst = n->normalize(src, status);
    if (U_FAILURE(status)) {
        return false;
    }
    text.clear();
    dst.toUTF8String(text);
    return true;
#else
    // The loader refuses these steps when ICU is absent.
    (void)kind;
    (void)text;
    return false;
#endif
}

// A normalization form, and where the origin prefix ends after it: the prefix's own
// normalized form when the text still starts with it; else the prefix's last char was
// composed with what followed, and the composed char keeps that char's alignment.
std::size_t unicode_form(NormalizerKind kind, std::string& text, std::size_t origin_bytes) {
    std::string prefix = text.substr(0, origin_bytes);
    if (!apply_form(kind, text) || origin_bytes == 0 || text.empty()) {
        return std::min(origin_bytes, text.size());
    }
    apply_form(kind, prefix);
    std::size_t common = 0;  // whole chars the text and the prefix share
    while (common < prefix.size() && common < text.size()) {
        const std::size_t n = utf8_seq_len(static_cast<unsigned char>(text[common]));
        if (text.compare(common, n, prefix, common, n) != 0) {
            break;
        }
        common += n;
    }
    if (common == prefix.size() || common >= text.size()) {
        return common;
    }
    return common + utf8_seq_len(static_cast<unsigned char>(text[common]));
}

}  // namespace

std::size_t replace_all(std::string& text, const std::string& from,
                        const std::optional<Regex>& pattern, const std::string& to,
                        std::size_t origin_bytes) {
    const std::vector<Span> matches = find_all_of(text, from, pattern);
    if (matches.empty()) {
        return origin_bytes;
    }
    std::string dst;
    dst.reserve(text.size() + matches.size() * to.size());
    std::size_t prev = 0;
    for (const Span& m : matches) {
        dst.append(text, prev, m.first - prev);
        dst.append(to);
        prev = m.second;
    }
    dst.append(text, prev, std::string::npos);
    text = std::move(dst);
    return origin_after_replace(matches, origin_bytes, to.size());
}

std::size_t prepend_to(std::string& text, const std::string& prefix, std::size_t origin_bytes) {
    if (text.empty()) {
        return origin_bytes;
    }
    text = prefix + text;
    // The prepended chars take the alignment of the first char (NormalizedString::prepend).
    return origin_bytes > 0 ? origin_bytes + prefix.size() : 0;
}

void normalize(const std::vector<NormalizerStep>& steps, std::string& text,
               std::size_t& origin_bytes) {
    for (const NormalizerStep& step : steps) {
        if (text.empty()) {
            return;
        }
        switch (step.kind) {
            case NormalizerKind::prepend:
                origin_bytes = prepend_to(text, step.text, origin_bytes);
                break;
            case NormalizerKind::replace:
                origin_bytes =
                    replace_all(text, step.text, step.pattern, step.content, origin_bytes);
                break;
            case NormalizerKind::strip: {
                const std::size_t removed = strip(text, step.strip_left, step.strip_right);
                origin_bytes = origin_bytes > removed ? origin_bytes - removed : 0;
                origin_bytes = std::min(origin_bytes, text.size());
                break;
            }
            default:
                origin_bytes = unicode_form(step.kind, text, origin_bytes);
                break;
        }
    }
}

}  // namespace mcomp::tok
