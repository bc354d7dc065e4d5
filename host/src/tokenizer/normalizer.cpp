// normalizer.cpp: see normalizer.hpp.
#include "tokenizer/normalizer.hpp"

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

// replace_all, telling whether a match removed the first char without replacing it.
bool replace_all_at_start(std::string& text, const std::string& from,
                          const std::optional<Regex>& pattern, const std::string& to) {
    std::vector<Span> matches;
    if (pattern) {
        pattern->find_all(text, matches);
    } else if (!from.empty()) {
        for (std::size_t pos = text.find(from); pos != std::string::npos;
             pos = text.find(from, pos + from.size())) {
            matches.emplace_back(pos, pos + from.size());
        }
    }
    if (matches.empty()) {
        return false;
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
    return matches.front().first == 0 && to.empty();
}

// Returns whether leading chars were removed.
bool strip(std::string& text, bool left, bool right) {
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
    return begin > 0;
}

void unicode_form(NormalizerKind kind, std::string& text) {
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
        return;
    }
    const icu::UnicodeString src = icu::UnicodeString::fromUTF8(text);
    // Most text is already normalized; the quick check avoids a copy then.
    if (n->isNormalized(src, status) && U_SUCCESS(status)) {
        return;
    }
    status = U_ZERO_ERROR;
    const icu::UnicodeString dst = n->normalize(src, status);
    if (U_SUCCESS(status)) {
        text.clear();
        dst.toUTF8String(text);
    }
#else
    // The loader refuses these steps when ICU is absent.
    (void)kind;
    (void)text;
#endif
}

}  // namespace

void replace_all(std::string& text, const std::string& from, const std::optional<Regex>& pattern,
                 const std::string& to) {
    replace_all_at_start(text, from, pattern, to);
}

void normalize(const std::vector<NormalizerStep>& steps, std::string& text,
               bool& starts_at_origin) {
    for (const NormalizerStep& step : steps) {
        if (text.empty()) {
            return;
        }
        switch (step.kind) {
            case NormalizerKind::prepend:
                text = step.text + text;
                break;
            case NormalizerKind::replace:
                if (replace_all_at_start(text, step.text, step.pattern, step.content)) {
                    starts_at_origin = false;
                }
                break;
            case NormalizerKind::strip:
                if (strip(text, step.strip_left, step.strip_right)) {
                    starts_at_origin = false;
                }
                break;
            default:
                unicode_form(step.kind, text);
                break;
        }
    }
}

}  // namespace mcomp::tok
