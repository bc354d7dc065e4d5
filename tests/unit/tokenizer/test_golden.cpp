// test_golden.cpp: mcomp's ids against the Hugging Face `tokenizers` library, from the
// files tests/golden/tokenizer/make_golden.py writes (tinystories656k.json needs the
// shared TinyStories-656K model too; bytelevel_tiny.json and metaspace_tiny.json are
// self-contained).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tiny_byte_level.hpp"
#include "tiny_metaspace.hpp"
#include "tokenizer/tokenizer.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

using nlohmann::json;

std::string golden_path(const char* name) {
    return std::string(MCOMP_SOURCE_DIR) + "/tests/golden/tokenizer/" + name;
}

// The golden document, or null when the file is absent (the test then skips).
json read_golden(const char* name) {
    std::string text;
    if (!read_file(golden_path(name), text)) {
        return nullptr;
    }
    return json::parse(text);
}

void expect_cases(const Tokenizer& t, const json& cases, const std::string& what) {
    ASSERT_TRUE(cases.is_array());
    ASSERT_FALSE(cases.empty());
    for (const json& c : cases) {
        const std::string text = c.at("text").get<std::string>();
        const bool add = c.at("add_special_tokens").get<bool>();
        const auto want = c.at("ids").get<std::vector<int32_t>>();
        EXPECT_EQ(t.encode(text, add), want)
            << what << ": text " << json(text).dump() << ", add_special_tokens " << add;
    }
}

TEST(TokGolden, TinyStories656kMatchesReference) {
    const json golden = read_golden("tinystories656k.json");
    if (golden.is_null()) {
        GTEST_SKIP() << golden_path("tinystories656k.json")
                     << " is absent; run tests/golden/tokenizer/make_golden.py";
    }
    const std::string dir = test_data_dir() + "/models/TinyStories-656K";
    Expected<Tokenizer> t = Tokenizer::load(dir);
    if (!t && t.error().kind == ErrorKind::not_found) {
        GTEST_SKIP() << "shared model missing (" << dir << "); set MCOMP_TEST_DATA";
    }
    ASSERT_TRUE(t.has_value()) << t.error().message;
    SCOPED_TRACE(golden.at("generator").get<std::string>());
    expect_cases(*t, golden.at("cases"), "TinyStories-656K");
    for (const json& c : golden.at("counts")) {
        std::string text;
        const std::string path = test_data_dir() + "/data/" + c.at("file").get<std::string>();
        if (!read_file(path, text)) {
            ADD_FAILURE() << path << " is missing";
            continue;
        }
        EXPECT_EQ(t->encode(text, c.at("add_special_tokens").get<bool>()).size(),
                  c.at("num_tokens").get<std::size_t>())
            << path;
    }
}

// Each variant's tokenizer.json must be the one this suite builds, or its ids mean
// nothing for the hand-derived tests.
void expect_tiny_file(const char* file, std::size_t num_variants,
                      nlohmann::json (*build)(const std::string&)) {
    const json golden = read_golden(file);
    if (golden.is_null()) {
        GTEST_SKIP() << golden_path(file)
                     << " is absent; run tests/golden/tokenizer/make_golden.py";
    }
    SCOPED_TRACE(golden.at("generator").get<std::string>());
    ASSERT_EQ(golden.at("variants").size(), num_variants);
    for (const json& v : golden.at("variants")) {
        const std::string name = v.at("name").get<std::string>();
        ASSERT_EQ(v.at("tokenizer"), build(name))
            << file << " " << name << ": make_golden.py and the test's builder disagree";
        Expected<Tokenizer> t = Tokenizer::from_json(v.at("tokenizer").dump(), "", name);
        ASSERT_TRUE(t.has_value()) << t.error().message;
        expect_cases(*t, v.at("cases"), name);
    }
}

TEST(TokGolden, TinyByteLevelMatchesReference) {
    expect_tiny_file("bytelevel_tiny.json", 2, &test::tiny_byte_level_tokenizer);
}

TEST(TokGolden, TinyMetaspaceMatchesReference) {
    expect_tiny_file("metaspace_tiny.json", 3, &test::tiny_metaspace_tokenizer);
}

}  // namespace
}  // namespace mcomp
