// test_hub.cpp: model ids, options from the environment, and lookups in a fake Hugging Face
// cache built in a temp dir (no network: the endpoint is an address nothing listens on).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "hub_test_util.hpp"
#include "model/hub.hpp"

namespace mcomp {
namespace {

namespace fs = std::filesystem;
using test::ScopedEnv;
using test::TempDir;
using test::write_file;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* kOtherCommit = "fedcba9876543210fedcba9876543210fedcba98";

// ---- parse_model_id ---------------------------------------------------------------------

struct GoodId {
    const char* text;
    const char* id;
    const char* revision;
};

TEST(ParseModelId, AcceptsHubIds) {
    const GoodId cases[] = {
        {"org/name", "org/name", "main"},
        {"TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "main"},
        {"a_b/c.d-e_9", "a_b/c.d-e_9", "main"},
        {"org/name@v1.0", "org/name", "v1.0"},
        {"org/name@refs/pr/1", "org/name", "refs/pr/1"},
        {"org/name@0123456789abcdef0123456789abcdef01234567", "org/name",
         "0123456789abcdef0123456789abcdef01234567"},
    };
    for (const GoodId& c : cases) {
        SCOPED_TRACE(c.text);
        const auto ref = parse_model_id(c.text);
        ASSERT_TRUE(ref) << ref.error().message;
        EXPECT_EQ(ref->id, c.id);
        EXPECT_EQ(ref->revision, c.revision);
    }
}

struct BadId {
    std::string text;
    std::string message;
};

TEST(ParseModelId, RejectsBadIdsWithExactMessages) {
    const std::string expected = ": expected 'org/name' or 'org/name@revision'";
    const std::string chars = ": use letters, digits, '-', '_' and '.'";
    const std::string long_id = "org/" + std::string(93, 'x');
    const BadId cases[] = {
        {"", "empty model id" + expected},
        {"gpt2", "model id 'gpt2' has no organisation" + expected},
        {"@main", "model id '@main' has no organisation" + expected},
        {"a/b/c", "model id 'a/b/c' has more than one '/'" + expected},
        {"/name", "model id '/name' has an empty organisation" + expected},
        {"org/", "model id 'org/' has an empty name" + expected},
        {"org/na me", "model id 'org/na me' has the character ' ' at column 7" + chars},
        {"o:g/name", "model id 'o:g/name' has the character ':' at column 2" + chars},
        {"org/na\xc3\xafve",
         "model id 'org/na\xc3\xafve' has the character '\\xc3' at column 7" + chars},
        {"org/-x",
         "model id 'org/-x' has the name '-x', which does not start and end with a "
         "letter, digit or '_'"},
        {"org./x",
         "model id 'org./x' has the organisation 'org.', which does not start and end "
         "with a letter, digit or '_'"},
        {"org/a--b",
         "model id 'org/a--b' has the name 'a--b', which contains '--': the hub does "
         "not allow it"},
        {"org/a..b",
         "model id 'org/a..b' has the name 'a..b', which contains '..': the hub does "
         "not allow it"},
        {long_id, "model id '" + long_id + "' is longer than 96 characters"},
        {"org/name@",
         "model id 'org/name@' has an empty revision after '@': expected "
         "'org/name@revision'"},
        {"org/name@a b",
         "model id 'org/name@a b' has the character ' ' in its revision: use "
         "letters, digits, '-', '_', '.' and '/'"},
        {"org/name@x@y",
         "model id 'org/name@x@y' has the character '@' in its revision: use "
         "letters, digits, '-', '_', '.' and '/'"},
        {"org/name@../x",
         "model id 'org/name@../x' has a revision '../x' that is not a branch, "
         "tag or commit name"},
        {"org/name@a/",
         "model id 'org/name@a/' has a revision 'a/' that is not a branch, tag "
         "or commit name"},
    };
    for (const BadId& c : cases) {
        SCOPED_TRACE(c.text);
        const auto ref = parse_model_id(c.text);
        ASSERT_FALSE(ref);
        EXPECT_EQ(ref.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(ref.error().message, c.message);
    }
}

TEST(ParseModelId, AcceptsTheLongestName) {
    EXPECT_TRUE(parse_model_id("org/" + std::string(92, 'x')));
}

TEST(HubRepoFolder, MatchesHuggingfaceHub) {
    EXPECT_EQ(hub_repo_folder({"org/name", "main"}), "models--org--name");
    EXPECT_EQ(hub_repo_folder({"TinyLlama/TinyLlama-1.1B", "v1"}),
              "models--TinyLlama--TinyLlama-1.1B");
}

// ---- HubOptions::from_env ---------------------------------------------------------------

struct HubEnv {
    ScopedEnv hub_cache{"HF_HUB_CACHE", std::nullopt};
    ScopedEnv legacy_cache{"HUGGINGFACE_HUB_CACHE", std::nullopt};
    ScopedEnv home{"HF_HOME", std::nullopt};
    ScopedEnv xdg{"XDG_CACHE_HOME", std::nullopt};
    ScopedEnv user_home{"HOME", std::string("/home/someone")};
    ScopedEnv endpoint{"HF_ENDPOINT", std::nullopt};
    ScopedEnv token{"HF_TOKEN", std::nullopt};
    ScopedEnv legacy_token{"HUGGING_FACE_HUB_TOKEN", std::nullopt};
    ScopedEnv token_path{"HF_TOKEN_PATH", std::nullopt};
    ScopedEnv offline{"HF_HUB_OFFLINE", std::nullopt};
    ScopedEnv etag_timeout{"HF_HUB_ETAG_TIMEOUT", std::nullopt};
    ScopedEnv download_timeout{"HF_HUB_DOWNLOAD_TIMEOUT", std::nullopt};
};

TEST(HubOptions, DefaultsWithoutEnvironment) {
    const HubEnv env;
    const HubOptions opts = HubOptions::from_env();
    EXPECT_EQ(opts.cache_dir, "/home/someone/.cache/huggingface/hub");
    EXPECT_EQ(opts.endpoint, "https://huggingface.co");
    EXPECT_EQ(opts.token, "");
    EXPECT_FALSE(opts.offline);
    EXPECT_EQ(opts.connect_timeout_s, 10);
    EXPECT_EQ(opts.stall_timeout_s, 60);
}

TEST(HubOptions, CacheDirPrecedence) {
    const HubEnv env;
    {
        const ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
        EXPECT_EQ(HubOptions::from_env().cache_dir, "/xdg/huggingface/hub");
        const ScopedEnv home("HF_HOME", "~/hf");
        EXPECT_EQ(HubOptions::from_env().cache_dir, "/home/someone/hf/hub");
        const ScopedEnv cache("HF_HUB_CACHE", "/fast/hub");
        EXPECT_EQ(HubOptions::from_env().cache_dir, "/fast/hub");
    }
}

TEST(HubOptions, EndpointTokenOfflineTimeouts) {
    const HubEnv env;
    const ScopedEnv endpoint("HF_ENDPOINT", "http://mirror.example/");
    const ScopedEnv token("HF_TOKEN", " hf_abc\n");
    const ScopedEnv etag("HF_HUB_ETAG_TIMEOUT", "3");
    const ScopedEnv download("HF_HUB_DOWNLOAD_TIMEOUT", "oops");
    const HubOptions opts = HubOptions::from_env();
    EXPECT_EQ(opts.endpoint, "http://mirror.example");
    EXPECT_EQ(opts.token, "hf_abc");
    EXPECT_EQ(opts.connect_timeout_s, 3);
    EXPECT_EQ(opts.stall_timeout_s, 60);  // not a number: the default stays
    for (const char* value : {"1", "ON", "yes", "True"}) {
        const ScopedEnv offline("HF_HUB_OFFLINE", std::string(value));
        EXPECT_TRUE(HubOptions::from_env().offline) << value;
    }
    for (const char* value : {"0", "off", ""}) {
        const ScopedEnv offline("HF_HUB_OFFLINE", std::string(value));
        EXPECT_FALSE(HubOptions::from_env().offline) << value;
    }
}

TEST(HubOptions, TokenFileFromHfHome) {
    const HubEnv env;
    const TempDir tmp;
    write_file(tmp.path() / "token", "hf_from_file\n");
    const ScopedEnv home("HF_HOME", tmp.path().string());
    EXPECT_EQ(HubOptions::from_env().token, "hf_from_file");
    const ScopedEnv token("HF_TOKEN", "hf_env_wins");
    EXPECT_EQ(HubOptions::from_env().token, "hf_env_wins");
}

// ---- the cache ----------------------------------------------------------------------------

// A repository in the cache as huggingface_hub writes it: blobs + relative symlinks.
class FakeCache {
  public:
    explicit FakeCache(const fs::path& root, const std::string& folder = "models--org--tiny")
        : repo_(root / folder) {}

    void add(const std::string& commit, const std::string& file, const std::string& content) {
        const std::string blob = "blob" + std::to_string(next_blob_++);
        write_file(repo_ / "blobs" / blob, content);
        const fs::path pointer = repo_ / "snapshots" / commit / file;
        fs::create_directories(pointer.parent_path());
        fs::create_symlink(fs::path("../../blobs") / blob, pointer);
    }
    void add_model(const std::string& commit) {
        for (const char* file :
             {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
              "special_tokens_map.json", "model.safetensors"}) {
            add(commit, file, std::string("content of ") + file);
        }
    }
    void set_ref(const std::string& revision, const std::string& commit) {
        write_file(repo_ / "refs" / revision, commit);
    }
    void mark_absent(const std::string& commit, const std::string& file) {
        write_file(repo_ / ".no_exist" / commit / file, "");
    }
    fs::path snapshot(const std::string& commit) const { return repo_ / "snapshots" / commit; }

  private:
    fs::path repo_;
    int next_blob_ = 0;
};

// Options that would fail on any network access: nothing listens on port 9 here.
HubOptions cache_only_options(const fs::path& cache, bool offline) {
    HubOptions opts;
    opts.cache_dir = cache.string();
    opts.endpoint = "http://127.0.0.1:9";
    opts.offline = offline;
    opts.max_retries = 0;
    opts.connect_timeout_s = 2;
    return opts;
}

TEST(HubCache, FindsTheSnapshotOfMain) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    cache.add_model(kCommit);
    cache.add_model(kOtherCommit);
    cache.set_ref("main", kCommit);
    for (const bool offline : {true, false}) {
        const auto dir = resolve_model("org/tiny", cache_only_options(tmp.path(), offline));
        ASSERT_TRUE(dir) << dir.error().message;
        EXPECT_EQ(*dir, cache.snapshot(kCommit).string());
    }
}

TEST(HubCache, RevisionsAndCommitsAreFound) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    cache.add_model(kCommit);
    cache.add_model(kOtherCommit);
    cache.set_ref("main", kCommit);
    cache.set_ref("v2", kOtherCommit + std::string("\n"));  // trailing newline tolerated
    const HubOptions opts = cache_only_options(tmp.path(), true);
    EXPECT_EQ(*resolve_model("org/tiny@v2", opts), cache.snapshot(kOtherCommit).string());
    EXPECT_EQ(*resolve_model(std::string("org/tiny@") + kOtherCommit, opts),
              cache.snapshot(kOtherCommit).string());
}

TEST(HubCache, OptionalFilesRecordedAbsentNeedNoNetwork) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    for (const char* file :
         {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"}) {
        cache.add(kCommit, file, "x");
    }
    cache.set_ref("main", kCommit);
    cache.mark_absent(kCommit, "generation_config.json");
    cache.mark_absent(kCommit, "special_tokens_map.json");
    const auto dir = resolve_model("org/tiny", cache_only_options(tmp.path(), false));
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(*dir, cache.snapshot(kCommit).string());
}

TEST(HubCache, ShardedSnapshotIsComplete) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    for (const char* file : {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
        cache.add(kCommit, file, "x");
    }
    cache.add(kCommit, "model.safetensors.index.json",
              R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                  "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}})");
    cache.add(kCommit, "model-00001-of-00002.safetensors", "1");
    cache.set_ref("main", kCommit);
    const HubOptions opts = cache_only_options(tmp.path(), true);
    const auto missing = resolve_model("org/tiny", opts);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("missing model-00002-of-00002.safetensors in "),
              std::string::npos)
        << missing.error().message;
    cache.add(kCommit, "model-00002-of-00002.safetensors", "2");
    const auto dir = resolve_model("org/tiny", opts);
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(*dir, cache.snapshot(kCommit).string());
}

TEST(HubCache, LocalDirectories) {
    const TempDir tmp;
    write_file(tmp.path() / "model" / "config.json", "{}");
    fs::create_directories(tmp.path() / "empty");
    const HubOptions opts = cache_only_options(tmp.path() / "cache", true);
    const std::string model = (tmp.path() / "model").string();
    EXPECT_EQ(*resolve_model(model, opts), model);

    const std::string empty = (tmp.path() / "empty").string();
    const auto no_config = resolve_model(empty, opts);
    ASSERT_FALSE(no_config);
    EXPECT_EQ(no_config.error().message,
              empty +
                  ": no config.json in this directory: give a Hugging Face model directory, "
                  "or an id 'org/name[@revision]'");
}

TEST(HubCache, NeitherDirectoryNorId) {
    const TempDir tmp;
    const HubOptions opts = cache_only_options(tmp.path(), true);
    const struct {
        std::string input;
        std::string message;
    } cases[] = {
        {"./nope",
         "./nope: no such model directory: give a directory with config.json, or a "
         "Hugging Face id 'org/name[@revision]'"},
        {"/no/such/dir",
         "/no/such/dir: no such model directory: give a directory with "
         "config.json, or a Hugging Face id 'org/name[@revision]'"},
        {"gpt2",
         "gpt2: no such model directory, and not a Hugging Face id: model id 'gpt2' has "
         "no organisation: expected 'org/name' or 'org/name@revision'"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.input);
        const auto dir = resolve_model(c.input, opts);
        ASSERT_FALSE(dir);
        EXPECT_EQ(dir.error().message, c.message);
    }
}

// ---- offline errors -----------------------------------------------------------------------

const std::string kOfflineHint =
    "; HF_HUB_OFFLINE=1 forbids downloading it: unset HF_HUB_OFFLINE, or fetch it where the "
    "network is reachable with 'huggingface-cli download org/tiny --revision ";

TEST(HubOffline, ModelNotInCache) {
    const TempDir tmp;
    const auto dir = resolve_model("org/tiny@v1", cache_only_options(tmp.path(), true));
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().kind, ErrorKind::not_found);
    EXPECT_EQ(dir.error().message, "model 'org/tiny@v1' is not in the Hugging Face cache (no " +
                                       (tmp.path() / "models--org--tiny/refs/v1").string() + ")" +
                                       kOfflineHint + "v1'");
}

TEST(HubOffline, CommitNotInCache) {
    const TempDir tmp;
    const auto dir =
        resolve_model(std::string("org/tiny@") + kCommit, cache_only_options(tmp.path(), true));
    ASSERT_FALSE(dir);
    const std::string snapshot = (tmp.path() / "models--org--tiny/snapshots" / kCommit).string();
    EXPECT_EQ(dir.error().message, "model 'org/tiny@" + std::string(kCommit) +
                                       "' is not in the Hugging Face cache (no " + snapshot + ")" +
                                       kOfflineHint + kCommit + "'");
}

TEST(HubOffline, NamesEveryMissingFile) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    cache.add(kCommit, "config.json", "{}");
    cache.add(kCommit, "tokenizer_config.json", "{}");
    cache.set_ref("main", kCommit);
    const auto dir = resolve_model("org/tiny", cache_only_options(tmp.path(), true));
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().message,
              "model 'org/tiny@main' is incomplete in the Hugging Face cache (missing "
              "tokenizer.json, model.safetensors (or model.safetensors.index.json) in " +
                  cache.snapshot(kCommit).string() + ")" + kOfflineHint + "main'");
}

TEST(HubOffline, OptionalFilesMayBeMissing) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    for (const char* file :
         {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"}) {
        cache.add(kCommit, file, "x");
    }
    cache.set_ref("main", kCommit);
    const auto dir = resolve_model("org/tiny", cache_only_options(tmp.path(), true));
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(*dir, cache.snapshot(kCommit).string());
}

TEST(HubOffline, DanglingSymlinkCountsAsMissing) {
    const TempDir tmp;
    FakeCache cache(tmp.path());
    cache.add_model(kCommit);
    cache.set_ref("main", kCommit);
    fs::remove(tmp.path() / "models--org--tiny/blobs/blob0");  // config.json's blob
    const auto dir = resolve_model("org/tiny", cache_only_options(tmp.path(), true));
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message.find("(missing config.json in "), std::string::npos)
        << dir.error().message;
}

TEST(HubOnline, IncompleteCacheAndUnreachableEndpoint) {
    const ScopedEnv no_proxy("no_proxy", std::string("127.0.0.1"));
    const TempDir tmp;
    FakeCache cache(tmp.path());
    cache.add(kCommit, "config.json", "{}");
    cache.set_ref("main", kCommit);
    const auto dir = resolve_model("org/tiny", cache_only_options(tmp.path(), false));
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().kind, ErrorKind::io);
    EXPECT_TRUE(dir.error().message.starts_with(
        "cannot reach http://127.0.0.1:9 to download org/tiny config.json ("))
        << dir.error().message;
    EXPECT_TRUE(dir.error().message.ends_with(
        "): check the network, or set HF_HUB_OFFLINE=1 to use only what is already in the "
        "Hugging Face cache"))
        << dir.error().message;
}

}  // namespace
}  // namespace mcomp
