// tokenizer_load.cpp: reads tokenizer.json (and tokenizer_config.json,
// special_tokens_map.json) into a Tokenizer, with errors that name the file and the key.
//
// The walk over the documents throws a LoadFailure that never leaves this file: load()
// and from_json() turn it into an Error. That keeps each section's reader short.
#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"
#include "util/strings.hpp"

namespace mcomp {

namespace {

using json = nlohmann::json;

struct LoadFailure {
    Error error;
};

// ---- document access with located errors ------------------------------------------------

// One document being read; every failure message starts with its name.
class Doc {
  public:
    explicit Doc(std::string name) : name_(std::move(name)) {}

    [[noreturn]] void fail(ErrorKind kind, const std::string& what) const {
        throw LoadFailure{make_error(kind, name_ + ": " + what)};
    }

    // obj[key] when present and not null, else nullptr; `obj` must be an object.
    const json* find(const json& obj, const std::string& path, const char* key) const {
        if (!obj.is_object()) {
            fail(ErrorKind::bad_input, (path.empty() ? std::string("the top level") : path) +
                                           " must be an object, found " +
                                           std::string(obj.type_name()));
        }
        const auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }

    const json& require(const json& obj, const std::string& path, const char* key) const {
        const json* v = find(obj, path, key);
        if (v == nullptr) {
            fail(ErrorKind::bad_input, join(path, key) + " is missing");
        }
        return *v;
    }

    const std::string& as_string(const json& v, const std::string& path) const {
        if (!v.is_string()) {
            expected(path, "a string", v);
        }
        return v.get_ref<const std::string&>();
    }

    int64_t as_int(const json& v, const std::string& path) const {
        if (!v.is_number_integer()) {
            expected(path, "an integer", v);
        }
        return v.get<int64_t>();
    }

    const json& as_array(const json& v, const std::string& path) const {
        if (!v.is_array()) {
            expected(path, "an array", v);
        }
        return v;
    }

    bool opt_bool(const json& obj, const std::string& path, const char* key, bool dflt) const {
        const json* v = find(obj, path, key);
        if (v == nullptr) {
            return dflt;
        }
        if (!v->is_boolean()) {
            expected(join(path, key), "true or false", *v);
        }
        return v->get<bool>();
    }

    std::optional<std::string> opt_string(const json& obj, const std::string& path,
                                          const char* key) const {
        const json* v = find(obj, path, key);
        return v == nullptr ? std::nullopt
                            : std::optional<std::string>(as_string(*v, join(path, key)));
    }

    // The "type" of a component object.
    std::string type_of(const json& obj, const std::string& path) const {
        return as_string(require(obj, path, "type"), join(path, "type"));
    }

    [[noreturn]] void unsupported(const std::string& path, const std::string& type,
                                  const char* supported) const {
        fail(ErrorKind::unsupported,
             path + ".type \"" + type + "\" is not supported (supported: " + supported + ")");
    }

    static std::string join(const std::string& path, const std::string& key) {
        return path.empty() ? key : path + "." + key;
    }
    static std::string at(const std::string& path, std::size_t i) {
        return path + "[" + std::to_string(i) + "]";
    }

  private:
    [[noreturn]] void expected(const std::string& path, const char* what, const json& v) const {
        fail(ErrorKind::bad_input,
             path + " must be " + what + ", found " + std::string(v.type_name()));
    }

    std::string name_;
};

json parse_document(const std::string& text, const std::string& name) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        // e.byte counts from 1 and points at the byte where reading stopped.
        const std::size_t idx = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
        const std::size_t line = 1 + std::count(text.begin(), text.begin() + idx, '\n');
        const std::size_t nl = idx == 0 ? std::string::npos : text.rfind('\n', idx - 1);
        const std::size_t col = nl == std::string::npos ? idx + 1 : idx - nl;
        // nlohmann's text is "[json.exception...] parse error at line L, column C: why".
        std::string why = e.what();
        const std::size_t colon = why.find(": ", why.find("parse error"));
        if (colon != std::string::npos) {
            why = why.substr(colon + 2);
        }
        throw LoadFailure{make_error(ErrorKind::bad_input, name + ":" + std::to_string(line) + ":" +
                                                               std::to_string(col) +
                                                               ": malformed JSON: " + why)};
    }
}

// ---- components -------------------------------------------------------------------------

// {"String": s} or {"Regex": r}, as Split and Replace spell their patterns.
void read_pattern(const Doc& d, const json& obj, const std::string& path, std::string& literal,
                  std::optional<tok::Regex>& regex) {
    const json& p = d.require(obj, path, "pattern");
    const std::string pp = Doc::join(path, "pattern");
    if (const json* s = d.find(p, pp, "String")) {
        literal = d.as_string(*s, Doc::join(pp, "String"));
        if (literal.empty()) {
            d.fail(ErrorKind::bad_input, Doc::join(pp, "String") + " is empty");
        }
        return;
    }
    if (const json* r = d.find(p, pp, "Regex")) {
        Expected<tok::Regex> re = tok::Regex::compile(d.as_string(*r, Doc::join(pp, "Regex")));
        if (!re) {
            d.fail(ErrorKind::bad_input, Doc::join(pp, "Regex") + ": " + re.error().message);
        }
        regex = std::move(re.value());
        return;
    }
    d.fail(ErrorKind::bad_input, pp + " must hold \"String\" or \"Regex\"");
}

// The single char of Metaspace / Strip fields, kept as UTF-8.
std::string read_char(const Doc& d, const json& obj, const std::string& path, const char* key) {
    const std::string s = d.as_string(d.require(obj, path, key), Doc::join(path, key));
    const bool one_char = !s.empty() && tok::utf8_is_valid(s) &&
                          tok::utf8_seq_len(static_cast<unsigned char>(s[0])) == s.size();
    if (!one_char) {
        d.fail(ErrorKind::bad_input, Doc::join(path, key) + " must be one character");
    }
    return s;
}

void read_normalizer(const Doc& d, const json& obj, const std::string& path,
                     std::vector<tok::NormalizerStep>& dst) {
    const std::string type = d.type_of(obj, path);
    tok::NormalizerStep step;
    if (type == "Sequence") {
        const std::string list = Doc::join(path, "normalizers");
        const json& items = d.as_array(d.require(obj, path, "normalizers"), list);
        for (std::size_t i = 0; i < items.size(); ++i) {
            read_normalizer(d, items[i], Doc::at(list, i), dst);
        }
        return;
    }
    if (type == "Prepend") {
        step.kind = tok::NormalizerKind::prepend;
        step.text = d.as_string(d.require(obj, path, "prepend"), Doc::join(path, "prepend"));
    } else if (type == "Replace") {
        step.kind = tok::NormalizerKind::replace;
        read_pattern(d, obj, path, step.text, step.pattern);
        step.content = d.as_string(d.require(obj, path, "content"), Doc::join(path, "content"));
    } else if (type == "Strip") {
        step.kind = tok::NormalizerKind::strip;
        step.strip_left = d.opt_bool(obj, path, "strip_left", false);
        step.strip_right = d.opt_bool(obj, path, "strip_right", false);
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        if (!tok::unicode_forms_available()) {
            d.fail(ErrorKind::unsupported,
                   path + ".type \"" + type + "\" needs ICU, which this build lacks");
        }
        step.kind = type == "NFC"    ? tok::NormalizerKind::nfc
                    : type == "NFD"  ? tok::NormalizerKind::nfd
                    : type == "NFKC" ? tok::NormalizerKind::nfkc
                                     : tok::NormalizerKind::nfkd;
    } else {
        d.unsupported(path, type, "Sequence, Prepend, Replace, Strip, NFC, NFD, NFKC, NFKD");
    }
    dst.push_back(std::move(step));
}

tok::SplitBehavior read_behavior(const Doc& d, const json& obj, const std::string& path) {
    const std::string key = Doc::join(path, "behavior");
    const std::string b = d.as_string(d.require(obj, path, "behavior"), key);
    if (b == "Removed") {
        return tok::SplitBehavior::removed;
    }
    if (b == "Isolated") {
        return tok::SplitBehavior::isolated;
    }
    if (b == "MergedWithPrevious") {
        return tok::SplitBehavior::merged_with_previous;
    }
    if (b == "MergedWithNext") {
        return tok::SplitBehavior::merged_with_next;
    }
    if (b == "Contiguous") {
        return tok::SplitBehavior::contiguous;
    }
    d.fail(ErrorKind::bad_input, key + " \"" + b +
                                     "\" is not one of Removed, Isolated, MergedWithPrevious, "
                                     "MergedWithNext, Contiguous");
}

// Metaspace's prepend_scheme, or the older add_prefix_space flag it replaced.
tok::PrependScheme read_prepend_scheme(const Doc& d, const json& obj, const std::string& path) {
    if (const std::optional<std::string> s = d.opt_string(obj, path, "prepend_scheme")) {
        if (*s == "always") {
            return tok::PrependScheme::always;
        }
        if (*s == "first") {
            return tok::PrependScheme::first;
        }
        if (*s == "never") {
            return tok::PrependScheme::never;
        }
        d.fail(ErrorKind::bad_input, Doc::join(path, "prepend_scheme") + " \"" + *s +
                                         "\" is not one of always, first, never");
    }
    return d.opt_bool(obj, path, "add_prefix_space", true) ? tok::PrependScheme::always
                                                           : tok::PrependScheme::never;
}

void read_pre_tokenizer(const Doc& d, const json& obj, const std::string& path,
                        std::vector<tok::PreTokenizerStep>& dst) {
    const std::string type = d.type_of(obj, path);
    tok::PreTokenizerStep step;
    if (type == "Sequence") {
        const std::string list = Doc::join(path, "pretokenizers");
        const json& items = d.as_array(d.require(obj, path, "pretokenizers"), list);
        for (std::size_t i = 0; i < items.size(); ++i) {
            read_pre_tokenizer(d, items[i], Doc::at(list, i), dst);
        }
        return;
    }
    if (type == "Split") {
        step.kind = tok::PreTokenizerKind::split;
        read_pattern(d, obj, path, step.text, step.pattern);
        step.behavior = read_behavior(d, obj, path);
        step.invert = d.opt_bool(obj, path, "invert", false);
    } else if (type == "ByteLevel") {
        step.kind = tok::PreTokenizerKind::byte_level;
        step.add_prefix_space = d.opt_bool(obj, path, "add_prefix_space", true);
        step.use_regex = d.opt_bool(obj, path, "use_regex", true);
    } else if (type == "Metaspace") {
        step.kind = tok::PreTokenizerKind::metaspace;
        step.text = read_char(d, obj, path, "replacement");
        step.prepend_scheme = read_prepend_scheme(d, obj, path);
        step.split = d.opt_bool(obj, path, "split", true);
    } else if (type == "Digits") {
        // Rust's char::is_numeric is \p{N}; runs of digits are one contiguous piece.
        const bool individual = d.opt_bool(obj, path, "individual_digits", false);
        step.kind = tok::PreTokenizerKind::split;
        step.pattern =
            std::move(tok::Regex::compile(individual ? R"(\p{N})" : R"(\p{N}+)").value());
        step.behavior = tok::SplitBehavior::isolated;
    } else {
        d.unsupported(path, type, "Sequence, Split, ByteLevel, Metaspace, Digits");
    }
    dst.push_back(std::move(step));
}

void read_decoder(const Doc& d, const json& obj, const std::string& path,
                  std::vector<tok::DecoderStep>& dst) {
    const std::string type = d.type_of(obj, path);
    tok::DecoderStep step;
    if (type == "Sequence") {
        const std::string list = Doc::join(path, "decoders");
        const json& items = d.as_array(d.require(obj, path, "decoders"), list);
        for (std::size_t i = 0; i < items.size(); ++i) {
            read_decoder(d, items[i], Doc::at(list, i), dst);
        }
        return;
    }
    if (type == "Replace") {
        step.kind = tok::DecoderKind::replace;
        read_pattern(d, obj, path, step.text, step.pattern);
        step.content = d.as_string(d.require(obj, path, "content"), Doc::join(path, "content"));
    } else if (type == "ByteFallback") {
        step.kind = tok::DecoderKind::byte_fallback;
    } else if (type == "Fuse") {
        step.kind = tok::DecoderKind::fuse;
    } else if (type == "Strip") {
        step.kind = tok::DecoderKind::strip;
        step.text = read_char(d, obj, path, "content");
        step.strip_start =
            static_cast<int>(d.as_int(d.require(obj, path, "start"), Doc::join(path, "start")));
        step.strip_stop =
            static_cast<int>(d.as_int(d.require(obj, path, "stop"), Doc::join(path, "stop")));
    } else if (type == "ByteLevel") {
        step.kind = tok::DecoderKind::byte_level;
    } else if (type == "Metaspace") {
        step.kind = tok::DecoderKind::metaspace;
        step.text = read_char(d, obj, path, "replacement");
        step.metaspace_prepend = read_prepend_scheme(d, obj, path) != tok::PrependScheme::never;
    } else {
        d.unsupported(path, type,
                      "Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace");
    }
    dst.push_back(std::move(step));
}

// ---- model and added tokens ------------------------------------------------------------

tok::BpeModel read_model(const Doc& d, const json& root) {
    const json& m = d.require(root, "", "model");
    const std::string type = d.type_of(m, "model");
    if (type != "BPE") {
        d.unsupported("model", type, "BPE");
    }
    tok::StringMap<int32_t> vocab;
    const json& v = d.require(m, "model", "vocab");
    if (!v.is_object()) {
        d.fail(ErrorKind::bad_input,
               "model.vocab must be an object of token: id, found " + std::string(v.type_name()));
    }
    vocab.reserve(v.size());
    for (const auto& [token, id] : v.items()) {
        vocab.emplace(token, static_cast<int32_t>(d.as_int(id, "model.vocab[\"" + token + "\"]")));
    }
    std::vector<std::pair<std::string, std::string>> merges;
    if (const json* ms = d.find(m, "model", "merges")) {
        d.as_array(*ms, "model.merges");
        merges.reserve(ms->size());
        for (std::size_t i = 0; i < ms->size(); ++i) {
            const json& e = (*ms)[i];
            const std::string path = Doc::at("model.merges", i);
            if (e.is_string()) {
                // The reference splits on every space and wants exactly two parts.
                const std::string& s = e.get_ref<const std::string&>();
                const std::size_t sp = s.find(' ');
                if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
                    d.fail(ErrorKind::bad_input,
                           path + " is \"" + s + "\"; expected \"left right\" with one space");
                }
                merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
            } else {
                d.fail(ErrorKind::bad_input,
                       path + " must be a \"left right\" string or a [left, right] pair");
            }
        }
    }
    if (const json* dropout = d.find(m, "model", "dropout")) {
        if (dropout->is_number() && dropout->get<double>() > 0.0) {
            spdlog::warn("tokenizer: model.dropout is ignored; encoding is deterministic");
        }
    }
    tok::BpeConfig config;
    config.unk_token = d.opt_string(m, "model", "unk_token");
    config.continuing_subword_prefix =
        d.opt_string(m, "model", "continuing_subword_prefix").value_or("");
    config.end_of_word_suffix = d.opt_string(m, "model", "end_of_word_suffix").value_or("");
    config.fuse_unk = d.opt_bool(m, "model", "fuse_unk", false);
    config.byte_fallback = d.opt_bool(m, "model", "byte_fallback", false);
    config.ignore_merges = d.opt_bool(m, "model", "ignore_merges", false);
    tok::BpeModel model;
    const Status built = tok::BpeModel::build(std::move(vocab), merges, config, model);
    if (!built) {
        d.fail(built.error().kind, "model: " + built.error().message);
    }
    return model;
}

std::vector<tok::AddedToken> read_added_tokens(const Doc& d, const json& root) {
    std::vector<tok::AddedToken> tokens;
    const json* list = d.find(root, "", "added_tokens");
    if (list == nullptr) {
        return tokens;
    }
    d.as_array(*list, "added_tokens");
    for (std::size_t i = 0; i < list->size(); ++i) {
        const json& t = (*list)[i];
        const std::string path = Doc::at("added_tokens", i);
        tok::AddedToken a;
        a.id = static_cast<int32_t>(d.as_int(d.require(t, path, "id"), Doc::join(path, "id")));
        a.content = d.as_string(d.require(t, path, "content"), Doc::join(path, "content"));
        a.special = d.opt_bool(t, path, "special", false);
        a.single_word = d.opt_bool(t, path, "single_word", false);
        a.lstrip = d.opt_bool(t, path, "lstrip", false);
        a.rstrip = d.opt_bool(t, path, "rstrip", false);
        a.normalized = d.opt_bool(t, path, "normalized", !a.special);
        if (a.id < 0 || a.content.empty()) {
            d.fail(ErrorKind::bad_input, path + " needs a non-negative id and a non-empty content");
        }
        tokens.push_back(std::move(a));
    }
    return tokens;
}

// The reference does not take an added token's id from the file: it re-adds the tokens
// in order (AddedVocabulary::add_tokens), giving each the id its content already has in
// the model vocabulary, or else the next free id after the vocabulary. Files written by
// the library agree; for others it warns, and so does this.
void assign_added_ids(const tok::BpeModel& model, std::vector<tok::AddedToken>& tokens) {
    tok::StringMap<int32_t> given;
    int32_t max_added = -1;
    for (tok::AddedToken& a : tokens) {
        int32_t id = -1;
        if (const auto it = given.find(a.content); it != given.end()) {
            id = it->second;
        } else if (model.token_to_id(a.content) >= 0) {
            id = model.token_to_id(a.content);
        } else {
            id = max_added >= model.num_tokens() ? max_added + 1 : model.num_tokens();
        }
        if (id != a.id) {
            spdlog::warn(
                "tokenizer: added token \"{}\" has id {} in the file but {} by the "
                "vocabulary, which the tokenizers library uses; using {}",
                a.content, a.id, id, id);
            a.id = id;
        }
        given.emplace(a.content, id);
        max_added = std::max(max_added, id);
    }
}

// ---- special tokens around the sequence ---------------------------------------------------

// Wraps the ids as post-processor `obj` would for a single sequence.
void read_post_processor(const Doc& d, const json& obj, const std::string& path,
                         std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
    const std::string type = d.type_of(obj, path);
    if (type == "Sequence") {
        const std::string list = Doc::join(path, "processors");
        const json& items = d.as_array(d.require(obj, path, "processors"), list);
        for (std::size_t i = 0; i < items.size(); ++i) {
            read_post_processor(d, items[i], Doc::at(list, i), prefix, suffix);
        }
        return;
    }
    std::vector<int32_t> pre;
    std::vector<int32_t> post;
    if (type == "TemplateProcessing") {
        const std::string single = Doc::join(path, "single");
        const json& items = d.as_array(d.require(obj, path, "single"), single);
        const json& specials = d.require(obj, path, "special_tokens");
        bool seen_sequence = false;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const std::string ip = Doc::at(single, i);
            if (d.find(items[i], ip, "Sequence") != nullptr) {
                seen_sequence = true;
                continue;
            }
            const json& st = d.require(items[i], ip, "SpecialToken");
            const std::string& name =
                d.as_string(d.require(st, Doc::join(ip, "SpecialToken"), "id"),
                            Doc::join(ip, "SpecialToken.id"));
            const auto it = specials.find(name);
            if (!specials.is_object() || it == specials.end()) {
                d.fail(ErrorKind::bad_input, ip + ": special token \"" + name + "\" is not in " +
                                                 Doc::join(path, "special_tokens"));
            }
            const std::string idp = Doc::join(path, "special_tokens." + name + ".ids");
            for (const json& id : d.as_array(d.require(*it, idp, "ids"), idp)) {
                (seen_sequence ? post : pre).push_back(static_cast<int32_t>(d.as_int(id, idp)));
            }
        }
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
        // {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}: [CLS] A [SEP].
        const json& cls = d.as_array(d.require(obj, path, "cls"), Doc::join(path, "cls"));
        const json& sep = d.as_array(d.require(obj, path, "sep"), Doc::join(path, "sep"));
        if (cls.size() != 2 || sep.size() != 2) {
            d.fail(ErrorKind::bad_input, path + ".cls and .sep must be [token, id] pairs");
        }
        pre.push_back(static_cast<int32_t>(d.as_int(cls[1], Doc::join(path, "cls[1]"))));
        post.push_back(static_cast<int32_t>(d.as_int(sep[1], Doc::join(path, "sep[1]"))));
    } else if (type != "ByteLevel") {  // ByteLevel only trims offsets
        d.unsupported(path, type,
                      "Sequence, TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing");
    }
    prefix.insert(prefix.begin(), pre.begin(), pre.end());
    suffix.insert(suffix.end(), post.begin(), post.end());
}

// bos_token / eos_token: a string, or an AddedToken object with "content".
std::optional<std::string> read_token_name(const Doc& d, const json& cfg, const char* key) {
    const json* v = d.find(cfg, "", key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->is_object()) {
        return d.as_string(d.require(*v, key, "content"), Doc::join(key, "content"));
    }
    return d.as_string(*v, key);
}

int32_t special_id(const Doc& d, const Tokenizer::Impl& im, const json& cfg, const char* key) {
    const std::optional<std::string> name = read_token_name(d, cfg, key);
    if (!name) {
        return -1;
    }
    const int32_t id = im.token_to_id(*name);
    if (id < 0) {
        d.fail(ErrorKind::bad_input, std::string(key) + " \"" + *name +
                                         "\" is neither an added token nor in the vocabulary");
    }
    return id;
}

// BOS/EOS: tokenizer_config.json's add_bos_token / add_eos_token, when it sets either, as
// transformers' Llama tokenizers rebuild their template from them; else the
// post_processor of tokenizer.json.
void read_special_layout(const Doc& td, const Doc& cd, const json& root, const json& cfg,
                         Tokenizer::Impl& im) {
    im.bos_id = special_id(cd, im, cfg, "bos_token");
    im.eos_id = special_id(cd, im, cfg, "eos_token");
    const bool from_config = cd.find(cfg, "", "add_bos_token") != nullptr ||
                             cd.find(cfg, "", "add_eos_token") != nullptr;
    if (from_config) {
        const bool add_bos = cd.opt_bool(cfg, "", "add_bos_token", false);
        const bool add_eos = cd.opt_bool(cfg, "", "add_eos_token", false);
        if ((add_bos && im.bos_id < 0) || (add_eos && im.eos_id < 0)) {
            cd.fail(ErrorKind::bad_input,
                    std::string(add_bos && im.bos_id < 0 ? "add_bos_token" : "add_eos_token") +
                        " is true but no such token is configured");
        }
        if (add_bos) {
            im.prefix_ids.push_back(im.bos_id);
        }
        if (add_eos) {
            im.suffix_ids.push_back(im.eos_id);
        }
        return;
    }
    if (const json* pp = td.find(root, "", "post_processor")) {
        read_post_processor(td, *pp, "post_processor", im.prefix_ids, im.suffix_ids);
    }
}

// ---- assembly -----------------------------------------------------------------------------

Tokenizer::Impl build(const Doc& td, const json& root, const Doc& cd, const json& cfg) {
    Tokenizer::Impl im;
    im.model = read_model(td, root);
    im.added = read_added_tokens(td, root);
    assign_added_ids(im.model, im.added);
    if (const json* n = td.find(root, "", "normalizer")) {
        read_normalizer(td, *n, "normalizer", im.normalizers);
    }
    if (const json* p = td.find(root, "", "pre_tokenizer")) {
        read_pre_tokenizer(td, *p, "pre_tokenizer", im.pre_tokenizers);
    }
    if (const json* dec = td.find(root, "", "decoder")) {
        read_decoder(td, *dec, "decoder", im.decoders);
        im.has_decoder = true;
    }
    for (const tok::PreTokenizerStep& s : im.pre_tokenizers) {
        if (s.kind == tok::PreTokenizerKind::byte_level && s.use_regex && !im.gpt2) {
            im.gpt2 = std::move(tok::Regex::compile(tok::kGpt2Pattern).value());
        }
    }

    // Normalized added tokens are searched for in their normalized form.
    std::vector<std::string> raw(im.added.size());
    std::vector<std::string> normalized(im.added.size());
    im.vocab_size = im.model.id_limit();
    for (std::size_t i = 0; i < im.added.size(); ++i) {
        const tok::AddedToken& a = im.added[i];
        im.added_ids.emplace(a.content, a.id);
        im.added_at.emplace(a.id, i);
        im.vocab_size = std::max(im.vocab_size, a.id + 1);
        if (a.normalized) {
            normalized[i] = a.content;
            std::size_t origin_bytes = 0;  // unused: tokens are not pre-tokenized
            tok::normalize(im.normalizers, normalized[i], origin_bytes);
        } else {
            raw[i] = a.content;
        }
    }
    im.raw_matcher.build(im.added, raw);
    im.normalized_matcher.build(im.added, normalized);
    read_special_layout(td, cd, root, cfg, im);
    return im;
}

Expected<Tokenizer::Impl> build_checked(const std::string& tokenizer_text,
                                        const std::string& tokenizer_name,
                                        const std::string& config_text,
                                        const std::string& config_name,
                                        const std::string& special_map_text,
                                        const std::string& special_map_name) {
    try {
        const json root = parse_document(tokenizer_text, tokenizer_name);
        json cfg = config_text.empty() ? json::object() : parse_document(config_text, config_name);
        const Doc cd(config_name);
        if (!cfg.is_object()) {
            cd.fail(ErrorKind::bad_input,
                    "the top level must be an object, found " + std::string(cfg.type_name()));
        }
        // special_tokens_map.json fills in what tokenizer_config.json leaves out.
        if (!special_map_text.empty()) {
            const json map = parse_document(special_map_text, special_map_name);
            if (map.is_object()) {
                for (const char* key : {"bos_token", "eos_token"}) {
                    if (!cfg.contains(key) && map.contains(key)) {
                        cfg[key] = map[key];
                    }
                }
            }
        }
        return build(Doc(tokenizer_name), root, cd, cfg);
    } catch (const LoadFailure& f) {
        return f.error;
    }
}

}  // namespace

Expected<Tokenizer> Tokenizer::from_json(std::string_view tokenizer_json,
                                         std::string_view tokenizer_config_json,
                                         const std::string& source) {
    Expected<Impl> impl = build_checked(
        std::string(tokenizer_json), source + "/tokenizer.json", std::string(tokenizer_config_json),
        source + "/tokenizer_config.json", std::string(), std::string());
    if (!impl) {
        return impl.error();
    }
    Tokenizer t;
    t.impl_ = std::make_shared<const Impl>(std::move(impl.value()));
    return t;
}

Expected<Tokenizer> Tokenizer::load(const std::string& model_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(model_dir, ec)) {
        return make_error(ErrorKind::not_found,
                          model_dir +
                              ": no such folder; pass the folder of a Hugging Face "
                              "model that holds tokenizer.json");
    }
    const std::string tokenizer_path = model_dir + "/tokenizer.json";
    if (!fs::exists(tokenizer_path, ec)) {
        return make_error(ErrorKind::not_found,
                          tokenizer_path +
                              ": no such file; mcomp needs the fast-tokenizer file "
                              "(tokenizer.save_pretrained() writes it)");
    }
    std::string files[3];
    const std::string names[3] = {tokenizer_path, model_dir + "/tokenizer_config.json",
                                  model_dir + "/special_tokens_map.json"};
    for (int i = 0; i < 3; ++i) {
        if (i > 0 && !fs::exists(names[i], ec)) {
            continue;
        }
        if (!read_file(names[i], files[i])) {
            return make_error(ErrorKind::io, names[i] + ": cannot be read; check its permissions");
        }
    }
    Expected<Impl> impl = build_checked(files[0], names[0], files[1], names[1], files[2], names[2]);
    if (!impl) {
        return impl.error();
    }
    Tokenizer t;
    t.impl_ = std::make_shared<const Impl>(std::move(impl.value()));
    return t;
}

}  // namespace mcomp
