// decoder.hpp: the tokenizer.json "decoder" steps, turning token strings back into text.
//
// Supported (tokenizers/src/decoders): Sequence (flattened), Replace, ByteFallback, Fuse,
// Strip, ByteLevel and Metaspace; each works on the list of token strings as its
// decode_chain does, and the final list is concatenated.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tokenizer/regex.hpp"

namespace mcomp::tok {

enum class DecoderKind {
    replace = 1,
    byte_fallback,
    fuse,
    strip,
    byte_level,
    metaspace,
};

struct DecoderStep {
    DecoderKind kind = DecoderKind::fuse;
    std::string text;              // replace: literal pattern; strip/metaspace: the char
    std::optional<Regex> pattern;  // replace with a Regex pattern
    std::string content;           // replace: the replacement
    int strip_start = 0;
    int strip_stop = 0;
    bool metaspace_prepend = true;  // prepend_scheme != never
};

// Runs the steps over `tokens`; without steps the tokens are joined by spaces, as the
// reference does when a tokenizer has no decoder.
std::string decode_tokens(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens,
                          bool has_decoder);

}  // namespace mcomp::tok
