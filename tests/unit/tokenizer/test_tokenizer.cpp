// test_tokenizer.cpp: the Tokenizer on the shared TinyStories-656K model (metaspace
// normalizer, no pre-tokenizer, no <0xXX> tokens, fuse_unk): known ids, BOS/UNK, whole-file
// token counts, decoding, and the encoding speed on the calibration file.
//
// Ids below were produced by the Hugging Face `tokenizers` library (0.23.2).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "tokenizer/tokenizer.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

class TokTinyStories : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        const std::string dir = test_data_dir() + "/models/TinyStories-656K";
        Expected<Tokenizer> t = Tokenizer::load(dir);
        if (t) {
            tokenizer_ = new Tokenizer(std::move(t.value()));
        } else {
            skip_reason_ = t.error().message + " (set MCOMP_TEST_DATA to the shared folder)";
        }
    }
    static void TearDownTestSuite() {
        delete tokenizer_;
        tokenizer_ = nullptr;
    }
    void SetUp() override {
        if (tokenizer_ == nullptr) {
            GTEST_SKIP() << skip_reason_;
        }
    }
    static std::string read_data(const char* rel) {
        std::string text;
        const std::string path = test_data_dir() + "/data/" + rel;
        EXPECT_TRUE(read_file(path, text)) << path;
        return text;
    }

    static inline Tokenizer* tokenizer_ = nullptr;
    static inline std::string skip_reason_;
};

using Ids = std::vector<int32_t>;

TEST_F(TokTinyStories, ReportsSpecialIdsAndSize) {
    EXPECT_EQ(tokenizer_->bos_id(), 1);
    EXPECT_EQ(tokenizer_->eos_id(), 2);
    EXPECT_EQ(tokenizer_->unk_id(), 0);
    EXPECT_EQ(tokenizer_->vocab_size(), 2048);
    EXPECT_EQ(tokenizer_->id_to_token(1), "<|start_story|>");
    EXPECT_EQ(tokenizer_->token_to_id("▁the▁"), 108);
}

TEST_F(TokTinyStories, EncodesKnownIds) {
    const Tokenizer& t = *tokenizer_;
    // Prepend("▁") + Replace(" ", "▁"), then one BPE word for the whole text.
    EXPECT_EQ(t.encode("Once upon a time", false), (Ids{80, 147, 201, 282, 57}));
    EXPECT_EQ(t.encode("Once upon a time", true), (Ids{1, 80, 147, 201, 282, 57}));
    EXPECT_EQ(t.encode("", true), (Ids{1}));
    EXPECT_EQ(t.encode("", false), (Ids{}));
}

TEST_F(TokTinyStories, UnknownCharsFuseIntoOneUnk) {
    const Tokenizer& t = *tokenizer_;
    // No <0xXX> tokens, so byte fallback fails and fuse_unk joins a run into one <unk>.
    EXPECT_EQ(t.encode("café", false), (Ids{80, 295, 58, 0}));
    EXPECT_EQ(t.encode("ééé x", false), (Ids{80, 0, 80, 76}));
    EXPECT_EQ(t.encode("é é", false), (Ids{80, 0, 80, 0}));
}

TEST_F(TokTinyStories, SpecialTokensMatchInNormalizedText) {
    const Tokenizer& t = *tokenizer_;
    // The special tokens are normalized=true: their pattern is "▁<|start_story|>", so
    // they match only after a space (or at the start), never glued to a word.
    EXPECT_EQ(t.encode("<|start_story|>", false), (Ids{1}));
    EXPECT_EQ(t.encode(" <|start_story|>", false), (Ids{80, 1}));
    EXPECT_EQ(t.encode("Hi <|end_story|>", false), (Ids{80, 1158, 2}));
    EXPECT_EQ(t.encode("a<|end_story|>b", false), (Ids{85, 208, 183, 209, 210, 54}));
}

TEST_F(TokTinyStories, CountsTokensOfWholeFiles) {
    // The figures of the issue, checked against the reference library.
    EXPECT_EQ(tokenizer_->encode(read_data("tinystories/ts_calib.txt"), true).size(), 132548u);
    EXPECT_EQ(tokenizer_->encode(read_data("tinystories/ts_dev.txt"), true).size(), 60799u);
}

TEST_F(TokTinyStories, DecodesBackToText) {
    const Tokenizer& t = *tokenizer_;
    const std::string text = "Once upon a time, there was a little girl named Lily.";
    EXPECT_EQ(t.decode(t.encode(text, false)), text);
    EXPECT_EQ(t.decode(t.encode(text, true), true), text) << "BOS skipped as special";
    // Every line of the dev file made of in-vocabulary characters, as one text, comes
    // back byte for byte.
    const std::string dev = read_data("tinystories/ts_dev.txt");
    std::string known;
    for (std::size_t pos = 0; pos < dev.size();) {
        const std::size_t end = std::min(dev.find('\n', pos), dev.size());
        const std::string line = dev.substr(pos, end - pos);
        const Ids line_ids = t.encode(line, false);
        if (std::count(line_ids.begin(), line_ids.end(), 0) == 0) {
            known += line + "\n";
        }
        pos = end + 1;
    }
    ASSERT_GT(known.size(), dev.size() / 2);
    EXPECT_TRUE(t.decode(t.encode(known, false)) == known);
}

TEST_F(TokTinyStories, InvalidUtf8IsReadAsReplacementChars) {
    // "\xFF" is not UTF-8; it becomes U+FFFD, which is outside the vocabulary: <unk>.
    EXPECT_EQ(tokenizer_->encode("a\xFF", false), tokenizer_->encode("a\xEF\xBF\xBD", false));
    EXPECT_EQ(tokenizer_->encode("a\xFF", false), (Ids{85, 0}));
}

TEST_F(TokTinyStories, EncodesCalibrationFileFast) {
    const std::string text = read_data("tinystories/ts_calib.txt");
    const auto start = std::chrono::steady_clock::now();
    const std::size_t n = tokenizer_->encode(text, true).size();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double tokens_per_s = static_cast<double>(n) / seconds;
    std::printf("ts_calib.txt: %zu tokens in %.3f s = %.0f tokens/s\n", n, seconds, tokens_per_s);
    RecordProperty("tokens_per_s", std::to_string(static_cast<long long>(tokens_per_s)));
    // A generous floor (about 10x below a shared 2-core CI machine) that still catches a
    // merge loop gone quadratic.
    EXPECT_GT(tokens_per_s, 50000.0);
}

}  // namespace
}  // namespace mcomp
