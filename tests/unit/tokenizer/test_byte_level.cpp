// test_byte_level.cpp: the GPT-2 byte-level path (Split regex, ByteLevel, [a, b] and
// "a b" merges, ignore_merges, added tokens, templates) on a tiny tokenizer built here,
// with ids derived by hand from its merge table (tiny_byte_level.hpp). The same ids come
// from the reference library in tests/golden/tokenizer/bytelevel_tiny.json.
#include <gtest/gtest.h>

#include "tiny_byte_level.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp {
namespace {

Tokenizer load_tiny(const std::string& variant) {
    Expected<Tokenizer> t = Tokenizer::from_json(test::tiny_byte_level_tokenizer(variant).dump(),
                                                 "", "tiny-" + variant);
    EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().message);
    return std::move(t.value());
}

struct Case {
    const char* text;
    std::vector<int32_t> ids;  // without special tokens
    const char* why;
};

// Ranks: 0 Ġ+t, 1 h+e, 2 Ġt+he, 3 l+l, 4 he+ll, 5 hell+o, 6 Ġ+w, 7 o+r, 8 Ġw+or, 9 l+d,
// 10 Ġwor+ld, 11 i+n, 12 in+g, 13 1+2, 14 Ġ+Ġ, 15 Ċ+Ċ, 16 Ã+©, 17 c+a, 18 ca+f, 19 caf+Ã©,
// 20 '+s; merged ids are 256 + rank.
const std::vector<Case>& shared_cases() {
    static const std::vector<Case> cases = {
        {"hello world", {261, 266}, "h+e, l+l, he+ll, hell+o; Ġ+w, o+r, Ġw+or, l+d, Ġwor+ld"},
        {" the thing", {258, 256, 104, 268}, "Ġthe; Ġt h ing (no Ġt+h merge)"},
        {"hello  world", {261, 32, 266}, "the first space stays alone: \\s+(?!\\S)"},
        {"café 12345", {275, 32, 269, 51, 52, 53}, "é is C3 A9 = Ã©; Ã+© (16) before c+a (17)"},
        {"it's Tom's", {105, 116, 276, 32, 84, 111, 109, 276}, "'s is its own piece"},
        {"emoji 😀", {101, 109, 111, 106, 105, 32, 240, 159, 152, 128}, "4 bytes, no merges"},
        {"   ", {270, 32}, "one piece ĠĠĠ: leftmost Ġ+Ġ first"},
        {"", {}, "nothing"},
        {"hello<|end_of_text|>", {261, 279}, "special token cut out first"},
        {"a <mask> b", {97, 280, 32, 98}, "<mask> has lstrip: it takes the space before it"},
        {"tab\there", {116, 97, 98, 9, 257, 114, 101}, "tab alone; he+r has no merge"},
    };
    return cases;
}

TEST(TokByteLevelGpt2, EncodesHandDerivedIds) {
    const Tokenizer t = load_tiny("gpt2");
    for (const Case& c : shared_cases()) {
        EXPECT_EQ(t.encode(c.text, false), c.ids) << c.text << ": " << c.why;
        EXPECT_EQ(t.encode(c.text, true), c.ids) << c.text << ": no BOS in this variant";
    }
    // The GPT-2 regex keeps \n\n as two pieces; its 's is case-sensitive.
    EXPECT_EQ(t.encode("hello\n\nworld", false),
              (std::vector<int32_t>{261, 10, 10, 119, 263, 265}));
    EXPECT_EQ(t.encode("IT'S", false), (std::vector<int32_t>{73, 84, 39, 83}));
    // Without ignore_merges, Ġhello (277) is never produced.
    EXPECT_EQ(t.encode("say hello", false), (std::vector<int32_t>{115, 97, 121, 32, 261}));
}

TEST(TokByteLevelLlama3, EncodesHandDerivedIds) {
    const Tokenizer t = load_tiny("llama3");
    for (const Case& c : shared_cases()) {
        std::vector<int32_t> with_bos = {278};
        with_bos.insert(with_bos.end(), c.ids.begin(), c.ids.end());
        EXPECT_EQ(t.encode(c.text, false), c.ids) << c.text << ": " << c.why;
        EXPECT_EQ(t.encode(c.text, true), with_bos) << c.text << ": BOS from the template";
    }
    // \s*[\r\n]+ keeps \n\n together, so Ċ+Ċ merges.
    EXPECT_EQ(t.encode("hello\n\nworld", false), (std::vector<int32_t>{261, 271, 119, 263, 265}));
    // ignore_merges: a whole pre-token in the vocabulary is one token.
    EXPECT_EQ(t.encode("say hello", false), (std::vector<int32_t>{115, 97, 121, 277}));
    EXPECT_EQ(t.encode("<|begin_of_text|>hello", true), (std::vector<int32_t>{278, 278, 261}));
}

TEST(TokByteLevel, DecodeRoundTrips) {
    for (const char* variant : {"gpt2", "llama3"}) {
        const Tokenizer t = load_tiny(variant);
        for (const char* text : {"hello world", "café 12345", "emoji 😀", "a\n\nb\tc  ", ""}) {
            EXPECT_EQ(t.decode(t.encode(text, false)), text) << variant;
        }
        EXPECT_EQ(t.decode({261, 279}), "hello<|end_of_text|>");
        EXPECT_EQ(t.decode({261, 279}, true), "hello");
        // A lone continuation byte is not UTF-8: it reads as U+FFFD.
        EXPECT_EQ(t.decode({261, 169}), "hello\xEF\xBF\xBD");
    }
}

TEST(TokByteLevel, ReportsIdsAndSizes) {
    const Tokenizer t = load_tiny("llama3");
    EXPECT_EQ(t.vocab_size(), 281);
    EXPECT_EQ(t.unk_id(), -1);
    EXPECT_EQ(t.bos_id(), -1) << "no tokenizer_config.json names one";
    EXPECT_EQ(t.token_to_id("Ġworld"), 266);
    EXPECT_EQ(t.token_to_id("<mask>"), 280);
    EXPECT_EQ(t.id_to_token(258), "Ġthe");
    EXPECT_EQ(t.id_to_token(9999), "");
}

TEST(TokByteLevel, TokenizerConfigDecidesBosAndEos) {
    const std::string json = test::tiny_byte_level_tokenizer("llama3").dump();
    const char* config = R"({"add_bos_token": false, "add_eos_token": true,
        "bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|end_of_text|>"}})";
    Expected<Tokenizer> t = Tokenizer::from_json(json, config, "tiny");
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->bos_id(), 278);
    EXPECT_EQ(t->eos_id(), 279);
    EXPECT_EQ(t->encode("hello", true), (std::vector<int32_t>{261, 279}));
    EXPECT_EQ(t->encode("hello", false), (std::vector<int32_t>{261}));
}

}  // namespace
}  // namespace mcomp
