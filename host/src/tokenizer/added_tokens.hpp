// added_tokens.hpp: added and special tokens, found in the text before the model runs.
//
// Reproduces tokenizers/src/tokenizer/added_vocabulary.rs: tokens with normalized=false
// are searched in the raw text, the others in the normalized text (with their content
// normalized the same way); matching is leftmost-longest, then single_word, lstrip and
// rstrip adjust or discard each match.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/pre_tokenizer.hpp"

namespace mcomp::tok {

struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

// One set of patterns (the raw or the normalized ones).
class AddedTokenMatcher {
  public:
    // `patterns[i]` is what to search for token `tokens[i]`; empty patterns are ignored.
    void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);

    bool empty() const { return entries_.empty(); }

    // Cuts `src` (a piece the model has not seen) into text pieces and added tokens.
    void split(const Piece& src, std::vector<Piece>& dst) const;

  private:
    struct Entry {
        std::string pattern;
        int32_t id = -1;
        bool single_word = false;
        bool lstrip = false;
        bool rstrip = false;
    };
    // Index of the longest entry matching at text[pos], or -1.
    int longest_at(const std::string& text, std::size_t pos) const;

    std::vector<Entry> entries_;                    // longest pattern first
    std::array<std::vector<int>, 256> by_first_{};  // entries by first byte
};

}  // namespace mcomp::tok
