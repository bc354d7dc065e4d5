// bpe.hpp: the BPE model of a Hugging Face tokenizer.json ("model": {"type": "BPE"}).
//
// Reproduces tokenizers/src/models/bpe/{model,word}.rs: a word starts as one symbol per
// character (with `<0xXX>` byte fallback or `<unk>`, fused or not), then the pair of
// lowest merge rank is merged, leftmost first, until no ranked pair remains. The merge
// loop uses a priority queue keyed by (rank, position), so a single 600 KB "word" (the
// TinyStories tokenizer has no pre-tokenizer) costs O(n log n).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/expected.hpp"

namespace mcomp::tok {

// std::string keys looked up with std::string_view, without a temporary string.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct BpeConfig {
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
};

// (left id, right id) -> (rank, merged id): an open-addressing table, because the merge
// loop looks pairs up millions of times per calibration file.
class PairMap {
  public:
    struct Value {
        int32_t rank = 0;
        int32_t new_id = 0;
    };
    void reserve(std::size_t num_pairs);
    // A later merge of the same pair replaces the earlier one, as in the HashMap of
    // the reference.
    void insert_or_assign(int32_t left, int32_t right, Value value);
    // Inline: the merge loop calls it for every candidate pair.
    const Value* find(int32_t left, int32_t right) const {
        if (slots_.empty()) {
            return nullptr;
        }
        const uint64_t key = key_of(left, right);
        std::size_t i = slot_of(key);
        while (slots_[i].key != kEmpty) {
            if (slots_[i].key == key) {
                return &slots_[i].value;
            }
            i = (i + 1) & (slots_.size() - 1);
        }
        return nullptr;
    }

  private:
    struct Slot {
        uint64_t key = kEmpty;
        Value value;
    };
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    static uint64_t key_of(int32_t left, int32_t right) {
        return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
    }
    // Fibonacci hashing spreads the structured (left, right) keys over the table.
    std::size_t slot_of(uint64_t key) const {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & (slots_.size() - 1);
    }
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

// Memo of finished words for one encode call (the reference keeps a cache too).
using BpeWordCache = StringMap<std::vector<int32_t>>;

class BpeModel {
  public:
    // Fills `dst` from `vocab` (token -> id) and `merges` (in rank order). Errors name
    // the offending merge (1-based) or token; the caller adds the file.
    static Status build(StringMap<int32_t> vocab,
                        const std::vector<std::pair<std::string, std::string>>& merges,
                        BpeConfig config, BpeModel& dst);

    // Appends the ids of `word` (non-empty, valid UTF-8) to `dst`.
    void tokenize(std::string_view word, std::vector<int32_t>& dst, BpeWordCache* cache) const;

    int32_t token_to_id(std::string_view token) const;  // -1 when absent
    const std::string* id_to_token(int32_t id) const;   // nullptr when absent
    int32_t unk_id() const { return unk_id_; }
    // One past the largest id of the vocabulary.
    int32_t id_limit() const { return static_cast<int32_t>(vocab_r_.size()); }
    // Number of tokens (the reference's get_vocab_size; below id_limit() with gaps).
    int32_t num_tokens() const { return static_cast<int32_t>(vocab_.size()); }

    // Words of at least this many symbols use the per-rank merge queue (same result,
    // better locality); tests lower it to compare the two.
    void set_long_word_symbols(std::size_t num_symbols) { long_word_symbols_ = num_symbols; }

  private:
    void merge_word(std::string_view word, std::vector<int32_t>& dst) const;
    int32_t char_id(std::string_view ch, bool is_first, bool is_last) const;

    StringMap<int32_t> vocab_;
    std::vector<std::string> vocab_r_;
    std::vector<bool> has_id_;
    PairMap merges_;
    std::size_t num_merges_ = 0;
    std::size_t long_word_symbols_ = 8192;
    BpeConfig config_;
    int32_t unk_id_ = -1;
    std::array<int32_t, 256> byte_ids_{};   // `<0xXX>` tokens, -1 when absent
    std::array<int32_t, 128> ascii_ids_{};  // single ASCII chars, -1 when absent
};

}  // namespace mcomp::tok
