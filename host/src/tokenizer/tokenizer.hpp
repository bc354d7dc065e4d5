// tokenizer.hpp: a Hugging Face tokenizer.json BPE tokenizer, giving the ids the
// `tokenizers` library (Tokenizer.from_file) gives.
//
// Covers the two BPE families of the Llama-style models mcomp compresses:
//  - metaspace / sentencepiece style (Llama-2, TinyStories): normalizer Prepend("▁") +
//    Replace(" ", "▁") or a Metaspace pre-tokenizer, `<0xXX>` byte fallback, <unk>;
//  - GPT-2 byte-level style (Llama-3, Qwen2, SmolLM): a Split regex and/or ByteLevel.
// Encoding follows the reference pipeline: added/special tokens are cut out first, the
// rest is normalized, pre-tokenized and run through the BPE merges; BOS/EOS come from
// tokenizer_config.json (add_bos_token / add_eos_token) or else the post_processor.
//
// A loaded Tokenizer is immutable; copies share it, and encode/decode may run on any
// number of threads at once.
//
// Checked against the reference: tests/golden/tokenizer/ (ids made by the library) and a
// randomized comparison of pipelines during development. Not reproduced: the WordPiece,
// Unigram and WordLevel models (refused at load), BPE dropout (ignored: encoding is
// deterministic), the encode_special_tokens option (special token strings in the text
// always become their ids), offsets, and what transformers changes on top of the file
// (add_prefix_space / legacy / from_slow rewrites, clean_up_tokenization_spaces).
// decode() passes added tokens through the decoder as their content; tokenizers 0.23
// passes a normalized added token in its normalized form (e.g. "▁<|start_story|>"), which
// gives different spaces around special tokens in decoded text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/expected.hpp"

namespace mcomp {

class Tokenizer {
  public:
    // Reads `model_dir`/tokenizer.json, and tokenizer_config.json and
    // special_tokens_map.json when present. Errors name the file and the key.
    static Expected<Tokenizer> load(const std::string& model_dir);

    // Same, from the text of the files (tokenizer_config_json may be empty); messages
    // name them as if they were in a folder called `source`.
    static Expected<Tokenizer> from_json(std::string_view tokenizer_json,
                                         std::string_view tokenizer_config_json,
                                         const std::string& source);

    // The ids of `text` (UTF-8; invalid bytes are read as U+FFFD). With
    // add_special_tokens, BOS/EOS are added as the model's configuration asks. Special
    // token strings inside the text always become their ids, as in the reference.
    std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;

    // The text of `ids` through the tokenizer's decoder; ids without a token are
    // skipped, and so are special tokens when skip_special_tokens is set.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

    int32_t bos_id() const;  // -1 when the model has none
    int32_t eos_id() const;  // -1 when the model has none
    int32_t unk_id() const;  // -1 when the model has none
    // One past the largest token id (model vocabulary and added tokens).
    int32_t vocab_size() const;

    // Token <-> id lookups (added tokens first, then the model vocabulary).
    int32_t token_to_id(std::string_view token) const;  // -1 when absent
    std::string id_to_token(int32_t id) const;          // "" when absent

    struct Impl;

  private:
    Tokenizer() = default;  // only load() and from_json() make one

    std::shared_ptr<const Impl> impl_;
};

}  // namespace mcomp
