// pre_tokenizer.hpp: the tokenizer.json "pre_tokenizer" steps and the pieces they cut.
//
// Supported (tokenizers/src/pre_tokenizers): Sequence (flattened), Split (String or Regex
// pattern, all five delimiter behaviours, invert), ByteLevel (GPT-2 regex, prefix space,
// byte-to-char mapping), Metaspace (replacement, prepend_scheme always/first/never,
// split) and Digits. Together they cover GPT-2, Llama-3, Qwen2, SmolLM and Llama-2.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/regex.hpp"

namespace mcomp::tok {

// A stretch of text on its way to the model, or an added token already recognised.
struct Piece {
    std::string text;
    int32_t id = -1;  // an added token's id; -1 while the model still has to run
    // Leading bytes that stand for the first char of the caller's text, 0 when the piece
    // begins later (see normalize() in normalizer.hpp); Metaspace "first" reads it.
    std::size_t origin_bytes = 0;
};

// The origin prefix of the part [begin, end) of `src`.
inline std::size_t origin_of_part(const Piece& src, std::size_t begin, std::size_t end) {
    return begin < src.origin_bytes ? std::min(src.origin_bytes, end) - begin : 0;
}

// How the matches of a pattern cut a piece (SplitDelimiterBehavior).
enum class SplitBehavior {
    removed = 1,
    isolated,
    merged_with_previous,
    merged_with_next,
    contiguous,
};

enum class PrependScheme {
    always = 1,
    first,
    never,
};

enum class PreTokenizerKind {
    split = 1,
    byte_level,
    metaspace,
};

struct PreTokenizerStep {
    PreTokenizerKind kind = PreTokenizerKind::split;
    // split (Digits is a split on \p{N} too)
    std::optional<Regex> pattern;  // absent: the literal `text`
    std::string text;
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
    // byte_level
    bool add_prefix_space = false;
    bool use_regex = true;
    // metaspace (`text` holds the replacement char)
    PrependScheme prepend_scheme = PrependScheme::always;
    bool split = true;
};

// The regex ByteLevel splits with (tokenizers/src/pre_tokenizers/byte_level.rs).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Runs the steps over the pieces that still need the model; added tokens pass through.
// `gpt2` is the compiled kGpt2Pattern (needed when a ByteLevel step uses its regex).
void pre_tokenize(const std::vector<PreTokenizerStep>& steps, const Regex* gpt2,
                  std::vector<Piece>& pieces);

// Cuts `src` at `matches` (sorted, non-overlapping spans of src.text) per `behavior`,
// dropping empty parts: NormalizedString::split.
void split_piece(const Piece& src, const std::vector<Span>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& dst);

}  // namespace mcomp::tok
