// test_pre_tokenizer.cpp: how patterns cut pieces (the five delimiter behaviours, invert),
// the GPT-2 regex, Digits-style splits and Metaspace, piece by piece.
#include <gtest/gtest.h>

#include "tokenizer/pre_tokenizer.hpp"

namespace mcomp::tok {
namespace {

std::vector<std::string> texts(const std::vector<Piece>& pieces) {
    std::vector<std::string> out;
    for (const Piece& p : pieces) {
        out.push_back(p.text);
    }
    return out;
}

std::vector<std::string> run(const PreTokenizerStep& step, const std::string& text) {
    std::vector<Piece> pieces = {Piece{text, -1, 1}};
    pre_tokenize({step}, nullptr, pieces);
    return texts(pieces);
}

PreTokenizerStep literal_split(const char* text, SplitBehavior behavior, bool invert) {
    PreTokenizerStep s;
    s.kind = PreTokenizerKind::split;
    s.text = text;
    s.behavior = behavior;
    s.invert = invert;
    return s;
}

using Strings = std::vector<std::string>;

struct BehaviorCase {
    SplitBehavior behavior;
    Strings want;
};

TEST(TokSplit, DelimiterBehaviorsAsDocumented) {
    // The example of the tokenizers documentation (SplitDelimiterBehavior).
    const std::vector<BehaviorCase> cases = {
        {SplitBehavior::removed, {"the", "final", "countdown"}},
        {SplitBehavior::isolated, {"the", "-", "final", "-", "-", "countdown"}},
        {SplitBehavior::merged_with_previous, {"the-", "final-", "-", "countdown"}},
        {SplitBehavior::merged_with_next, {"the", "-final", "-", "-countdown"}},
        {SplitBehavior::contiguous, {"the", "-", "final", "--", "countdown"}},
    };
    for (const BehaviorCase& c : cases) {
        EXPECT_EQ(run(literal_split("-", c.behavior, false), "the-final--countdown"), c.want)
            << static_cast<int>(c.behavior);
    }
}

TEST(TokSplit, InvertSwapsMatchesAndGaps) {
    // Inverted, the gaps between words are the delimiters: removing them leaves words.
    PreTokenizerStep s = literal_split("", SplitBehavior::removed, true);
    s.pattern = Regex::compile("[a-z]+").value();
    EXPECT_EQ(run(s, "the-final--countdown"), (Strings{"the", "final", "countdown"}));
    s.behavior = SplitBehavior::merged_with_previous;
    EXPECT_EQ(run(s, "ab-cd"), (Strings{"ab-", "cd"}));
    s.invert = false;
    EXPECT_EQ(run(s, "ab-cd"), (Strings{"ab", "-cd"}));
}

TEST(TokSplit, EdgesAndNoMatch) {
    EXPECT_EQ(run(literal_split("-", SplitBehavior::isolated, false), "-a-"),
              (Strings{"-", "a", "-"}));
    EXPECT_EQ(run(literal_split("-", SplitBehavior::merged_with_next, false), "-a-"),
              (Strings{"-a", "-"}));
    EXPECT_EQ(run(literal_split("-", SplitBehavior::removed, false), "abc"), (Strings{"abc"}));
    EXPECT_EQ(run(literal_split("-", SplitBehavior::removed, false), "---"), (Strings{}));
}

TEST(TokPreTokenizer, ByteLevelGpt2RegexAndByteMapping) {
    const Regex gpt2 = Regex::compile(kGpt2Pattern).value();
    PreTokenizerStep s;
    s.kind = PreTokenizerKind::byte_level;
    s.add_prefix_space = false;
    s.use_regex = true;
    std::vector<Piece> pieces = {Piece{"Hello  world's 123!\n", -1, 1}};
    pre_tokenize({s}, &gpt2, pieces);
    // Spaces become Ġ (U+0120), the newline Ċ (U+010A).
    EXPECT_EQ(texts(pieces), (Strings{"Hello", "Ġ", "Ġworld", "'s", "Ġ123", "!", "Ċ"}));

    s.add_prefix_space = true;
    pieces = {Piece{"é", -1, 2}};
    pre_tokenize({s}, &gpt2, pieces);
    EXPECT_EQ(texts(pieces), (Strings{"ĠÃ©"})) << "é is C3 A9";
}

TEST(TokPreTokenizer, DigitsIndividualOrContiguous) {
    PreTokenizerStep s;
    s.kind = PreTokenizerKind::split;
    s.behavior = SplitBehavior::isolated;
    s.pattern = Regex::compile(R"(\p{N})").value();
    EXPECT_EQ(run(s, "a123b"), (Strings{"a", "1", "2", "3", "b"}));
    s.pattern = Regex::compile(R"(\p{N}+)").value();
    EXPECT_EQ(run(s, "a123b٣"), (Strings{"a", "123", "b", "٣"}));
}

TEST(TokPreTokenizer, MetaspacePrependSchemesAndSplit) {
    PreTokenizerStep s;
    s.kind = PreTokenizerKind::metaspace;
    s.text = "▁";
    s.split = true;
    s.prepend_scheme = PrependScheme::always;
    EXPECT_EQ(run(s, "hey  you"), (Strings{"▁hey", "▁", "▁you"}));
    s.split = false;
    EXPECT_EQ(run(s, "hey you"), (Strings{"▁hey▁you"}));
    s.prepend_scheme = PrependScheme::never;
    EXPECT_EQ(run(s, "hey you"), (Strings{"hey▁you"}));
    // "first" prepends only to the piece that begins the caller's text.
    s.prepend_scheme = PrependScheme::first;
    std::vector<Piece> pieces = {Piece{"a b", -1, 1}, Piece{"<s>", 1, 0}, Piece{"c", -1, 0}};
    pre_tokenize({s}, nullptr, pieces);
    EXPECT_EQ(texts(pieces), (Strings{"▁a▁b", "<s>", "c"}));
}

}  // namespace
}  // namespace mcomp::tok
