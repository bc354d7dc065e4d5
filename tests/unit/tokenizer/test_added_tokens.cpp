// test_added_tokens.cpp: added tokens found before the model runs: lstrip, rstrip,
// single_word (with Unicode word chars), added tokens that are already in the vocabulary,
// and the ids the reference assigns when a file's ids disagree with it. Expected ids come
// from the Hugging Face `tokenizers` library (0.23.2).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.hpp"

namespace mcomp {
namespace {

using Ids = std::vector<int32_t>;
using nlohmann::json;

json added(int id, const char* content, const char* flag) {
    json t = {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", false}, {"special", false}};
    if (flag != nullptr) {
        t[flag] = true;
    }
    return t;
}

// Vocabulary {<unk>, a, b, ab, " ", U+0301}; the file's added-token ids (10, 20, 30, 40)
// are not the ones the reference gives them (6, 7, 8, and 3 for "ab", in the vocabulary).
Tokenizer make() {
    json j = {{"added_tokens",
               {added(10, "<x>", "lstrip"), added(20, "<y>", "rstrip"),
                added(30, "<w>", "single_word"), added(40, "ab", "special")}},
              {"model",
               {{"type", "BPE"},
                {"unk_token", "<unk>"},
                {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {" ", 4}, {"\u0301", 5}}},
                {"merges", {"a b"}}}}};
    Expected<Tokenizer> t = Tokenizer::from_json(j.dump(), "", "mem");
    EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().message);
    return std::move(t.value());
}

TEST(TokAddedTokens, IdsFollowTheVocabularyLikeTheReference) {
    const Tokenizer t = make();
    EXPECT_EQ(t.token_to_id("<x>"), 6);
    EXPECT_EQ(t.token_to_id("<y>"), 7);
    EXPECT_EQ(t.token_to_id("<w>"), 8);
    EXPECT_EQ(t.token_to_id("ab"), 3);
    EXPECT_EQ(t.vocab_size(), 9);
    EXPECT_EQ(t.encode("abab", false), (Ids{3, 3}));
}

TEST(TokAddedTokens, StripTakesNeighbouringSpaces) {
    const Tokenizer t = make();
    EXPECT_EQ(t.encode("a  <x>b", false), (Ids{1, 6, 2})) << "lstrip";
    EXPECT_EQ(t.encode("a<y>  b", false), (Ids{1, 7, 2})) << "rstrip";
}

TEST(TokAddedTokens, SingleWordNeedsNonWordNeighbours) {
    const Tokenizer t = make();
    EXPECT_EQ(t.encode("a <w> b", false), (Ids{1, 4, 8, 4, 2}));
    EXPECT_EQ(t.encode("<w>", false), (Ids{8}));
    EXPECT_EQ(t.encode("a<w>b", false), (Ids{1, 0, 0, 0, 2})) << "glued: plain text";
    // A combining mark is a word char for the reference's \w.
    EXPECT_EQ(t.encode("a\u0301<w>", false), (Ids{1, 5, 0, 0, 0}));
}

TEST(TokAddedTokens, DecodeSkipsOnlySpecialOnes) {
    const Tokenizer t = make();
    EXPECT_EQ(t.decode({3, 8, 1}), "ab <w> a") << "no decoder: joined by spaces";
    EXPECT_EQ(t.decode({3, 8, 1}, true), "<w> a") << "\"ab\" is special, <w> is not";
}

}  // namespace
}  // namespace mcomp
