// test_calibration_set.cpp: calibration windows from one token stream
// (compress/calibration_set.hpp), and their bad inputs.
#include <gtest/gtest.h>

#include <numeric>

#include "compress/calibration_set.hpp"
#include "compress_test_util.hpp"
#include "engine/calibration.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp::compress {
namespace {

TEST(CalibrationSet, WindowsAreSlicesOfTheStreamAtTheSeededStarts) {
    std::vector<std::int32_t> stream(1000);
    std::iota(stream.begin(), stream.end(), 0);
    Expected<CalibrationSet> set = sample_calibration(stream, 5, 64, 7, "stream");
    ASSERT_TRUE(set.has_value()) << set.error().message;
    const auto starts = sample_window_starts(1000, 64, 5, 7);
    ASSERT_TRUE(starts.has_value());
    EXPECT_EQ(set->starts, *starts);
    ASSERT_EQ(set->tokens.size(), 5u * 64u);
    for (std::size_t w = 0; w < 5; ++w) {
        for (std::size_t t = 0; t < 64; ++t) {
            EXPECT_EQ(set->tokens[w * 64 + t], static_cast<std::int32_t>(set->starts[w] + t));
        }
    }
    EXPECT_EQ(set->stream_tokens, 1000);
}

TEST(CalibrationSet, BadInputs) {
    const std::vector<std::int32_t> stream(100, 1);
    struct Case {
        std::int64_t samples;
        std::int64_t seqlen;
        std::string message;
    };
    const std::vector<Case> cases = {
        {4, 100,
         "calib.txt: the calibration text has 100 tokens, not more than seqlen = 100; give more "
         "text or a shorter seqlen"},
        {4, 500,
         "calib.txt: the calibration text has 100 tokens, not more than seqlen = 500; give more "
         "text or a shorter seqlen"},
    };
    for (const Case& c : cases) {
        Expected<CalibrationSet> set =
            sample_calibration(stream, c.samples, c.seqlen, 0, "calib.txt");
        ASSERT_FALSE(set.has_value());
        EXPECT_EQ(set.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(set.error().message, c.message);
    }
}

TEST(CalibrationSet, MissingFileIsNamed) {
    Expected<std::string> text = read_texts({"/nonexistent/calib.txt"});
    ASSERT_FALSE(text.has_value());
    EXPECT_EQ(text.error().message,
              "/nonexistent/calib.txt: cannot read the text file; check the path");
}

TEST(CalibrationSet, FilesAreJoinedWithABlankLine) {
    test::ScratchDir dir("calib");
    test::write_text(dir / "a.txt", "one");
    test::write_text(dir / "b.txt", "two");
    Expected<std::string> text = read_texts({dir / "a.txt", dir / "b.txt"});
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(*text, "one\n\ntwo");
}

TEST(CalibrationSet, TinyStoriesWithBos) {
    MCOMP_SKIP_WITHOUT_SHARED_DATA();
    Expected<Tokenizer> tokenizer = Tokenizer::load(test::shared_model_dir());
    ASSERT_TRUE(tokenizer.has_value());
    const std::filesystem::path calib = test_data_dir() + "/data/tinystories/ts_calib.txt";
    Expected<CalibrationSet> set = load_calibration({calib}, *tokenizer, 128, 512, 0);
    ASSERT_TRUE(set.has_value()) << set.error().message;
    std::string text;
    ASSERT_TRUE(read_file(calib.string(), text));
    const std::vector<std::int32_t> stream = tokenizer->encode(text, true);
    EXPECT_EQ(stream.front(), tokenizer->bos_id());
    EXPECT_EQ(set->stream_tokens, static_cast<std::int64_t>(stream.size()));
    EXPECT_EQ(set->tokens.size(), 128u * 512u);
}

}  // namespace
}  // namespace mcomp::compress
