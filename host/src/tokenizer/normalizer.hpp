// normalizer.hpp: the tokenizer.json "normalizer" steps the BPE tokenizers in use need.
//
// Supported (tokenizers/src/normalizers): Sequence (flattened into a list of steps),
// Prepend, Replace (String or Regex pattern), Strip, and the Unicode forms NFC, NFD, NFKC,
// NFKD when the build has ICU. Llama-2 style tokenizers use Prepend("▁") + Replace(" ",
// "▁"); Qwen2 uses NFC; GPT-2, Llama-3 and SmolLM have none.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/regex.hpp"

namespace mcomp::tok {

enum class NormalizerKind {
    prepend = 1,
    replace,
    strip,
    nfc,
    nfd,
    nfkc,
    nfkd,
};

struct NormalizerStep {
    NormalizerKind kind = NormalizerKind::prepend;
    std::string text;              // prepend: what to prepend; replace: the literal pattern
    std::optional<Regex> pattern;  // replace with a Regex pattern
    std::string content;           // replace: the replacement
    bool strip_left = false;
    bool strip_right = false;
};

// Whether this build can run a Unicode normalization form (it needs ICU).
bool unicode_forms_available();

// Applies the steps in order to `text` (valid UTF-8). An empty text stays empty, as the
// reference's Prepend skips it.
//
// `origin_bytes` is how many leading bytes of `text` stand for the first char of the
// caller's whole text (0 when `text` begins later). The reference keeps an alignment to
// the original text for every byte, and Metaspace's prepend_scheme "first" asks whether a
// piece begins at original offset 0; this prefix length is all of it that the pipeline
// needs. Each step updates it the way the reference's alignments move.
void normalize(const std::vector<NormalizerStep>& steps, std::string& text,
               std::size_t& origin_bytes);

// Replaces every non-overlapping occurrence, left to right (literal `from` when
// `pattern` is empty, else the regex's matches); returns the new origin prefix length.
std::size_t replace_all(std::string& text, const std::string& from,
                        const std::optional<Regex>& pattern, const std::string& to,
                        std::size_t origin_bytes = 0);

// Prepends to a non-empty text; returns the new origin prefix length.
std::size_t prepend_to(std::string& text, const std::string& prefix, std::size_t origin_bytes);

}  // namespace mcomp::tok
