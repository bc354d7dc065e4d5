// tokenizer.cpp: encoding and decoding with a loaded Tokenizer (loading is in
// tokenizer_load.cpp).
#include "tokenizer/tokenizer.hpp"

#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace mcomp {

int32_t Tokenizer::Impl::token_to_id(std::string_view token) const {
    const auto it = added_ids.find(token);
    return it != added_ids.end() ? it->second : model.token_to_id(token);
}

namespace {

// Cuts every piece the model has not seen at the matcher's tokens; drops empty pieces.
void split_on_added(const tok::AddedTokenMatcher& matcher, std::vector<tok::Piece>& pieces) {
    std::vector<tok::Piece> next;
    next.reserve(pieces.size());
    for (tok::Piece& p : pieces) {
        if (p.id >= 0) {
            next.push_back(std::move(p));
        } else if (!p.text.empty()) {
            if (matcher.empty()) {
                next.push_back(std::move(p));
            } else {
                matcher.split(p, next);
            }
        }
    }
    pieces.swap(next);
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
    const Impl& im = *impl_;
    // AddedVocabulary::extract_and_normalize: raw-text tokens, then normalization of
    // each remaining piece on its own, then the normalized tokens.
    std::vector<tok::Piece> pieces;
    pieces.push_back(
        tok::Piece{tok::utf8_is_valid(text) ? std::string(text) : tok::utf8_lossy(text), -1, 0});
    if (!pieces[0].text.empty()) {
        pieces[0].origin_bytes = tok::utf8_seq_len(static_cast<unsigned char>(pieces[0].text[0]));
    }
    split_on_added(im.raw_matcher, pieces);
    for (tok::Piece& p : pieces) {
        if (p.id < 0) {
            tok::normalize(im.normalizers, p.text, p.origin_bytes);
        }
    }
    split_on_added(im.normalized_matcher, pieces);
    tok::pre_tokenize(im.pre_tokenizers, im.gpt2 ? &*im.gpt2 : nullptr, pieces);

    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 8);
    if (add_special_tokens) {
        ids.insert(ids.end(), im.prefix_ids.begin(), im.prefix_ids.end());
    }
    tok::BpeWordCache cache;
    for (const tok::Piece& p : pieces) {
        if (p.id >= 0) {
            ids.push_back(p.id);
        } else {
            im.model.tokenize(p.text, ids, &cache);
        }
    }
    if (add_special_tokens) {
        ids.insert(ids.end(), im.suffix_ids.begin(), im.suffix_ids.end());
    }
    return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    const Impl& im = *impl_;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const int32_t id : ids) {
        const auto it = im.added_at.find(id);
        if (it != im.added_at.end()) {
            const tok::AddedToken& t = im.added[it->second];
            if (!(skip_special_tokens && t.special)) {
                tokens.push_back(t.content);
            }
        } else if (const std::string* s = im.model.id_to_token(id)) {
            tokens.push_back(*s);
        }
    }
    return tok::decode_tokens(im.decoders, std::move(tokens), im.has_decoder);
}

int32_t Tokenizer::bos_id() const {
    return impl_->bos_id;
}
int32_t Tokenizer::eos_id() const {
    return impl_->eos_id;
}
int32_t Tokenizer::unk_id() const {
    return impl_->model.unk_id();
}
int32_t Tokenizer::vocab_size() const {
    return impl_->vocab_size;
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
    return impl_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
    const auto it = impl_->added_at.find(id);
    if (it != impl_->added_at.end()) {
        return impl_->added[it->second].content;
    }
    const std::string* s = impl_->model.id_to_token(id);
    return s != nullptr ? *s : std::string();
}

}  // namespace mcomp
