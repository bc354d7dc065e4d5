// test_bpe.cpp: the BPE model alone: merge order by rank then position, duplicate merges,
// <unk> fused or not, byte fallback, subword prefix / word suffix, ignore_merges, and the
// errors of a merge table that names unknown tokens. Expected ids were checked against
// the Hugging Face `tokenizers` library (0.23.2).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "tokenizer/bpe.hpp"

namespace mcomp::tok {
namespace {

using Ids = std::vector<int32_t>;
using Merges = std::vector<std::pair<std::string, std::string>>;

BpeModel make(StringMap<int32_t> vocab, const Merges& merges, BpeConfig config = {}) {
    BpeModel m;
    const Status s = BpeModel::build(std::move(vocab), merges, std::move(config), m);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return m;
}

Ids ids_of(const BpeModel& m, std::string_view word) {
    Ids ids;
    m.tokenize(word, ids, nullptr);
    return ids;
}

BpeConfig with_unk(bool fuse) {
    BpeConfig c;
    c.unk_token = "<unk>";
    c.fuse_unk = fuse;
    return c;
}

const StringMap<int32_t> kAbc = {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"c", 3},  {"ab", 4},
                                 {"bc", 5},    {"x", 6}, {"y", 7}, {"xy", 8}, {"aa", 9}};

TEST(TokBpe, LowestRankFirstThenLeftmost) {
    EXPECT_EQ(ids_of(make(kAbc, {{"a", "b"}, {"b", "c"}}), "abc"), (Ids{4, 3}));
    EXPECT_EQ(ids_of(make(kAbc, {{"b", "c"}, {"a", "b"}}), "abc"), (Ids{1, 5}));
    EXPECT_EQ(ids_of(make(kAbc, {{"a", "a"}}), "aaa"), (Ids{9, 1})) << "leftmost pair first";
    EXPECT_EQ(ids_of(make(kAbc, {{"a", "a"}}), "aaaa"), (Ids{9, 9}));
}

TEST(TokBpe, ALaterDuplicateMergeTakesItsRank) {
    // The reference builds a hash map from the list: the last rank of a pair wins.
    EXPECT_EQ(ids_of(make(kAbc, {{"a", "b"}, {"b", "c"}, {"x", "y"}, {"a", "b"}}), "abc"),
              (Ids{1, 5}));
}

TEST(TokBpe, UnknownCharsFusedOrNot) {
    const StringMap<int32_t> v = {{"<unk>", 0}, {"a", 1}};
    EXPECT_EQ(ids_of(make(v, {}, with_unk(false)), "a??a?"), (Ids{1, 0, 0, 1, 0}));
    EXPECT_EQ(ids_of(make(v, {}, with_unk(true)), "a??a?"), (Ids{1, 0, 1, 0}));
    EXPECT_EQ(ids_of(make(v, {}), "a??a?"), (Ids{1, 1})) << "no unk_token: dropped";
}

TEST(TokBpe, ByteFallbackKeepsThePendingUnkBehind) {
    BpeConfig c = with_unk(true);
    c.byte_fallback = true;
    const BpeModel m = make({{"<unk>", 0}, {"a", 1}, {"<0x3F>", 2}}, {}, c);
    // '?' has only its byte token; é (C3 A9) has none, so <unk>, which the reference
    // emits only after the next in-vocabulary char.
    EXPECT_EQ(ids_of(m, "a??é?"), (Ids{1, 2, 2, 2, 0}));
}

TEST(TokBpe, SubwordPrefixAndWordSuffix) {
    const StringMap<int32_t> v = {{"<unk>", 0},   {"a", 1},          {"##b", 2},      {"##c", 3},
                                  {"##bc", 4},    {"a##b", 5},       {"ab", 6},       {"c</w>", 7},
                                  {"##c</w>", 8}, {"##b##c</w>", 9}, {"##bc</w>", 10}};
    BpeConfig c = with_unk(false);
    c.continuing_subword_prefix = "##";
    EXPECT_EQ(ids_of(make(v, {}, c), "abc"), (Ids{1, 2, 3}));
    c.end_of_word_suffix = "</w>";
    // The merged token drops the right part's prefix: ##b + ##c</w> = ##bc</w>.
    EXPECT_EQ(ids_of(make(v, {{"##b", "##c</w>"}, {"a", "##b"}}, c), "abc"), (Ids{1, 10}));
}

TEST(TokBpe, IgnoreMergesTakesWholeWords) {
    const StringMap<int32_t> v = {{"a", 1}, {"b", 2}, {"c", 3}, {"abc", 4}, {"ab", 5}};
    BpeConfig c;
    EXPECT_EQ(ids_of(make(v, {{"a", "b"}}, c), "abc"), (Ids{5, 3}));
    c.ignore_merges = true;
    EXPECT_EQ(ids_of(make(v, {{"a", "b"}}, c), "abc"), (Ids{4}));
    EXPECT_EQ(ids_of(make(v, {{"a", "b"}}, c), "abca"), (Ids{5, 3, 1}));
}

TEST(TokBpe, CacheGivesTheSameIds) {
    const BpeModel m = make(kAbc, {{"a", "b"}, {"b", "c"}});
    BpeWordCache cache;
    Ids first;
    Ids second;
    m.tokenize("abcab", first, &cache);
    m.tokenize("abcab", second, &cache);
    EXPECT_EQ(first, second);
    EXPECT_EQ(first, (Ids{4, 3, 4}));
    EXPECT_EQ(cache.size(), 1u);
}

TEST(TokBpe, RejectsMergesOfUnknownTokens) {
    struct Bad {
        Merges merges;
        const char* message;
    };
    const std::vector<Bad> cases = {
        {{{"a", "q"}}, "merge 1 (\"a q\") needs token \"q\", which is not in model.vocab"},
        {{{"a", "b"}, {"b", "a"}},
         "merge 2 (\"b a\") needs token \"ba\", which is not in model.vocab"},
    };
    for (const Bad& c : cases) {
        BpeModel m;
        const Status s = BpeModel::build(kAbc, c.merges, BpeConfig{}, m);
        ASSERT_FALSE(s.has_value());
        EXPECT_EQ(s.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(s.error().message, c.message);
    }
}

TEST(TokBpe, PerRankQueueMergesLikeTheHeap) {
    // Random merge tables over {a, b, c, d} (with pairs that build the same token two
    // ways) and random words: the per-rank queue of long words must give the heap's ids.
    std::mt19937 rng(7);
    for (int table = 0; table < 20; ++table) {
        StringMap<int32_t> vocab;
        std::vector<std::string> tokens = {"a", "b", "c", "d"};
        for (const std::string& t : tokens) {
            vocab.emplace(t, static_cast<int32_t>(vocab.size()));
        }
        Merges merges;
        for (int i = 0; i < 40; ++i) {
            const std::string& left = tokens[rng() % tokens.size()];
            const std::string& right = tokens[rng() % tokens.size()];
            if (left.size() + right.size() > 6) {
                continue;
            }
            merges.emplace_back(left, right);
            if (vocab.emplace(left + right, static_cast<int32_t>(vocab.size())).second) {
                tokens.push_back(left + right);
            }
        }
        BpeModel heap = make(vocab, merges);
        BpeModel by_rank = make(vocab, merges);
        heap.set_long_word_symbols(SIZE_MAX);
        by_rank.set_long_word_symbols(0);
        for (int w = 0; w < 30; ++w) {
            std::string word;
            const std::size_t len = 1 + rng() % 300;
            for (std::size_t i = 0; i < len; ++i) {
                word.push_back(static_cast<char>('a' + rng() % 4));
            }
            ASSERT_EQ(ids_of(heap, word), ids_of(by_rank, word))
                << "table " << table << ": " << word;
        }
    }
}

TEST(TokBpe, LongWordsStayFast) {
    // 200k symbols in one word (a tokenizer without pre-tokenizer sees whole files).
    const BpeModel m = make(kAbc, {{"a", "a"}, {"a", "b"}});
    std::string word;
    for (int i = 0; i < 100000; ++i) {
        word += "ab";
    }
    const Ids ids = ids_of(m, word);
    ASSERT_EQ(ids.size(), 100000u);
    EXPECT_EQ(ids.front(), 4);
}

}  // namespace
}  // namespace mcomp::tok
