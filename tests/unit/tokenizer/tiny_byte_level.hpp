// tiny_byte_level.hpp: the small GPT-2 style byte-level tokenizer.json the byte-level and
// golden tests build, the same one tests/golden/tokenizer/make_golden.py builds for the
// reference library (test_golden.cpp checks that the two still agree).
//
// Ids 0..255 are the bytes (id == byte value, as GPT-2 chars), 256..276 the merges below
// in rank order, 277 "Ġhello" (a token no merge makes), then the added tokens
// 278 <|begin_of_text|>, 279 <|end_of_text|>, 280 <mask> (lstrip).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/unicode.hpp"

namespace mcomp::test {

inline const std::vector<std::pair<std::string, std::string>>& tiny_merges() {
    static const std::vector<std::pair<std::string, std::string>> merges = {
        {"Ġ", "t"},  {"h", "e"},    {"Ġt", "he"}, {"l", "l"}, {"he", "ll"},   {"hell", "o"},
        {"Ġ", "w"},  {"o", "r"},    {"Ġw", "or"}, {"l", "d"}, {"Ġwor", "ld"}, {"i", "n"},
        {"in", "g"}, {"1", "2"},    {"Ġ", "Ġ"},   {"Ċ", "Ċ"}, {"Ã", "©"},     {"c", "a"},
        {"ca", "f"}, {"caf", "Ã©"}, {"'", "s"},
    };
    return merges;
}

inline constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

inline nlohmann::json tiny_added_token(int id, const char* content, bool lstrip) {
    return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", lstrip},
            {"rstrip", false}, {"normalized", false}, {"special", true}};
}

// variant "llama3": Split(Llama-3 regex) + ByteLevel(use_regex=false), [a, b] merges,
// ignore_merges, BOS template. variant "gpt2": ByteLevel(use_regex=true), "a b" merges.
inline nlohmann::json tiny_byte_level_tokenizer(const std::string& variant) {
    using nlohmann::json;
    const bool llama3 = variant == "llama3";
    json vocab = json::object();
    const auto& chars = mcomp::tok::byte_level_chars();
    for (int b = 0; b < 256; ++b) {
        vocab[chars[b]] = b;
    }
    json merges = json::array();
    for (const auto& [a, b] : tiny_merges()) {
        vocab[a + b] = static_cast<int>(vocab.size());
        merges.push_back(llama3 ? json::array({a, b}) : json(a + " " + b));
    }
    vocab["Ġhello"] = static_cast<int>(vocab.size());
    const int n = static_cast<int>(vocab.size());
    const json byte_level = {{"type", "ByteLevel"},
                             {"add_prefix_space", false},
                             {"trim_offsets", true},
                             {"use_regex", !llama3}};
    json pre = byte_level;
    json post = {{"type", "ByteLevel"},
                 {"add_prefix_space", true},
                 {"trim_offsets", false},
                 {"use_regex", true}};
    if (llama3) {
        pre = {{"type", "Sequence"},
               {"pretokenizers",
                {{{"type", "Split"},
                  {"pattern", {{"Regex", kLlama3Pattern}}},
                  {"behavior", "Isolated"},
                  {"invert", false}},
                 byte_level}}};
        const json bos = {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}};
        const json bos1 = {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 1}}}};
        const json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
        const json seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
        json specials = json::object();
        specials["<|begin_of_text|>"] = {
            {"id", "<|begin_of_text|>"}, {"ids", {n}}, {"tokens", {"<|begin_of_text|>"}}};
        const json tmpl = {{"type", "TemplateProcessing"},
                           {"single", {bos, seq_a}},
                           {"pair", {bos, seq_a, bos1, seq_b}},
                           {"special_tokens", specials}};
        post = {{"type", "Sequence"}, {"processors", {post, tmpl}}};
    }
    return {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens",
         {tiny_added_token(n, "<|begin_of_text|>", false),
          tiny_added_token(n + 1, "<|end_of_text|>", false),
          tiny_added_token(n + 2, "<mask>", true)}},
        {"normalizer", nullptr},
        {"pre_tokenizer", pre},
        {"post_processor", post},
        {"decoder",
         {{"type", "ByteLevel"},
          {"add_prefix_space", true},
          {"trim_offsets", true},
          {"use_regex", true}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", llama3},
          {"vocab", vocab},
          {"merges", merges}}},
    };
}

}  // namespace mcomp::test
