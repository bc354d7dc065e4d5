// test_normalizer.cpp: the normalizer steps one by one (Prepend, Replace with a literal
// or a regex, Strip, the Unicode forms) and whether the text still starts at the
// original first char (what Metaspace's prepend_scheme "first" reads).
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
                bool* starts_at_origin = nullptr) {
    bool origin = true;
    normalize(steps, text, origin);
    if (starts_at_origin != nullptr) {
        *starts_at_origin = origin;
    }
    return text;
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

TEST(TokNormalizer, TracksWhetherTheStartSurvives) {
    bool origin = true;
    run({prepend("▁")}, "x", &origin);
    EXPECT_TRUE(origin) << "prepended chars stand for the first char";
    run({strip(true, false)}, " x", &origin);
    EXPECT_FALSE(origin);
    run({replace("^x", "", true)}, "xy", &origin);
    EXPECT_FALSE(origin);
    run({replace("^x", "z", true)}, "xy", &origin);
    EXPECT_TRUE(origin);
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
}

}  // namespace
}  // namespace mcomp::tok
