// tiny_metaspace.hpp: the small sentencepiece-style tokenizer.json files the metaspace and
// golden tests build, the same ones tests/golden/tokenizer/make_golden.py builds for the
// reference library (test_golden.cpp checks that the two still agree).
//
// Ids: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, "▁" 259, a..z 260..285, "." 286,
// "," 287, then the merges below in rank order (288..299).
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mcomp::test {

inline const std::vector<std::pair<std::string, std::string>>& tiny_metaspace_merges() {
    static const std::vector<std::pair<std::string, std::string>> merges = {
        {"▁", "h"}, {"e", "l"},   {"l", "o"}, {"▁h", "el"},   {"▁hel", "lo"}, {"▁", "w"},
        {"o", "r"}, {"▁w", "or"}, {"l", "d"}, {"▁wor", "ld"}, {"▁", "▁"},     {"▁", "a"},
    };
    return merges;
}

// variant "llama2": Prepend + Replace normalizer, no pre-tokenizer, byte fallback, fused
// <unk>, "a b" merges. "metaspace_first": Metaspace(prepend_scheme first, split false),
// byte fallback, [a, b] merges. "metaspace_always": Metaspace(always, split true), no byte
// fallback and unfused <unk>.
inline nlohmann::json tiny_metaspace_tokenizer(const std::string& variant) {
    using nlohmann::json;
    json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
    for (int b = 0; b < 256; ++b) {
        char name[8] = {};
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        vocab[name] = static_cast<int>(vocab.size());
    }
    vocab["▁"] = static_cast<int>(vocab.size());
    for (const char* c = "abcdefghijklmnopqrstuvwxyz.,"; *c != '\0'; ++c) {
        vocab[std::string(1, *c)] = static_cast<int>(vocab.size());
    }
    const bool llama2 = variant == "llama2";
    json merges = json::array();
    for (const auto& [a, b] : tiny_metaspace_merges()) {
        vocab[a + b] = static_cast<int>(vocab.size());
        merges.push_back(llama2 ? json(a + " " + b) : json::array({a, b}));
    }
    json added = json::array();
    for (const char* c : {"<unk>", "<s>", "</s>"}) {
        added.push_back({{"id", static_cast<int>(added.size())},
                         {"content", c},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", true}});
    }
    json normalizer = nullptr;
    json pre = nullptr;
    json decoder;
    if (llama2) {
        normalizer = {{"type", "Sequence"},
                      {"normalizers",
                       {{{"type", "Prepend"}, {"prepend", "▁"}},
                        {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}};
        decoder = {{"type", "Sequence"},
                   {"decoders",
                    {{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                     {{"type", "ByteFallback"}},
                     {{"type", "Fuse"}},
                     {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
    } else {
        const bool first = variant == "metaspace_first";
        const json meta = {{"type", "Metaspace"},
                           {"replacement", "▁"},
                           {"prepend_scheme", first ? "first" : "always"},
                           {"split", !first}};
        pre = meta;
        decoder = {{"type", "Sequence"},
                   {"decoders", {meta, {{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
    }
    const json bos = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
    const json bos1 = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}};
    const json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
    const json seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
    json specials = json::object();
    specials["<s>"] = {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}};
    const json post = {{"type", "TemplateProcessing"},
                       {"single", {bos, seq_a}},
                       {"pair", {bos, seq_a, bos1, seq_b}},
                       {"special_tokens", specials}};
    const bool fallback = variant != "metaspace_always";
    return {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", normalizer},
        {"pre_tokenizer", pre},
        {"post_processor", post},
        {"decoder", decoder},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", "<unk>"},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", fallback},
          {"byte_fallback", fallback},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", merges}}},
    };
}

}  // namespace mcomp::test
