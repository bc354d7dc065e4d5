// tokenizer_impl.hpp: what a loaded Tokenizer holds (private to host/src/tokenizer).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/decoder.hpp"
#include "tokenizer/normalizer.hpp"
#include "tokenizer/pre_tokenizer.hpp"
#include "tokenizer/regex.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp {

struct Tokenizer::Impl {
    tok::BpeModel model;
    std::vector<tok::AddedToken> added;
    tok::StringMap<int32_t> added_ids;                  // content -> id
    std::unordered_map<int32_t, std::size_t> added_at;  // id -> index in `added`
    tok::AddedTokenMatcher raw_matcher;                 // normalized == false
    tok::AddedTokenMatcher normalized_matcher;          // normalized == true
    std::vector<tok::NormalizerStep> normalizers;
    std::vector<tok::PreTokenizerStep> pre_tokenizers;
    std::optional<tok::Regex> gpt2;  // for ByteLevel steps that use the regex
    std::vector<tok::DecoderStep> decoders;
    bool has_decoder = false;
    // add_special_tokens wraps the ids as prefix + ids + suffix.
    std::vector<int32_t> prefix_ids;
    std::vector<int32_t> suffix_ids;
    int32_t bos_id = -1;
    int32_t eos_id = -1;
    int32_t vocab_size = 0;

    int32_t token_to_id(std::string_view token) const;
};

}  // namespace mcomp
