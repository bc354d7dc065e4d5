// test_metaspace.cpp: the sentencepiece-style path (Prepend/Replace normalizer or
// Metaspace pre-tokenizer, <0xXX> byte fallback, <unk> fused or not, the matching
// decoders) on tiny tokenizers built here, with ids derived by hand from their tables
// (tiny_metaspace.hpp). tests/golden/tokenizer/metaspace_tiny.json holds the reference's.
#include <gtest/gtest.h>

#include "tiny_metaspace.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp {
namespace {

using Ids = std::vector<int32_t>;

Tokenizer load_tiny(const std::string& variant) {
    Expected<Tokenizer> t =
        Tokenizer::from_json(test::tiny_metaspace_tokenizer(variant).dump(), "", variant);
    EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().message);
    return std::move(t.value());
}

// Ranks: 0 ▁+h, 1 e+l, 2 l+o, 3 ▁h+el, 4 ▁hel+lo, 5 ▁+w, 6 o+r, 7 ▁w+or, 8 l+d,
// 9 ▁wor+ld, 10 ▁+▁, 11 ▁+a; merged ids are 288 + rank. A byte b is id 3 + b.
TEST(TokMetaspace, Llama2NormalizerAndByteFallback) {
    const Tokenizer t = load_tiny("llama2");
    EXPECT_EQ(t.encode("hello world", true), (Ids{1, 292, 297})) << "▁hello ▁world";
    EXPECT_EQ(t.encode("  hello", false), (Ids{298, 292})) << "▁▁▁hello: ▁+▁ first";
    // é = C3 A9 and ö = C3 B6 have no token: their bytes stand in.
    EXPECT_EQ(t.encode("héllo", false), (Ids{288, 3 + 0xC3, 3 + 0xA9, 271, 290})) << "l lo";
    EXPECT_EQ(t.encode("日本", false),
              (Ids{259, 3 + 0xE6, 3 + 0x97, 3 + 0xA5, 3 + 0xE6, 3 + 0x9C, 3 + 0xAC}));
    // Specials are normalized=false: cut from the raw text, each side normalized alone.
    EXPECT_EQ(t.encode("hello<s>world", false), (Ids{292, 1, 297}));
}

TEST(TokMetaspace, PrependSchemeFirstOnlyAtTheStart) {
    const Tokenizer t = load_tiny("metaspace_first");
    EXPECT_EQ(t.encode("hello world", false), (Ids{292, 297}));
    EXPECT_EQ(t.encode(" hello", false), (Ids{292})) << "already starts with ▁";
    // After a special token the piece is not at offset 0: no ▁, so h el lo.
    EXPECT_EQ(t.encode("<s>hello", false), (Ids{1, 267, 289, 290}));
}

TEST(TokMetaspace, FirstMeansOriginalOffsetZero) {
    // The reference asks whether a piece begins at original offset 0. Chars a normalizer
    // prepends share the first char's offset, so with Prepend("x") and Digits, both "x"
    // and "2" of "23" begin there (ids from tokenizers 0.23.2).
    nlohmann::json j = test::tiny_metaspace_tokenizer("metaspace_first");
    j["normalizer"] = {{"type", "Prepend"}, {"prepend", "x"}};
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Digits"}, {"individual_digits", true}},
                            {{"type", "Metaspace"},
                             {"replacement", "▁"},
                             {"prepend_scheme", "first"},
                             {"split", true}}}}};
    Expected<Tokenizer> t = Tokenizer::from_json(j.dump(), "", "mem");
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->encode("23", false), (Ids{259, 283, 259, 3 + '2', 3 + '3'})) << "▁x ▁2 3";
    EXPECT_EQ(t->encode("a1", false), (Ids{259, 283, 260, 3 + '1'})) << "▁xa 1";
    EXPECT_EQ(t->encode("<s>12", false), (Ids{1, 283, 3 + '1', 3 + '2'})) << "<s> x 1 2";
}

TEST(TokMetaspace, UnfusedUnkWithoutByteFallback) {
    const Tokenizer t = load_tiny("metaspace_always");
    EXPECT_EQ(t.unk_id(), 0);
    EXPECT_EQ(t.encode("日本", false), (Ids{259, 0, 0})) << "one <unk> per char";
    EXPECT_EQ(t.encode("HELLO", false), (Ids{259, 0, 0, 0, 0, 0}));
    // split=true: "hello " is ▁hello + ▁, then <s>, then ▁world.
    EXPECT_EQ(t.encode("hello <s> world", false), (Ids{292, 259, 1, 297}));
}

TEST(TokMetaspace, DecodesBytesAndSpaces) {
    for (const char* variant : {"llama2", "metaspace_first"}) {
        const Tokenizer t = load_tiny(variant);
        for (const char* text : {"hello world", "héllo wörld", "日本 a.b,", "x  y"}) {
            EXPECT_EQ(t.decode(t.encode(text, true), true), text) << variant;
        }
        // A lone lead byte is invalid UTF-8: one U+FFFD per byte.
        EXPECT_EQ(t.decode({292, 3 + 0xC3, 3 + 0xE6}), "hello\xEF\xBF\xBD\xEF\xBF\xBD") << variant;
    }
}

}  // namespace
}  // namespace mcomp
