// test_normalizer.cpp: the normalizer steps one by one (Prepend, Replace with a literal
// or a regex, Strip, the Unicode forms) and the origin prefix they leave (the bytes that
// stand for the original first char, which Metaspace's prepend_scheme "first" reads).
#include <gtest/gtest.h>

#include "tokenizer/normalizer.hpp"

namespace mcomp::tok {
namespace {

NormalizerStep prepend(const char* s) {
    NormalizerStep n;
    n.kind = NormalizerKind::prepend;
    n.text = s;
    return n;
}

NormalizerStep replace(const char* from, const char* to, bool regex) {
    NormalizerStep n;
    n.kind = NormalizerKind::replace;
    if (regex) {
        n.pattern = Regex::compile(from).value();
    } else {
        n.text = from;
    }
    n.content = to;
    return n;
}

NormalizerStep strip(bool left, bool right) {
    NormalizerStep n;
    n.kind = NormalizerKind::strip;
    n.strip_left = left;
    n.strip_right = right;
    return n;
}

std::string run(const std::vector<NormalizerStep>& steps, std::string text,
                std::size_t* origin_bytes = nullptr) {
    std::size_t origin = origin_bytes != nullptr ? *origin_bytes : 0;
    normalize(steps, text, origin);
    if (origin_bytes != nullptr) {
        *origin_bytes = origin;
    }
    return text;
}

// The origin prefix after the steps, for a text whose first char is `first_bytes` long.
std::size_t origin_after(const std::vector<NormalizerStep>& steps, const std::string& text,
                         std::size_t first_bytes) {
    std::size_t origin = first_bytes;
    run(steps, text, &origin);
    return origin;
}

TEST(TokNormalizer, LlamaPrependAndReplace) {
    const std::vector<NormalizerStep> llama = {prepend("▁"), replace(" ", "▁", false)};
    EXPECT_EQ(run(llama, "Hey you  there"), "▁Hey▁you▁▁there");
    EXPECT_EQ(run(llama, ""), "") << "Prepend leaves an empty text empty";
    EXPECT_EQ(run(llama, " "), "▁▁");
}

TEST(TokNormalizer, ReplaceWithRegexAndStrip) {
    EXPECT_EQ(run({replace(R"(\s+)", " ", true)}, "a \t\n b"), "a b");
    EXPECT_EQ(run({replace("aa", "b", false)}, "aaa"), "ba") << "non-overlapping, left first";
    EXPECT_EQ(run({strip(true, true)}, "\u3000 x y\t\n"), "x y");
    EXPECT_EQ(run({strip(false, true)}, "  x  "), "  x");
}

TEST(TokNormalizer, TracksTheOriginPrefix) {
    // Inserted chars take the alignment of the char they stand next to or replace.
    EXPECT_EQ(origin_after({prepend("▁")}, "xy", 1), 4u);
    EXPECT_EQ(origin_after({prepend("▁"), replace(" ", "▁", false)}, " y", 1), 6u);
    EXPECT_EQ(origin_after({strip(true, false)}, " xy", 1), 0u) << "the first char went";
    EXPECT_EQ(origin_after({replace("^x", "", true)}, "xy", 1), 0u);
    EXPECT_EQ(origin_after({replace("^x", "zz", true)}, "xy", 1), 2u);
    EXPECT_EQ(origin_after({replace("xy", "z", true)}, "xy", 1), 0u)
        << "a match reaching past the prefix: its replacement aligns with its last char";
    EXPECT_EQ(origin_after({prepend("▁")}, "xy", 0), 0u) << "a piece that starts later";
}

TEST(TokNormalizer, UnicodeForms) {
    if (!unicode_forms_available()) {
        GTEST_SKIP() << "built without ICU";
    }
    NormalizerStep n;
    n.kind = NormalizerKind::nfc;
    EXPECT_EQ(run({n}, "e\u0301"), "\u00e9");
    n.kind = NormalizerKind::nfd;
    EXPECT_EQ(run({n}, "\u00e9"), "e\u0301");
    n.kind = NormalizerKind::nfkc;
    EXPECT_EQ(run({n}, "\ufb01 \u00bd"), "fi 1\u20442");
    n.kind = NormalizerKind::nfc;
    EXPECT_EQ(run({n}, "\ufb01"), "\ufb01") << "NFC keeps compatibility chars";
    // A composed first char stands for the first original char; a decomposed one too.
    EXPECT_EQ(origin_after({n}, "e\u0301x", 1), 2u);
    n.kind = NormalizerKind::nfd;
    EXPECT_EQ(origin_after({n}, "\u00e9x", 2), 3u);
}

}  // namespace
}  // namespace mcomp::tok
