// test_hub_download.cpp: downloads from fake_hub.py, a stand-in Hugging Face hub that each
// test starts on a free port of 127.0.0.1 (python3 standard library; skipped without python3).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hub_test_util.hpp"
#include "model/hub.hpp"

extern char** environ;

namespace mcomp {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::ScopedEnv;
using test::TempDir;
using test::write_file;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";  // fake_hub default
constexpr std::size_t kWeightsBytes = 300000;

std::string sha256_hex(const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE] = {};
    unsigned int length = 0;
    EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        static const char* digits = "0123456789abcdef";
        hex += digits[digest[i] >> 4];
        hex += digits[digest[i] & 15];
    }
    return hex;
}

std::string random_bytes(std::size_t num_bytes, unsigned seed) {
    std::mt19937 rng(seed);
    std::string bytes(num_bytes, '\0');
    for (char& b : bytes) {
        b = static_cast<char>(rng() & 0xff);
    }
    return bytes;
}

// fake_hub.py as a child process: stdin is a pipe whose closing stops it.
class FakeHubServer {
  public:
    FakeHubServer(const fs::path& root, const fs::path& log, std::vector<std::string> extra) {
        int in[2] = {-1, -1};
        int out[2] = {-1, -1};
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
            return;
        }
        std::vector<std::string> args = {"python3", MCOMP_SOURCE_DIR "/tests/unit/hub/fake_hub.py",
                                         "--root",  root.string(),
                                         "--log",   log.string(),
                                         "--port",  "0"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char*> argv;
        for (std::string& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        const int rc = posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(in[0]);
        ::close(out[1]);
        stdin_ = in[1];
        stdout_ = out[0];
        if (rc != 0) {
            pid_ = -1;
            return;
        }
        port_ = read_port();
    }
    FakeHubServer(const FakeHubServer&) = delete;
    FakeHubServer& operator=(const FakeHubServer&) = delete;
    ~FakeHubServer() {
        ::close(stdin_);  // EOF: the server exits by itself
        if (pid_ > 0) {
            int status = 0;
            for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
                ::usleep(20000);
                if (i == 50) {
                    ::kill(pid_, SIGKILL);
                }
            }
        }
        ::close(stdout_);
    }
    int port() const { return port_; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    // The first stdout line is "PORT <n>".
    int read_port() {
        std::string line;
        for (char c = 0; line.size() < 64;) {
            pollfd pfd = {stdout_, POLLIN, 0};
            if (::poll(&pfd, 1, 10000) <= 0 || ::read(stdout_, &c, 1) != 1 || c == '\n') {
                break;
            }
            line += c;
        }
        return line.starts_with("PORT ") ? std::stoi(line.substr(5)) : 0;
    }

    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    int port_ = 0;
};

class HubDownload : public ::testing::Test {
  protected:
    void SetUp() override {
        static const bool have_python =
            std::system("python3 -c 'import http.server' >/dev/null 2>&1") == 0;
        if (!have_python) {
            GTEST_SKIP() << "python3 is needed to run tests/unit/hub/fake_hub.py";
        }
        weights_ = random_bytes(kWeightsBytes, 1);
        add_file("org/tiny", "config.json", R"({"model_type": "llama"})");
        add_file("org/tiny", "tokenizer.json", R"({"model": {"type": "BPE"}})");
        add_file("org/tiny", "tokenizer_config.json", R"({"bos_token": "<s>"})");
        add_file("org/tiny", "generation_config.json", R"({"do_sample": false})");
        add_file("org/tiny", "model.safetensors", weights_);
    }

    void add_file(const std::string& repo, const std::string& file, const std::string& content) {
        write_file(root() / repo / file, content);
    }

    // Starts the server; false (with a test failure) when it does not come up.
    bool start(std::vector<std::string> extra = {}) {
        server_ = std::make_unique<FakeHubServer>(root(), log_path(), std::move(extra));
        EXPECT_GT(server_->port(), 0) << "fake_hub.py did not start";
        return server_->port() > 0;
    }

    HubOptions options() const {
        HubOptions opts;
        opts.cache_dir = cache().string();
        opts.endpoint = server_ ? server_->endpoint() : "http://127.0.0.1:9";
        opts.max_retries = 0;
        opts.retry_delay_ms = 10;
        opts.connect_timeout_s = 5;
        opts.stall_timeout_s = 10;
        return opts;
    }

    fs::path root() const { return tmp_.path() / "root"; }
    fs::path cache() const { return tmp_.path() / "cache"; }
    fs::path log_path() const { return tmp_.path() / "requests.log"; }
    fs::path repo_dir(const std::string& folder = "models--org--tiny") const {
        return cache() / folder;
    }
    fs::path snapshot() const { return repo_dir() / "snapshots" / kCommit; }
    std::string requests() const { return read_text(log_path()); }
    std::size_t count_requests(const std::string& needle) const {
        const std::string log = requests();
        std::size_t count = 0;
        for (std::size_t at = log.find(needle); at != std::string::npos;
             at = log.find(needle, at + 1)) {
            ++count;
        }
        return count;
    }
    std::vector<fs::path> incomplete_files() const {
        std::vector<fs::path> found;
        if (fs::exists(repo_dir() / "blobs")) {
            for (const auto& entry : fs::directory_iterator(repo_dir() / "blobs")) {
                if (entry.path().extension() == ".incomplete") {
                    found.push_back(entry.path());
                }
            }
        }
        return found;
    }

    // libcurl honours http_proxy: the fake hub on 127.0.0.1 must be reached directly.
    ScopedEnv no_proxy_{"no_proxy", std::string("127.0.0.1,localhost")};
    ScopedEnv no_proxy_upper_{"NO_PROXY", std::string("127.0.0.1,localhost")};
    TempDir tmp_;
    std::string weights_;
    std::unique_ptr<FakeHubServer> server_;
};

TEST_F(HubDownload, FullDownloadInHuggingfaceHubLayout) {
    ASSERT_TRUE(start());
    const auto dir = resolve_model("org/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(*dir, snapshot().string());
    for (const char* file : {"config.json", "tokenizer.json", "tokenizer_config.json",
                             "generation_config.json", "model.safetensors"}) {
        SCOPED_TRACE(file);
        EXPECT_TRUE(fs::is_symlink(snapshot() / file));
        EXPECT_EQ(read_text(snapshot() / file), read_text(root() / "org/tiny" / file));
    }
    // LFS files are stored under their sha256, git files under their ETag (git sha1).
    const std::string sha = sha256_hex(weights_);
    EXPECT_EQ(fs::read_symlink(snapshot() / "model.safetensors"), fs::path("../../blobs") / sha);
    EXPECT_TRUE(fs::is_regular_file(repo_dir() / "blobs" / sha));
    EXPECT_EQ(fs::read_symlink(snapshot() / "config.json").parent_path(), "../../blobs");
    EXPECT_EQ(fs::read_symlink(snapshot() / "config.json").filename().string().size(), 40u);
    EXPECT_EQ(read_text(repo_dir() / "refs/main"), kCommit);
    EXPECT_TRUE(fs::exists(repo_dir() / ".no_exist" / kCommit / "special_tokens_map.json"));
    EXPECT_FALSE(fs::exists(snapshot() / "special_tokens_map.json"));
    EXPECT_TRUE(incomplete_files().empty());
    EXPECT_EQ(count_requests("auth=-"), count_requests("\n"));  // no token configured
    // Files after the first are asked for at the commit, not at the moving branch.
    EXPECT_EQ(count_requests("/resolve/main/"), 1u) << requests();

    // Complete now: found again without a single request, online or offline.
    const std::size_t num_requests = count_requests("\n");
    EXPECT_EQ(*resolve_model("org/tiny", options()), snapshot().string());
    HubOptions offline = options();
    offline.offline = true;
    EXPECT_EQ(*resolve_model("org/tiny", offline), snapshot().string());
    EXPECT_EQ(count_requests("\n"), num_requests);
}

TEST_F(HubDownload, ShardedCheckpoint) {
    const std::string shard1 = random_bytes(1000, 2);
    const std::string shard2 = random_bytes(2000, 3);
    for (const char* file : {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
        add_file("org/sharded", file, "{}");
    }
    add_file("org/sharded", "model.safetensors.index.json",
             R"({"metadata": {"total_size": 3000}, "weight_map": {
                 "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                 "c": "model-00001-of-00002.safetensors"}})");
    add_file("org/sharded", "model-00001-of-00002.safetensors", shard1);
    add_file("org/sharded", "model-00002-of-00002.safetensors", shard2);
    ASSERT_TRUE(start());
    const auto dir = resolve_model("org/sharded", options());
    ASSERT_TRUE(dir) << dir.error().message;
    const fs::path repo = repo_dir("models--org--sharded");
    EXPECT_EQ(*dir, (repo / "snapshots" / kCommit).string());
    EXPECT_EQ(read_text(fs::path(*dir) / "model-00001-of-00002.safetensors"), shard1);
    EXPECT_EQ(read_text(fs::path(*dir) / "model-00002-of-00002.safetensors"), shard2);
    EXPECT_TRUE(fs::exists(repo / ".no_exist" / kCommit / "model.safetensors"));
    EXPECT_EQ(count_requests("/cdn/org/sharded/model-00001-of-00002.safetensors"), 1u);
}

TEST_F(HubDownload, InterruptedTransferResumesOnTheNextRun) {
    ASSERT_TRUE(start({"--drop", "model.safetensors"}));
    const auto failed = resolve_model("org/tiny", options());
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().kind, ErrorKind::io);
    const fs::path incomplete = repo_dir() / "blobs" / (sha256_hex(weights_) + ".incomplete");
    EXPECT_NE(failed.error().message.find("; the partial download is kept in " +
                                          incomplete.string() + " and resumes on the next run"),
              std::string::npos)
        << failed.error().message;
    ASSERT_TRUE(fs::exists(incomplete));
    EXPECT_EQ(fs::file_size(incomplete), kWeightsBytes / 2);
    EXPECT_FALSE(fs::exists(snapshot() / "model.safetensors"));
    EXPECT_FALSE(fs::exists(repo_dir() / "refs/main"));

    const auto dir = resolve_model("org/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("GET /cdn/org/tiny/model.safetensors range=bytes=" +
                             std::to_string(kWeightsBytes / 2) + "- "),
              1u);
    EXPECT_TRUE(incomplete_files().empty());
}

TEST_F(HubDownload, DroppedConnectionsAreRetriedWithRange) {
    ASSERT_TRUE(start({"--drop", "model.safetensors", "--drop-count", "2"}));
    HubOptions opts = options();
    opts.max_retries = 3;
    const auto dir = resolve_model("org/tiny", opts);
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    const std::size_t first = kWeightsBytes / 2;
    const std::size_t second = first + (kWeightsBytes - first) / 2;
    EXPECT_EQ(count_requests("range=bytes=" + std::to_string(first) + "- "), 1u);
    EXPECT_EQ(count_requests("range=bytes=" + std::to_string(second) + "- "), 1u);
    EXPECT_EQ(count_requests("GET /cdn/org/tiny/model.safetensors"), 3u);
}

TEST_F(HubDownload, ServerIgnoringRangeRestartsTheFile) {
    ASSERT_TRUE(start({"--ignore-range"}));
    const std::string sha = sha256_hex(weights_);
    write_file(repo_dir() / "blobs" / (sha + ".incomplete"), random_bytes(1000, 9));
    const auto dir = resolve_model("org/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("range=bytes=1000- "), 1u);
}

TEST_F(HubDownload, CompleteIncompleteFileIsKept) {
    // A crash after the last byte and before the rename: the server answers 416.
    ASSERT_TRUE(start());
    const std::string sha = sha256_hex(weights_);
    write_file(repo_dir() / "blobs" / (sha + ".incomplete"), weights_);
    const auto dir = resolve_model("org/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("range=bytes=" + std::to_string(kWeightsBytes) + "- "), 1u);
}

TEST_F(HubDownload, CachedBlobsAreNotDownloadedAgain) {
    ASSERT_TRUE(start());
    ASSERT_TRUE(resolve_model("org/tiny", options()));
    fs::remove_all(repo_dir() / "snapshots");
    fs::remove_all(repo_dir() / "refs");
    const std::size_t num_gets = count_requests("GET ");
    const auto dir = resolve_model("org/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("GET "), num_gets);  // only HEADs the second time
}

TEST_F(HubDownload, ChecksumMismatchIsRefusedAndLeavesNothing) {
    ASSERT_TRUE(start({"--corrupt", "model.safetensors"}));
    const auto dir = resolve_model("org/tiny", options());
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().kind, ErrorKind::bad_input);
    const std::string sha = sha256_hex(weights_);
    std::string corrupt = weights_;
    corrupt[0] = static_cast<char>(corrupt[0] ^ 0xff);
    EXPECT_EQ(dir.error().message,
              "download of org/tiny model.safetensors from " + server_->endpoint() +
                  "/cdn/org/tiny/model.safetensors refused: checksum mismatch: expected sha256 " +
                  sha + ", got " + sha256_hex(corrupt) +
                  "; the partial file was removed, try again");
    EXPECT_FALSE(fs::exists(snapshot() / "model.safetensors"));
    EXPECT_FALSE(fs::is_symlink(snapshot() / "model.safetensors"));
    EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / sha));
    EXPECT_TRUE(incomplete_files().empty());
    EXPECT_FALSE(fs::exists(repo_dir() / "refs/main"));
}

TEST_F(HubDownload, HubErrorsHaveClearMessages) {
    add_file("org/notok", "config.json", "{}");
    add_file("org/noweights", "config.json", "{}");
    add_file("org/noweights", "tokenizer.json", "{}");
    add_file("org/noweights", "tokenizer_config.json", "{}");
    ASSERT_TRUE(start());
    const std::string on = " on " + server_->endpoint();
    const struct {
        std::string id;
        std::string message;
    } cases[] = {
        {"org/notok", "tokenizer.json of 'org/notok@main' not found" + on +
                          " (HTTP 404) [Entry not found]: check the model id and revision"},
        {"org/nothere", "model 'org/nothere' not found" + on +
                            " (HTTP 401) [Repository not found]: check the model id; for a "
                            "private or gated model set HF_TOKEN"},
        {"org/tiny@v9", "revision 'v9' of 'org/tiny' not found" + on +
                            " (HTTP 404) [Invalid rev id: v9]: check the revision"},
        {"org/noweights",
         "neither model.safetensors nor model.safetensors.index.json of "
         "'org/noweights@main' found" +
             on + " (HTTP 404): mcomp reads safetensors checkpoints only"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.id);
        const auto dir = resolve_model(c.id, options());
        ASSERT_FALSE(dir);
        EXPECT_EQ(dir.error().kind, ErrorKind::not_found);
        EXPECT_EQ(dir.error().message, c.message);
    }
}

TEST_F(HubDownload, TokenIsSentAsBearer) {
    ASSERT_TRUE(start({"--token", "hf_secret"}));
    const auto refused = resolve_model("org/tiny", options());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message,
              "access to org/tiny config.json refused on " + server_->endpoint() +
                  " (HTTP 401) [Invalid credentials in Authorization header]: the model may be "
                  "gated or private; accept its terms on the hub and set HF_TOKEN to a token "
                  "that can read it");

    HubOptions opts = options();
    opts.token = "hf_secret";
    const auto dir = resolve_model("org/tiny", opts);
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("GET /cdn/org/tiny/model.safetensors range=- auth=Bearer hf_secret"),
              1u);
    EXPECT_EQ(count_requests("auth=Bearer hf_secret\n"), count_requests("\n") - 1);
}

TEST_F(HubDownload, TokenFromEnvironment) {
    ASSERT_TRUE(start({"--token", "hf_env"}));
    const ScopedEnv token("HF_TOKEN", "hf_env");
    const ScopedEnv endpoint("HF_ENDPOINT", server_->endpoint() + "/");
    const ScopedEnv cache_env("HF_HUB_CACHE", cache().string());
    const ScopedEnv offline("HF_HUB_OFFLINE", std::nullopt);
    const auto dir = resolve_model("org/tiny", HubOptions::from_env());
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(*dir, snapshot().string());
}

TEST_F(HubDownload, ProgressLinesFollowTheInterval) {
    std::ostringstream captured;
    auto logger = std::make_shared<spdlog::logger>(
        "hub-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
    const auto previous = spdlog::default_logger();
    spdlog::set_default_logger(logger);
    ASSERT_TRUE(start());
    HubOptions opts = options();
    opts.progress_interval_s = 0.0;  // a line for every chunk
    const auto dir = resolve_model("org/tiny", opts);
    fs::remove_all(cache());
    opts.progress_interval_s = 60.0;
    const std::string fast_log = captured.str();
    const auto lines_fast = std::count(fast_log.begin(), fast_log.end(), '\n');
    captured.str("");
    const auto again = resolve_model("org/tiny", opts);
    spdlog::set_default_logger(previous);
    ASSERT_TRUE(dir) << dir.error().message;
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_NE(fast_log.find("org/tiny model.safetensors: "), std::string::npos) << fast_log;
    EXPECT_NE(fast_log.find(" / 0.3 MB ("), std::string::npos) << fast_log;
    EXPECT_NE(fast_log.find(" MB/s"), std::string::npos) << fast_log;
    EXPECT_GT(lines_fast, 2);
    EXPECT_EQ(captured.str().find("model.safetensors: "), std::string::npos) << captured.str();
}

TEST_F(HubDownload, WithoutEtagBlobsAreNamedBySha256) {
    ASSERT_TRUE(start({"--no-etag"}));
    const auto dir = resolve_model("org/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    for (const char* file : {"config.json", "model.safetensors"}) {
        SCOPED_TRACE(file);
        const std::string content = read_text(root() / "org/tiny" / file);
        EXPECT_EQ(read_text(snapshot() / file), content);
        EXPECT_EQ(fs::read_symlink(snapshot() / file),
                  fs::path("../../blobs") / sha256_hex(content));
    }
    EXPECT_TRUE(incomplete_files().empty());
}

TEST_F(HubDownload, CancelledDownloadStops) {
    ASSERT_TRUE(start());
    HubOptions opts = options();
    opts.is_cancelled = [] { return true; };
    const auto dir = resolve_model("org/tiny", opts);
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().kind, ErrorKind::cancelled);
    EXPECT_EQ(dir.error().message, "download of org/tiny config.json cancelled");
    EXPECT_FALSE(fs::exists(snapshot() / "config.json"));
}

TEST_F(HubDownload, ConcurrentResolvesShareOneDownload) {
    ASSERT_TRUE(start());
    const HubOptions opts = options();
    std::vector<Expected<std::string>> results(4, Expected<std::string>(std::string()));
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&, i] { results[i] = resolve_model("org/tiny", opts); });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    for (const auto& result : results) {
        ASSERT_TRUE(result) << result.error().message;
        EXPECT_EQ(*result, snapshot().string());
    }
    EXPECT_EQ(read_text(snapshot() / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("GET /cdn/org/tiny/model.safetensors"), 1u);
    EXPECT_TRUE(incomplete_files().empty());
}

TEST_F(HubDownload, RenamedRepositoryFollowsRelativeRedirects) {
    ASSERT_TRUE(start({"--rename", "old/tiny=org/tiny"}));
    const auto dir = resolve_model("old/tiny", options());
    ASSERT_TRUE(dir) << dir.error().message;
    const fs::path snapshot = repo_dir("models--old--tiny") / "snapshots" / kCommit;
    EXPECT_EQ(*dir, snapshot.string());
    EXPECT_EQ(read_text(snapshot / "config.json"), read_text(root() / "org/tiny/config.json"));
    EXPECT_EQ(read_text(snapshot / "model.safetensors"), weights_);
    EXPECT_EQ(count_requests("HEAD /org/tiny/resolve/main/config.json"), 1u);
}

}  // namespace
}  // namespace mcomp
