// test_calibration.cpp: PyRandom and sample_window_starts against CPython's random module.
//
// Every expected value below was printed by CPython 3.11 (python3 on the dev machine):
//   python3 -c "import random
//   cases=[(0,0,132035),(1,0,132035),(42,0,132035),(1234,0,999),(0,0,0),(7,-10,10),
//          (2**32+5,0,132035),(2**64-1,0,132035),(3,5,5+2**40),(11,0,2**63-2),(0,100,163)]
//   for seed,a,b in cases:
//       random.seed(seed); print(seed,a,b,[random.randint(a,b) for _ in range(6)])"
// and
//   python3 -c "import random
//   for seed in (0, 5, 2**40+3):
//       random.seed(seed)
//       print(seed, [random.getrandbits(k) for k in (1,7,32,33,48,64)], repr(random.random()))"
#include "engine/calibration.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "tokenizer/tokenizer.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

struct RandintCase {
    std::uint64_t seed;
    std::int64_t a;
    std::int64_t b;
    std::array<std::int64_t, 6> expected;
};

TEST(PyRandom, RandintMatchesCPython) {
    const RandintCase cases[] = {
        {0, 0, 132035, {100989, 110250, 10612, 67873, 127383, 106151}},
        {1, 0, 132035, {35222, 16543, 66864, 30911, 129875, 117831}},
        {42, 0, 132035, {29184, 6556, 72097, 64196, 58513, 36579}},
        {1234, 0, 999, {989, 796, 451, 119, 7, 92}},
        {0, 0, 0, {0, 0, 0, 0, 0, 0}},
        {7, -10, 10, {0, -6, 2, 10, -9, -8}},
        // A seed above 2^32 is a two-word key.
        {4294967301ull, 0, 132035, {41228, 127269, 74052, 3807, 93078, 44910}},
        {18446744073709551615ull, 0, 132035, {5721, 65215, 88629, 55566, 119554, 24908}},
        // Ranges wider than 2^32 draw two words per try.
        {3,
         5,
         1099511627781,
         {285805288271, 1041975902466, 1034389053358, 421913238840, 873924282549, 507453033546}},
        {11,
         0,
         9223372036854775806,
         {7985063174142371181, 7903166252872187431, 7205464747235938445, 4167417605511239617,
          7886404004610171581, 1751537126674979378}},
        {0, 100, 163, {149, 153, 105, 133, 162, 151}},
    };
    for (const RandintCase& c : cases) {
        PyRandom rng(c.seed);
        for (std::size_t i = 0; i < c.expected.size(); ++i) {
            EXPECT_EQ(rng.randint(c.a, c.b), c.expected[i])
                << "seed " << c.seed << " randint(" << c.a << ", " << c.b << ") draw " << i;
        }
    }
}

struct BitsCase {
    std::uint64_t seed;
    std::array<std::uint64_t, 6> expected;  // getrandbits(1, 7, 32, 33, 48, 64)
    double random;
};

TEST(PyRandom, GetrandbitsAndRandomMatchCPython) {
    const std::array<int, 6> widths = {1, 7, 32, 33, 48, 64};
    const BitsCase cases[] = {
        {0,
         {1, 49, 3255389356ull, 3823568514ull, 72877178957620ull, 9431353882395063546ull},
         0.48592769656281265},
        {5,
         {1, 32, 3185950873ull, 5834865596ull, 265277325516766ull, 13648719601384375088ull},
         0.6520316967541351},
        {1099511627779ull,
         {0, 7, 2359950418ull, 3580981848ull, 276241844265486ull, 16657318909746881573ull},
         0.6974258555029769},
    };
    for (const BitsCase& c : cases) {
        PyRandom rng(c.seed);
        for (std::size_t i = 0; i < widths.size(); ++i) {
            EXPECT_EQ(rng.getrandbits(widths[i]), c.expected[i])
                << "seed " << c.seed << " getrandbits(" << widths[i] << ")";
        }
        EXPECT_EQ(rng.random(), c.random) << "seed " << c.seed;
    }
}

TEST(PyRandom, ReseedRestartsTheSequence) {
    PyRandom rng(42);
    const std::int64_t first = rng.randint(0, 1000000);
    rng.randint(0, 5);
    rng.seed(42);
    EXPECT_EQ(rng.randint(0, 1000000), first);
}

// ts_calib.txt tokenized with the shared TinyStories-656K tokenizer is 132,548 tokens with
// the BOS; with seed 0 and seqlen 512 the reference picks these first windows.
TEST(SampleWindowStarts, TinyStoriesCalibrationWindows) {
    const Expected<std::vector<std::int64_t>> starts = sample_window_starts(132548, 512, 5, 0);
    ASSERT_TRUE(starts.has_value()) << starts.error().message;
    const std::vector<std::int64_t> expected = {100989, 110250, 10612, 67873, 127383};
    EXPECT_EQ(*starts, expected);
    for (const std::int64_t start : *starts) {
        EXPECT_GE(start, 0);
        EXPECT_LE(start + 512, 132548 - 1);  // randint's upper bound leaves the last token out
    }
}

// The same, end to end: the shared calibration text through mcomp's tokenizer.
TEST(SampleWindowStarts, TinyStoriesCalibrationTextEndToEnd) {
    const std::string model_dir = test_data_dir() + "/models/TinyStories-656K";
    const std::string text_path = test_data_dir() + "/data/tinystories/ts_calib.txt";
    Expected<Tokenizer> tokenizer = Tokenizer::load(model_dir);
    std::string text;
    if (!tokenizer || !read_file(text_path, text)) {
        GTEST_SKIP() << "shared model or ts_calib.txt missing under " << test_data_dir()
                     << " (set MCOMP_TEST_DATA to the shared folder)";
    }
    const std::vector<std::int32_t> tokens = tokenizer->encode(text, true);
    ASSERT_EQ(tokens.size(), 132548u);
    const Expected<std::vector<std::int64_t>> starts =
        sample_window_starts(static_cast<std::int64_t>(tokens.size()), 512, 128, 0);
    ASSERT_TRUE(starts.has_value());
    ASSERT_EQ(starts->size(), 128u);
    EXPECT_EQ(std::vector<std::int64_t>(starts->begin(), starts->begin() + 5),
              (std::vector<std::int64_t>{100989, 110250, 10612, 67873, 127383}));
}

TEST(SampleWindowStarts, SmallestStreamHasOneWindow) {
    const Expected<std::vector<std::int64_t>> starts = sample_window_starts(513, 512, 3, 7);
    ASSERT_TRUE(starts.has_value());
    EXPECT_EQ(*starts, (std::vector<std::int64_t>{0, 0, 0}));
}

struct BadCase {
    std::int64_t n_tokens;
    std::int64_t seqlen;
    std::int64_t samples;
    const char* message;
};

TEST(SampleWindowStarts, BadInputs) {
    const BadCase cases[] = {
        {512, 512, 4,
         "calibration: the text has 512 tokens, not enough for one window of seqlen 512 (it "
         "needs at least seqlen + 1); give a longer text or a smaller seqlen"},
        {10, 0, 4,
         "calibration: seqlen (0) and samples (4) must be positive; set them in the "
         "[calibration] table"},
        {1000, 16, 0,
         "calibration: seqlen (16) and samples (0) must be positive; set them in the "
         "[calibration] table"},
    };
    for (const BadCase& c : cases) {
        const Expected<std::vector<std::int64_t>> starts =
            sample_window_starts(c.n_tokens, c.seqlen, c.samples, 0);
        ASSERT_FALSE(starts.has_value());
        EXPECT_EQ(starts.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(starts.error().message, c.message);
    }
}

}  // namespace
}  // namespace mcomp
