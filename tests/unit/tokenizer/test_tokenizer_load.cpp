// test_tokenizer_load.cpp: loading errors, as a table of bad inputs with the exact
// message each must give (missing files, malformed JSON, unsupported components, broken
// vocabularies and merges, inconsistent special tokens).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.hpp"

namespace mcomp {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A valid minimal tokenizer.json: vocab {a, b, ab, <s>}, merge "a b".
json minimal() {
    return json::parse(R"({
        "added_tokens": [{"id": 3, "content": "<s>", "special": true, "normalized": false}],
        "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3},
                  "merges": ["a b"]}})");
}

TEST(TokenizerLoad, MinimalTokenizerWorks) {
    Expected<Tokenizer> t = Tokenizer::from_json(minimal().dump(), "", "mem");
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->encode("abab<s>a", true), (std::vector<int32_t>{2, 2, 3, 0}));
    EXPECT_EQ(t->decode({2, 3}), "ab <s>") << "no decoder: tokens joined by spaces";
}

struct BadCase {
    const char* name;
    std::string tokenizer_json;  // text of tokenizer.json
    const char* config_json;     // text of tokenizer_config.json
    ErrorKind kind;
    const char* message;
};

std::string with(const char* pointer, const json& value) {
    json j = minimal();
    j[json::json_pointer(pointer)] = value;
    return j.dump();
}

std::vector<BadCase> bad_cases() {
    const json merges_pair_x = json::array({json::array({"a", "x"})});
    return {
        {"malformed", "{\n  \"model\": {\"type\": \"BPE\",}\n}", "", ErrorKind::bad_input,
         "mem/tokenizer.json:2:27: malformed JSON: syntax error while parsing object key - "
         "unexpected '}'; expected string literal"},
        {"not_object", "[1, 2]", "", ErrorKind::bad_input,
         "mem/tokenizer.json: the top level must be an object, found array"},
        {"no_model", R"({"added_tokens": []})", "", ErrorKind::bad_input,
         "mem/tokenizer.json: model is missing"},
        {"wordpiece", with("/model/type", "WordPiece"), "", ErrorKind::unsupported,
         "mem/tokenizer.json: model.type \"WordPiece\" is not supported (supported: BPE)"},
        {"unigram", with("/model/type", "Unigram"), "", ErrorKind::unsupported,
         "mem/tokenizer.json: model.type \"Unigram\" is not supported (supported: BPE)"},
        {"vocab_array", with("/model/vocab", json::array()), "", ErrorKind::bad_input,
         "mem/tokenizer.json: model.vocab must be an object of token: id, found array"},
        {"vocab_id_string", with("/model/vocab/a", "zero"), "", ErrorKind::bad_input,
         "mem/tokenizer.json: model.vocab[\"a\"] must be an integer, found string"},
        {"merge_no_space", with("/model/merges/0", "ab"), "", ErrorKind::bad_input,
         "mem/tokenizer.json: model.merges[0] is \"ab\"; expected \"left right\" with one space"},
        {"merge_number", with("/model/merges/0", 7), "", ErrorKind::bad_input,
         "mem/tokenizer.json: model.merges[0] must be a \"left right\" string or a [left, right] "
         "pair"},
        {"merge_unknown", with("/model/merges", merges_pair_x), "", ErrorKind::bad_input,
         "mem/tokenizer.json: model: merge 1 (\"a x\") needs token \"x\", which is not in "
         "model.vocab"},
        {"pre_whitespace", with("/pre_tokenizer", {{"type", "Whitespace"}}), "",
         ErrorKind::unsupported,
         "mem/tokenizer.json: pre_tokenizer.type \"Whitespace\" is not supported (supported: "
         "Sequence, Split, ByteLevel, Metaspace, Digits)"},
        {"pre_in_sequence",
         with("/pre_tokenizer",
              {{"type", "Sequence"},
               {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "Punctuation"}}}}}),
         "", ErrorKind::unsupported,
         "mem/tokenizer.json: pre_tokenizer.pretokenizers[1].type \"Punctuation\" is not "
         "supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits)"},
        {"bad_regex",
         with("/pre_tokenizer",
              {{"type", "Split"}, {"pattern", {{"Regex", "(a"}}}, {"behavior", "Isolated"}}),
         "", ErrorKind::bad_input,
         "mem/tokenizer.json: pre_tokenizer.pattern.Regex: regular expression does not compile "
         "at offset 2: missing closing parenthesis"},
        {"bad_behavior",
         with("/pre_tokenizer",
              {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}}),
         "", ErrorKind::bad_input,
         "mem/tokenizer.json: pre_tokenizer.behavior \"Sideways\" is not one of Removed, "
         "Isolated, MergedWithPrevious, MergedWithNext, Contiguous"},
        {"normalizer_lowercase", with("/normalizer", {{"type", "Lowercase"}}), "",
         ErrorKind::unsupported,
         "mem/tokenizer.json: normalizer.type \"Lowercase\" is not supported (supported: "
         "Sequence, Prepend, Replace, Strip, NFC, NFD, NFKC, NFKD)"},
        {"decoder_wordpiece", with("/decoder", {{"type", "WordPiece"}}), "", ErrorKind::unsupported,
         "mem/tokenizer.json: decoder.type \"WordPiece\" is not supported (supported: Sequence, "
         "Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace)"},
        {"post_bert_missing_sep",
         with("/post_processor", {{"type", "BertProcessing"}, {"cls", {"<s>", 3}}}), "",
         ErrorKind::bad_input, "mem/tokenizer.json: post_processor.sep is missing"},
        {"added_no_content", with("/added_tokens/0", {{"id", 3}}), "", ErrorKind::bad_input,
         "mem/tokenizer.json: added_tokens[0].content is missing"},
        {"metaspace_long_char",
         with("/pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "__"}}), "",
         ErrorKind::bad_input,
         "mem/tokenizer.json: pre_tokenizer.replacement must be one character"},
        {"config_malformed", minimal().dump(), "{\"add_bos_token\": tru}", ErrorKind::bad_input,
         "mem/tokenizer_config.json:1:22: malformed JSON: syntax error while parsing value - "
         "invalid literal; last read: '\"add_bos_token\": tru}'"},
        {"config_bos_unknown", minimal().dump(), R"({"bos_token": "<|begin|>"})",
         ErrorKind::bad_input,
         "mem/tokenizer_config.json: bos_token \"<|begin|>\" is neither an added token nor in "
         "the vocabulary"},
        {"config_add_bos_without_bos", minimal().dump(), R"({"add_bos_token": true})",
         ErrorKind::bad_input,
         "mem/tokenizer_config.json: add_bos_token is true but no such token is configured"},
        {"config_add_bos_not_bool", minimal().dump(),
         R"({"add_bos_token": "yes", "bos_token": "<s>"})", ErrorKind::bad_input,
         "mem/tokenizer_config.json: add_bos_token must be true or false, found string"},
    };
}

TEST(TokenizerLoad, RejectsBadInputsWithExactMessages) {
    for (const BadCase& c : bad_cases()) {
        Expected<Tokenizer> t = Tokenizer::from_json(c.tokenizer_json, c.config_json, "mem");
        ASSERT_FALSE(t.has_value()) << c.name;
        EXPECT_EQ(t.error().kind, c.kind) << c.name;
        EXPECT_EQ(t.error().message, c.message) << c.name;
    }
}

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
  public:
    TempDir() {
        path_ = fs::temp_directory_path() /
                ("mcomp-tok-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                 "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string str() const { return path_.string(); }
    void write(const char* name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
    }

  private:
    fs::path path_;
};

TEST(TokenizerLoad, ReportsMissingFolderAndFile) {
    const TempDir dir;
    const std::string missing = dir.str() + "/no-such-model";
    Expected<Tokenizer> t = Tokenizer::load(missing);
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().kind, ErrorKind::not_found);
    EXPECT_EQ(t.error().message,
              missing +
                  ": no such folder; pass the folder of a Hugging Face model that holds "
                  "tokenizer.json");

    t = Tokenizer::load(dir.str());
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().kind, ErrorKind::not_found);
    EXPECT_EQ(t.error().message, dir.str() +
                                     "/tokenizer.json: no such file; mcomp needs the "
                                     "fast-tokenizer file (tokenizer.save_pretrained() writes it)");
}

TEST(TokenizerLoad, NamesTheFileOfAMalformedDocument) {
    const TempDir dir;
    dir.write("tokenizer.json", "{\"model\": ");
    Expected<Tokenizer> t = Tokenizer::load(dir.str());
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().message,
              dir.str() +
                  "/tokenizer.json:1:11: malformed JSON: syntax error while parsing "
                  "value - unexpected end of input; expected '[', '{', or a literal");
}

TEST(TokenizerLoad, ReadsConfigAndSpecialTokensMapFromTheFolder) {
    const TempDir dir;
    dir.write("tokenizer.json", minimal().dump());
    dir.write("tokenizer_config.json", R"({"add_bos_token": true})");
    dir.write("special_tokens_map.json", R"({"bos_token": {"content": "<s>"}})");
    Expected<Tokenizer> t = Tokenizer::load(dir.str());
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->bos_id(), 3);
    EXPECT_EQ(t->encode("ab", true), (std::vector<int32_t>{3, 2}));
}

}  // namespace
}  // namespace mcomp
