// bpe.cpp: see bpe.hpp.
#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <functional>

#include <spdlog/spdlog.h>

#include "tokenizer/unicode.hpp"

namespace mcomp::tok {

// ---- PairMap --------------------------------------------------------------------------

void PairMap::reserve(std::size_t num_pairs) {
    std::size_t capacity = 16;
    while (capacity < num_pairs * 2) {
        capacity *= 2;
    }
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    size_ = 0;
    for (const Slot& s : old) {
        if (s.key != kEmpty) {
            insert_or_assign(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key),
                             s.value);
        }
    }
}

void PairMap::insert_or_assign(int32_t left, int32_t right, Value value) {
    if ((size_ + 1) * 2 > slots_.size()) {
        reserve(size_ + 1);
    }
    const uint64_t key = key_of(left, right);
    std::size_t i = slot_of(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) {
        i = (i + 1) & (slots_.size() - 1);
    }
    if (slots_[i].key == kEmpty) {
        ++size_;
    }
    slots_[i] = Slot{key, value};
}

// ---- building -------------------------------------------------------------------------

Status BpeModel::build(StringMap<int32_t> vocab,
                       const std::vector<std::pair<std::string, std::string>>& merges,
                       BpeConfig config, BpeModel& m) {
    m = BpeModel();
    int32_t max_id = -1;
    for (const auto& [token, id] : vocab) {
        if (id < 0) {
            return make_error(ErrorKind::bad_input,
                              "token \"" + token + "\" has negative id " + std::to_string(id));
        }
        max_id = std::max(max_id, id);
    }
    m.vocab_r_.assign(static_cast<std::size_t>(max_id + 1), std::string());
    m.has_id_.assign(static_cast<std::size_t>(max_id + 1), false);
    for (const auto& [token, id] : vocab) {
        m.vocab_r_[id] = token;
        m.has_id_[id] = true;
    }
    m.vocab_ = std::move(vocab);
    m.config_ = std::move(config);

    // Merged tokens drop the continuing-subword prefix of their right part (model.rs).
    const std::size_t prefix_len = m.config_.continuing_subword_prefix.size();
    m.merges_.reserve(merges.size());
    m.num_merges_ = merges.size();
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [left, right] = merges[rank];
        const std::string merged =
            left + (right.size() >= prefix_len ? right.substr(prefix_len) : std::string());
        for (const std::string* part : {&left, &right, &merged}) {
            if (m.token_to_id(*part) < 0) {
                return make_error(ErrorKind::bad_input, "merge " + std::to_string(rank + 1) +
                                                            " (\"" + left + " " + right +
                                                            "\") needs token \"" + *part +
                                                            "\", which is not in model.vocab");
            }
        }
        m.merges_.insert_or_assign(m.token_to_id(left), m.token_to_id(right),
                                   {static_cast<int32_t>(rank), m.token_to_id(merged)});
    }

    if (m.config_.unk_token) {
        m.unk_id_ = m.token_to_id(*m.config_.unk_token);
        if (m.unk_id_ < 0) {
            spdlog::warn(
                "tokenizer: model.unk_token \"{}\" is not in model.vocab; characters "
                "outside the vocabulary will be dropped",
                *m.config_.unk_token);
        }
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        const std::string name = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
        m.byte_ids_[b] = m.token_to_id(name);
    }
    for (int c = 0; c < 128; ++c) {
        m.ascii_ids_[c] = m.token_to_id(std::string(1, static_cast<char>(c)));
    }
    return {};
}

int32_t BpeModel::token_to_id(std::string_view token) const {
    const auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
    if (id < 0 || id >= id_limit() || !has_id_[id]) {
        return nullptr;
    }
    return &vocab_r_[id];
}

// ---- tokenizing -----------------------------------------------------------------------

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& dst,
                        BpeWordCache* cache) const {
    if (word.empty()) {
        return;
    }
    if (config_.ignore_merges) {
        const int32_t id = token_to_id(word);
        if (id >= 0) {
            dst.push_back(id);
            return;
        }
    }
    // Long words are rarely repeated; the reference caches only words under 256 bytes.
    static constexpr std::size_t kMaxCachedBytes = 256;
    if (cache == nullptr || word.size() >= kMaxCachedBytes) {
        merge_word(word, dst);
        return;
    }
    const auto it = cache->find(word);
    if (it != cache->end()) {
        dst.insert(dst.end(), it->second.begin(), it->second.end());
        return;
    }
    std::vector<int32_t> ids;
    merge_word(word, ids);
    dst.insert(dst.end(), ids.begin(), ids.end());
    cache->emplace(std::string(word), std::move(ids));
}

int32_t BpeModel::char_id(std::string_view ch, bool is_first, bool is_last) const {
    const bool plain = (is_first || config_.continuing_subword_prefix.empty()) &&
                       (!is_last || config_.end_of_word_suffix.empty());
    if (plain) {
        const auto c = static_cast<unsigned char>(ch[0]);
        return c < 128 ? ascii_ids_[c] : token_to_id(ch);
    }
    std::string s(ch);
    if (!is_first) {
        s = config_.continuing_subword_prefix + s;
    }
    if (is_last) {
        s += config_.end_of_word_suffix;
    }
    return token_to_id(s);
}

namespace {

// A symbol of a word being merged, linked to its live neighbours. Byte lengths, which
// the reference keeps for offsets, are not needed for ids; 12 bytes keep long words
// compact in cache.
struct Symbol {
    int32_t id = 0;  // kMerged once merged into its left neighbour
    int32_t prev = -1;
    int32_t next = -1;
};

constexpr int32_t kMerged = -1;

// A candidate merge; `key` = rank << 32 | position, so that one integer comparison
// orders by lowest rank, then leftmost position, as Word::merge_all's heap does.
struct Merge {
    uint64_t key = 0;
    int32_t new_id = 0;
};

Merge make_merge(int32_t rank, int32_t pos, int32_t new_id) {
    return Merge{(uint64_t{static_cast<uint32_t>(rank)} << 32) | static_cast<uint32_t>(pos),
                 new_id};
}

// Heap order for std::push_heap / pop_heap: the front is the smallest key.
struct MergeAfter {
    bool operator()(const Merge& a, const Merge& b) const { return a.key > b.key; }
};

void add_symbol(std::vector<Symbol>& symbols, int32_t id) {
    const auto idx = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) {
        symbols.back().next = idx;
    }
    symbols.push_back(Symbol{id, idx - 1, -1});
}

// Merges the pair at `pos` when it still gives `new_id` (an entry queued before a
// neighbour changed is stale), then offers the two new pairs around the merged symbol
// to `push(rank, pos, new_id)`. Word::merge_all, the loop body.
template <class Push>
void apply_merge(const PairMap& merges, std::vector<Symbol>& symbols, int32_t pos, int32_t new_id,
                 Push&& push) {
    Symbol& cur = symbols[pos];
    if (cur.id == kMerged || cur.next == -1) {
        return;
    }
    const Symbol right = symbols[cur.next];
    const PairMap::Value* m = merges.find(cur.id, right.id);
    if (m == nullptr || m->new_id != new_id) {
        return;
    }
    symbols[cur.next].id = kMerged;
    cur.id = new_id;
    cur.next = right.next;
    if (right.next >= 0) {
        symbols[right.next].prev = pos;
    }
    if (cur.prev >= 0) {
        if (const PairMap::Value* pm = merges.find(symbols[cur.prev].id, cur.id)) {
            push(pm->rank, cur.prev, pm->new_id);
        }
    }
    if (cur.next >= 0) {
        if (const PairMap::Value* nm = merges.find(cur.id, symbols[cur.next].id)) {
            push(nm->rank, pos, nm->new_id);
        }
    }
}

// Word::merge_all: merges the pair of lowest rank, leftmost first, until none is left,
// with one heap of (rank, position) entries as the reference does.
void merge_all_heap(const PairMap& merges, std::vector<Symbol>& symbols) {
    std::vector<Merge> heap;
    heap.reserve(symbols.size());
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        if (const PairMap::Value* m = merges.find(symbols[i].id, symbols[i + 1].id)) {
            heap.push_back(make_merge(m->rank, static_cast<int32_t>(i), m->new_id));
        }
    }
    std::make_heap(heap.begin(), heap.end(), MergeAfter{});
    auto push = [&heap](int32_t rank, int32_t pos, int32_t new_id) {
        heap.push_back(make_merge(rank, pos, new_id));
        std::push_heap(heap.begin(), heap.end(), MergeAfter{});
    };
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), MergeAfter{});
        const Merge top = heap.back();
        heap.pop_back();
        apply_merge(merges, symbols, static_cast<int32_t>(top.key & 0xFFFFFFFFu), top.new_id, push);
    }
}

// The same order for long words (a tokenizer without pre-tokenizer sees a whole file as
// one word): a small heap of positions per rank, and a heap of the ranks that have any.
// Each rank then sweeps the symbols left to right, which keeps memory access local; one
// heap over all entries jumps across the whole word at every step.
void merge_all_by_rank(const PairMap& merges, std::size_t num_ranks, std::vector<Symbol>& symbols) {
    std::vector<std::vector<int32_t>> positions(num_ranks);
    std::vector<int32_t> new_ids(num_ranks, -1);  // one pair, so one merged id, per rank
    std::vector<uint8_t> queued(num_ranks, 0);
    std::vector<int32_t> ranks;
    const std::greater<int32_t> after;
    auto push = [&](int32_t rank, int32_t pos, int32_t new_id) {
        std::vector<int32_t>& at = positions[rank];
        at.push_back(pos);
        std::push_heap(at.begin(), at.end(), after);
        new_ids[rank] = new_id;
        if (queued[rank] == 0) {
            queued[rank] = 1;
            ranks.push_back(rank);
            std::push_heap(ranks.begin(), ranks.end(), after);
        }
    };
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        if (const PairMap::Value* m = merges.find(symbols[i].id, symbols[i + 1].id)) {
            push(m->rank, static_cast<int32_t>(i), m->new_id);
        }
    }
    while (!ranks.empty()) {
        const int32_t rank = ranks.front();
        std::vector<int32_t>& at = positions[rank];
        if (at.empty()) {
            std::pop_heap(ranks.begin(), ranks.end(), after);
            ranks.pop_back();
            queued[rank] = 0;
            continue;
        }
        std::pop_heap(at.begin(), at.end(), after);
        const int32_t pos = at.back();
        at.pop_back();
        if (!at.empty()) {
            // The next position of this rank is known: fetch its symbol while merging.
            __builtin_prefetch(&symbols[at.front()]);
        }
        apply_merge(merges, symbols, pos, new_ids[rank], push);
    }
}

}  // namespace

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& dst) const {
    // Symbols: BPE::merge_word. A run of unknown chars is held back so that it can be
    // fused into one <unk>; note that a byte-fallback char does not flush it (as there).
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    bool unk_pending = false;
    std::size_t pos = 0;
    while (pos < word.size()) {
        const std::size_t n = utf8_seq_len(static_cast<unsigned char>(word[pos]));
        const bool is_first = pos == 0;
        const bool is_last = pos + n >= word.size();
        const std::string_view ch = word.substr(pos, n);
        pos += n;
        const int32_t id = char_id(ch, is_first, is_last);
        if (id >= 0) {
            if (unk_pending) {
                add_symbol(symbols, unk_id_);
                unk_pending = false;
            }
            add_symbol(symbols, id);
            continue;
        }
        if (config_.byte_fallback) {
            std::string s(ch);
            if (!is_first) {
                s = config_.continuing_subword_prefix + s;
            }
            if (is_last) {
                s += config_.end_of_word_suffix;
            }
            bool all_bytes = true;
            for (const char b : s) {
                all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(b)] >= 0;
            }
            if (all_bytes) {
                for (const char b : s) {
                    add_symbol(symbols, byte_ids_[static_cast<unsigned char>(b)]);
                }
                continue;
            }
        }
        if (unk_id_ < 0) {
            continue;
        }
        if (unk_pending && !config_.fuse_unk) {
            add_symbol(symbols, unk_id_);
        }
        unk_pending = true;
    }
    if (unk_pending) {
        add_symbol(symbols, unk_id_);
    }

    if (symbols.size() >= long_word_symbols_) {
        merge_all_by_rank(merges_, num_merges_, symbols);
    } else {
        merge_all_heap(merges_, symbols);
    }
    for (const Symbol& s : symbols) {
        if (s.id != kMerged) {
            dst.push_back(s.id);
        }
    }
}

}  // namespace mcomp::tok
