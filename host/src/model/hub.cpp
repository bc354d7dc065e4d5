// hub.cpp: see hub.hpp. Mirrors huggingface_hub's file_download.py (cache layout, HEAD for
// metadata then GET, .incomplete + Range resume, .no_exist markers, flock-compatible locks)
// so that the Python tools and mcomp share one cache.
#include "model/hub.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "util/strings.hpp"

namespace mcomp {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kWeightsFile = "model.safetensors";
constexpr std::size_t kMaxIdLength = 96;  // huggingface_hub validate_repo_id
constexpr double kBytesPerMb = 1e6;

// ---- small helpers --------------------------------------------------------------------

std::string trim(std::string_view s) {
    std::size_t begin = 0;
    std::size_t end = s.size();
    while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) {
        ++begin;
    }
    while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) {
        --end;
    }
    return std::string(s.substr(begin, end - begin));
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && value[0] != '\0' ? std::string(value) : fallback;
}

std::string expand_user(const std::string& path) {
    if (path == "~" || path.starts_with("~/")) {
        return env_or("HOME", "") + path.substr(1);
    }
    return path;
}

bool is_hex(std::string_view s, std::size_t length) {
    return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// A name that is safe as one path component: etags and commit hashes become file names.
bool is_safe_component(std::string_view s) {
    if (s.empty() || s.size() > 128 || s == "." || s == "..") {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

// A relative path inside a snapshot (shard names come from a downloaded index).
bool is_safe_relative_path(std::string_view s) {
    if (s.empty() || s.front() == '/' || s.find('\\') != std::string_view::npos) {
        return false;
    }
    for (const auto& part : fs::path(s)) {
        if (part == "." || part == ".." || part.empty()) {
            return false;
        }
    }
    return true;
}

std::string printable_char(char c) {
    if (std::isprint(static_cast<unsigned char>(c))) {
        return std::string(1, c);
    }
    static const char* digits = "0123456789abcdef";
    const auto u = static_cast<unsigned char>(c);
    return std::string("\\x") + digits[u >> 4] + digits[u & 15];
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const std::string& item : items) {
        out += out.empty() ? "" : std::string(sep);
        out += item;
    }
    return out;
}

// Percent-encoding as Python's urllib.parse.quote (keeps '/' only when asked).
std::string url_encode(std::string_view s, bool keep_slash) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            out += c;
        } else {
            out += '%';
            out += digits[u >> 4];
            out += digits[u & 15];
        }
    }
    return out;
}

// "scheme://host:port" of a URL, lower-cased: the token only goes to the endpoint's origin.
std::string url_origin(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return "";
    }
    const std::size_t path_start = url.find('/', scheme_end + 3);
    return lower(url.substr(0, path_start));
}

std::string errno_text() {
    return std::strerror(errno);
}

// ---- model ids ------------------------------------------------------------------------

Error bad_id(std::string_view text, const std::string& why) {
    return make_error(ErrorKind::bad_input, "model id '" + std::string(text) + "' " + why);
}

// One side of org/name; `offset` is where it starts in `text` (for the column).
Status check_id_part(std::string_view text, std::string_view part, std::size_t offset,
                     const char* what) {
    if (part.empty()) {
        return bad_id(text, std::string("has an empty ") + what +
                                ": expected 'org/name' or 'org/name@revision'");
    }
    for (std::size_t i = 0; i < part.size(); ++i) {
        const char c = part[i];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
            return bad_id(text, "has the character '" + printable_char(c) + "' at column " +
                                    std::to_string(offset + i + 1) +
                                    ": use letters, digits, '-', '_' and '.'");
        }
    }
    const auto is_word = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    };
    const std::string quoted = std::string("has the ") + what + " '" + std::string(part) + "', ";
    if (!is_word(part.front()) || !is_word(part.back())) {
        return bad_id(text, quoted + "which does not start and end with a letter, digit or '_'");
    }
    for (const char* pair : {"--", ".."}) {
        if (part.find(pair) != std::string_view::npos) {
            return bad_id(text,
                          quoted + "which contains '" + pair + "': the hub does not allow it");
        }
    }
    return {};
}

Status check_revision(std::string_view text, std::string_view revision) {
    if (revision.empty()) {
        return bad_id(text, "has an empty revision after '@': expected 'org/name@revision'");
    }
    for (const char c : revision) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
            c != '/') {
            return bad_id(text,
                          "has the character '" + printable_char(c) +
                              "' in its revision: use letters, digits, '-', '_', '.' and '/'");
        }
    }
    if (!is_safe_relative_path(revision) || revision.back() == '/') {
        return bad_id(text, "has a revision '" + std::string(revision) +
                                "' that is not a branch, tag or commit name");
    }
    return {};
}

// ---- the cache --------------------------------------------------------------------------

// huggingface_hub constants.py: HF_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME/huggingface/hub.
std::string hf_home_from_env() {
    const std::string xdg = env_or("XDG_CACHE_HOME", "~/.cache");
    return expand_user(env_or("HF_HOME", xdg + "/huggingface"));
}

std::string cache_dir_from_env() {
    const std::string legacy = env_or("HUGGINGFACE_HUB_CACHE", hf_home_from_env() + "/hub");
    return expand_user(env_or("HF_HUB_CACHE", legacy));
}

std::string token_from_env() {
    std::string token = env_or("HF_TOKEN", env_or("HUGGING_FACE_HUB_TOKEN", ""));
    if (token.empty()) {
        const std::string path =
            expand_user(env_or("HF_TOKEN_PATH", hf_home_from_env() + "/token"));
        std::string content;
        if (read_file(path, content)) {
            token = content;
        }
    }
    return trim(token);
}

bool env_true(const char* name) {
    const std::string value = lower(trim(env_or(name, "")));
    return value == "1" || value == "on" || value == "yes" || value == "true";
}

long env_seconds(const char* name, long fallback) {
    const std::string value = env_or(name, "");
    char* end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    return !value.empty() && end != nullptr && *end == '\0' && seconds > 0
               ? std::max(1L, static_cast<long>(seconds))
               : fallback;
}

// The commit the revision points at in the cache, or "" when unknown.
std::string cached_commit(const fs::path& repo_dir, const std::string& revision) {
    if (is_hex(revision, 40)) {
        return revision;
    }
    std::string content;
    if (!read_file((repo_dir / "refs" / revision).string(), content)) {
        return "";
    }
    const std::string commit = trim(content);
    return is_safe_component(commit) ? commit : "";
}

// Shard file names listed in an index's weight_map, sorted and unique.
Expected<std::vector<std::string>> read_index_shards(const fs::path& index_path) {
    std::string text;
    if (!read_file(index_path.string(), text)) {
        return make_error(ErrorKind::io, index_path.string() + ": cannot read: " + errno_text());
    }
    const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("weight_map") ||
        !json["weight_map"].is_object()) {
        return make_error(ErrorKind::bad_input,
                          index_path.string() +
                              ": not a safetensors index (no 'weight_map' "
                              "object): delete it so that it is downloaded again");
    }
    std::set<std::string> shards;
    for (const auto& [tensor, file] : json["weight_map"].items()) {
        if (!file.is_string() || !is_safe_relative_path(file.get<std::string>())) {
            return make_error(ErrorKind::bad_input, index_path.string() + ": weight_map['" +
                                                        tensor + "'] is not a relative file name");
        }
        shards.insert(file.get<std::string>());
    }
    return std::vector<std::string>(shards.begin(), shards.end());
}

// What a cached snapshot lacks. Optional files are "unknown" when neither present nor
// recorded as absent in .no_exist/<commit>/.
struct SnapshotState {
    std::vector<std::string> missing;  // required files, shards included
    std::vector<std::string> unknown_optional;
};

Expected<SnapshotState> inspect_snapshot(const fs::path& repo_dir, const std::string& commit) {
    const fs::path snapshot = repo_dir / "snapshots" / commit;
    const fs::path no_exist = repo_dir / ".no_exist" / commit;
    SnapshotState state;
    for (const std::string& file : hub_required_files()) {
        if (!fs::exists(snapshot / file)) {
            state.missing.push_back(file);
        }
    }
    for (const std::string& file : hub_optional_files()) {
        if (!fs::exists(snapshot / file) && !fs::exists(no_exist / file)) {
            state.unknown_optional.push_back(file);
        }
    }
    if (fs::exists(snapshot / kWeightsFile)) {
        return state;
    }
    if (!fs::exists(snapshot / kIndexFile)) {
        state.missing.push_back(std::string(kWeightsFile) + " (or " + kIndexFile + ")");
        return state;
    }
    auto shards = read_index_shards(snapshot / kIndexFile);
    if (!shards) {
        return shards.error();
    }
    for (const std::string& shard : *shards) {
        if (!fs::exists(snapshot / shard)) {
            state.missing.push_back(shard);
        }
    }
    return state;
}

// ---- durable files ------------------------------------------------------------------------

class UniqueFd {
  public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = -1;
    }

  private:
    int fd_ = -1;
};

// After a rename the directory entry itself must reach the disk too.
void fsync_dir(const fs::path& dir) {
    const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
    if (fd.get() >= 0) {
        ::fsync(fd.get());
    }
}

// Unique per process and per call: two threads may link the same file at once.
std::string tmp_name(const fs::path& path) {
    static std::atomic<unsigned> counter{0};
    return path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

Status write_file_atomic(const fs::path& path, const std::string& content) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const std::string tmp = tmp_name(path);
    {
        const UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        if (fd.get() < 0 ||
            ::write(fd.get(), content.data(), content.size()) !=
                static_cast<ssize_t>(content.size()) ||
            ::fsync(fd.get()) != 0) {
            return make_error(ErrorKind::io, tmp + ": cannot write: " + errno_text());
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return make_error(ErrorKind::io,
                          path.string() + ": cannot rename into place: " + errno_text());
    }
    fsync_dir(path.parent_path());
    return {};
}

// snapshots/<commit>/<file> -> ../../blobs/<blob>, replaced atomically (symlink + rename).
Status link_into_snapshot(const fs::path& blob, const fs::path& pointer) {
    std::error_code ec;
    fs::create_directories(pointer.parent_path(), ec);
    const fs::path target = blob.lexically_relative(pointer.parent_path());
    const std::string tmp = tmp_name(pointer);
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) != 0 ||
        ::rename(tmp.c_str(), pointer.c_str()) != 0) {
        return make_error(ErrorKind::io, pointer.string() + ": cannot link to " + blob.string() +
                                             ": " + errno_text() +
                                             " (the cache needs a file system with symlinks)");
    }
    fsync_dir(pointer.parent_path());
    return {};
}

// An exclusive flock(), as Python's filelock takes on the same path.
class FileLock {
  public:
    Status acquire(const fs::path& path) {
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        fd_ = std::make_unique<UniqueFd>(::open(path.c_str(), O_RDWR | O_CREAT, 0644));
        if (fd_->get() < 0) {
            return make_error(ErrorKind::io, path.string() + ": cannot open lock: " + errno_text());
        }
        if (::flock(fd_->get(), LOCK_EX | LOCK_NB) == 0) {
            return {};
        }
        spdlog::info("waiting for another process that is downloading the same file ({})",
                     path.string());
        if (::flock(fd_->get(), LOCK_EX) != 0) {
            return make_error(ErrorKind::io, path.string() + ": cannot lock: " + errno_text());
        }
        return {};
    }

  private:
    std::unique_ptr<UniqueFd> fd_;
};

// ---- HTTP -----------------------------------------------------------------------------

using HeaderMap = std::map<std::string, std::string>;  // lower-case names

struct EvpDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpContext = std::unique_ptr<EVP_MD_CTX, EvpDeleter>;

std::string sha256_hex(EVP_MD_CTX* ctx) {
    unsigned char digest[EVP_MAX_MD_SIZE] = {};
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, digest, &length);
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        hex += digits[digest[i] >> 4];
        hex += digits[digest[i] & 15];
    }
    return hex;
}

// Progress of one file: a line every opts.progress_interval_s, never more.
struct Progress {
    std::string label;            // "org/name file"
    long long total_bytes = -1;   // -1 when unknown
    long long done_bytes = 0;     // in the file, resumed bytes included
    long long attempt_bytes = 0;  // received by this attempt
    Clock::time_point attempt_start = Clock::now();
    Clock::time_point last_log = Clock::now();
    double interval_s = 5.0;

    void on_bytes(long long num_bytes) {
        done_bytes += num_bytes;
        attempt_bytes += num_bytes;
        const Clock::time_point now = Clock::now();
        if (std::chrono::duration<double>(now - last_log).count() < interval_s) {
            return;
        }
        last_log = now;
        const double elapsed_s = std::chrono::duration<double>(now - attempt_start).count();
        const double rate_mb_s = attempt_bytes / kBytesPerMb / std::max(elapsed_s, 1e-3);
        if (total_bytes > 0) {
            spdlog::info("{}: {:.1f} / {:.1f} MB ({:.0f}%), {:.1f} MB/s", label,
                         done_bytes / kBytesPerMb, total_bytes / kBytesPerMb,
                         100.0 * done_bytes / total_bytes, rate_mb_s);
        } else {
            spdlog::info("{}: {:.1f} MB, {:.1f} MB/s", label, done_bytes / kBytesPerMb, rate_mb_s);
        }
    }
};

// Where a GET's body goes: appended to the .incomplete file and hashed on the way.
struct BodySink {
    CURL* curl = nullptr;
    const HeaderMap* headers = nullptr;
    const HubOptions* opts = nullptr;
    int fd = -1;
    EVP_MD_CTX* sha = nullptr;
    Progress* progress = nullptr;
    long long start_bytes = 0;  // bytes in the file before this request (the Range start)
    bool started = false;
    long status = 0;
    std::string error_body;       // the body of an error response, for its message
    std::string failure;          // why the sink stopped the transfer (not retried)
    bool range_mismatch = false;  // a 206 that does not start where the file ends
    bool cancelled = false;
};

// First body bytes: a 200 to a Range request means the server sends the whole file again.
bool begin_body(BodySink& sink) {
    sink.started = true;
    curl_easy_getinfo(sink.curl, CURLINFO_RESPONSE_CODE, &sink.status);
    if (sink.status == 206) {
        const auto it = sink.headers->find("content-range");
        const std::string expected = "bytes " + std::to_string(sink.start_bytes) + "-";
        if (it == sink.headers->end() || !it->second.starts_with(expected)) {
            sink.range_mismatch = true;
            return false;
        }
    } else if (sink.status == 200 && sink.start_bytes > 0) {
        if (::ftruncate(sink.fd, 0) != 0 || ::lseek(sink.fd, 0, SEEK_SET) != 0) {
            sink.failure = "cannot truncate: " + errno_text();
            return false;
        }
        EVP_DigestInit_ex(sink.sha, EVP_sha256(), nullptr);
        sink.progress->done_bytes = 0;
        sink.start_bytes = 0;
    }
    return true;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto& sink = *static_cast<BodySink*>(user);
    const size_t num_bytes = size * count;
    if (!sink.started && !begin_body(sink)) {
        return 0;
    }
    if (sink.status < 200 || sink.status >= 300) {
        sink.error_body.append(
            data,
            std::min<size_t>(num_bytes, 1024 - std::min<size_t>(1024, sink.error_body.size())));
        return num_bytes;
    }
    if (sink.opts->is_cancelled && sink.opts->is_cancelled()) {
        sink.cancelled = true;
        return 0;
    }
    for (size_t written = 0; written < num_bytes;) {
        const ssize_t n = ::write(sink.fd, data + written, num_bytes - written);
        if (n < 0 && errno != EINTR) {
            sink.failure = "cannot write: " + errno_text();
            return 0;
        }
        written += n > 0 ? static_cast<size_t>(n) : 0;
    }
    EVP_DigestUpdate(sink.sha, data, num_bytes);
    sink.progress->on_bytes(static_cast<long long>(num_bytes));
    return num_bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto& headers = *static_cast<HeaderMap*>(user);
    const std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
        headers.clear();  // a new response begins (after a redirect)
    } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
        headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return size * count;
}

size_t discard_body(char*, size_t size, size_t count, void*) {
    return size * count;
}

struct HttpResult {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string error;  // curl's message when code != CURLE_OK
};

// One libcurl handle per resolve: connections are reused from one file to the next.
class Http {
  public:
    explicit Http(const HubOptions& opts)
        : opts_(opts), endpoint_origin_(url_origin(opts.endpoint)) {
        static std::once_flag once;
        std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
        curl_ = curl_easy_init();
    }
    Http(const Http&) = delete;
    Http& operator=(const Http&) = delete;
    ~Http() { curl_easy_cleanup(curl_); }

    // HEAD without following redirects: the hub's metadata sits on the first response.
    HttpResult head(const std::string& url, HeaderMap& headers) {
        curl_slist* list = request_headers(url, -1);
        list = curl_slist_append(list, "Accept-Encoding: identity");
        prepare(url, list, headers);
        curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, discard_body);
        return perform(list);
    }

    // GET following redirects (to the CDN), from byte `range_start` on, into `sink`.
    HttpResult get(const std::string& url, HeaderMap& headers, BodySink& sink) {
        curl_slist* list = request_headers(url, sink.start_bytes);
        prepare(url, list, headers);
        curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
        sink.curl = curl_;
        sink.headers = &headers;
        return perform(list);
    }

  private:
    curl_slist* request_headers(const std::string& url, long long range_start) const {
        curl_slist* list = nullptr;
        // Never hand the token to another host (the CDN of a redirect, a Location elsewhere).
        if (!opts_.token.empty() && url_origin(url) == endpoint_origin_) {
            list = curl_slist_append(list, ("Authorization: Bearer " + opts_.token).c_str());
        }
        if (range_start > 0) {
            list = curl_slist_append(list,
                                     ("Range: bytes=" + std::to_string(range_start) + "-").c_str());
        }
        return list;
    }

    void prepare(const std::string& url, curl_slist* list, HeaderMap& headers) {
        headers.clear();
        if (curl_ == nullptr) {
            return;  // perform() reports it
        }
        curl_easy_reset(curl_);
        errbuf_[0] = '\0';
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(curl_, CURLOPT_USERAGENT, "mcomp/" MCOMP_VERSION_STRING);
        curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, opts_.connect_timeout_s);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, opts_.stall_timeout_s);
        curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf_);
        curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &headers);
    }

    HttpResult perform(curl_slist* list) {
        HttpResult result;
        if (curl_ == nullptr) {
            curl_slist_free_all(list);
            return HttpResult{CURLE_FAILED_INIT, 0, "libcurl could not start a session"};
        }
        result.code = curl_easy_perform(curl_);
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &result.status);
        if (result.code != CURLE_OK) {
            result.error =
                errbuf_[0] != '\0' ? std::string(errbuf_) : curl_easy_strerror(result.code);
        }
        curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
        curl_slist_free_all(list);
        return result;
    }

    const HubOptions& opts_;
    std::string endpoint_origin_;
    CURL* curl_ = nullptr;
    char errbuf_[CURL_ERROR_SIZE] = {};
};

// Transient failures worth another (resumed) attempt.
bool is_retryable(const HttpResult& r) {
    switch (r.code) {
        case CURLE_OK:
            return r.status == 429 || r.status >= 500;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_COULDNT_CONNECT:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return true;
        default:
            return false;
    }
}

// ---- downloading a model ----------------------------------------------------------------

enum class Need { required, optional };
enum class Fetched { present, absent };

// What a HEAD on /{id}/resolve/{rev}/{file} says (huggingface_hub get_hf_file_metadata).
struct FileMeta {
    long status = 0;
    std::string commit;  // X-Repo-Commit
    std::string etag;    // X-Linked-Etag or ETag, unquoted; "" when unusable
    long long size_bytes = -1;
    std::string location;    // where to GET the content
    std::string error_code;  // X-Error-Code (RepositoryNotFound, GatedRepo, ...)
    std::string error_message;
};

FileMeta meta_from_headers(long status, const HeaderMap& h, const std::string& url) {
    const auto get = [&](const char* name) {
        const auto it = h.find(name);
        return it == h.end() ? std::string() : it->second;
    };
    FileMeta meta;
    meta.status = status;
    meta.commit = get("x-repo-commit");
    std::string etag = get("x-linked-etag").empty() ? get("etag") : get("x-linked-etag");
    if (etag.starts_with("W/")) {
        etag = etag.substr(2);
    }
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    meta.etag = is_safe_component(etag) ? etag : "";
    const std::string size =
        get("x-linked-size").empty() ? get("content-length") : get("x-linked-size");
    char* end = nullptr;
    const long long parsed = std::strtoll(size.c_str(), &end, 10);
    meta.size_bytes = !size.empty() && end != nullptr && *end == '\0' && parsed >= 0 ? parsed : -1;
    meta.location =
        status >= 300 && status < 400 && !get("location").empty() ? get("location") : url;
    meta.error_code = get("x-error-code");
    meta.error_message = get("x-error-message");
    return meta;
}

class ModelDownloader {
  public:
    ModelDownloader(const ModelRef& ref, const HubOptions& opts, fs::path repo_dir)
        : ref_(ref), opts_(opts), repo_dir_(std::move(repo_dir)), http_(opts) {}

    Expected<Fetched> fetch(const std::string& file, Need need);
    Expected<std::string> finish();
    const std::string& commit() const { return commit_; }
    fs::path snapshot() const { return repo_dir_ / "snapshots" / commit_; }

  private:
    std::string label(const std::string& file) const { return ref_.id + " " + file; }
    std::string url_for(const std::string& file) const;
    Expected<FileMeta> head(const std::string& file);
    Error http_error(const std::string& file, const FileMeta& meta) const;
    Status adopt_commit(const FileMeta& meta);
    Expected<fs::path> store_blob(const std::string& file, const FileMeta& meta);
    Expected<fs::path> download_blob(const std::string& file, const FileMeta& meta,
                                     const fs::path& incomplete);
    Status attempt_download(const std::string& url, const fs::path& incomplete, Progress& progress,
                            EVP_MD_CTX* sha, bool& retry);
    Status wait_before_retry(int attempt, const std::string& file, const std::string& why);

    ModelRef ref_;
    const HubOptions& opts_;
    fs::path repo_dir_;
    Http http_;
    std::string commit_;  // known after the first answer; later URLs use it, not the branch
    int num_files_fetched_ = 0;
    long long num_bytes_fetched_ = 0;
    Clock::time_point start_ = Clock::now();
};

std::string ModelDownloader::url_for(const std::string& file) const {
    std::string endpoint = opts_.endpoint;
    while (endpoint.ends_with('/')) {
        endpoint.pop_back();
    }
    const std::string& revision = commit_.empty() ? ref_.revision : commit_;
    return endpoint + "/" + ref_.id + "/resolve/" + url_encode(revision, false) + "/" +
           url_encode(file, true);
}

Status ModelDownloader::wait_before_retry(int attempt, const std::string& file,
                                          const std::string& why) {
    const long delay_ms = opts_.retry_delay_ms << std::min(attempt, 10);
    spdlog::warn("{}: {}; retrying in {} ms (attempt {} of {})", label(file), why, delay_ms,
                 attempt + 2, opts_.max_retries + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (opts_.is_cancelled && opts_.is_cancelled()) {
        return make_error(ErrorKind::cancelled, "download of " + label(file) + " cancelled");
    }
    return {};
}

// HEAD, following only relative redirects (a renamed repository), as huggingface_hub does.
Expected<FileMeta> ModelDownloader::head(const std::string& file) {
    std::string url = url_for(file);
    for (int attempt = 0, hops = 0;;) {
        HeaderMap headers;
        const HttpResult r = http_.head(url, headers);
        const auto location = headers.find("location");
        if (r.code == CURLE_OK && r.status >= 300 && r.status < 400 && location != headers.end() &&
            location->second.starts_with('/') && ++hops <= 10) {
            url = url_origin(url) + location->second;
            continue;
        }
        if (!is_retryable(r) || attempt >= opts_.max_retries) {
            if (r.code != CURLE_OK) {
                return make_error(ErrorKind::io,
                                  "cannot reach " + opts_.endpoint + " to download " + label(file) +
                                      " (" + r.error +
                                      "): check the network, or set HF_HUB_OFFLINE=1 to use only "
                                      "what is already in the Hugging Face cache");
            }
            return meta_from_headers(r.status, headers, url);
        }
        MCOMP_TRY(wait_before_retry(
            attempt++, file, r.code != CURLE_OK ? r.error : "HTTP " + std::to_string(r.status)));
    }
}

Error ModelDownloader::http_error(const std::string& file, const FileMeta& meta) const {
    const std::string where =
        " on " + opts_.endpoint + " (HTTP " + std::to_string(meta.status) + ")";
    const std::string detail = meta.error_message.empty() ? "" : " [" + meta.error_message + "]";
    if (meta.error_code == "RepositoryNotFound") {
        return make_error(ErrorKind::not_found,
                          "model '" + ref_.id + "' not found" + where + detail +
                              ": check the model id; for a private or gated model set HF_TOKEN");
    }
    if (meta.error_code == "GatedRepo" || meta.status == 401 || meta.status == 403) {
        return make_error(ErrorKind::not_found,
                          "access to " + label(file) + " refused" + where + detail +
                              ": the model may be gated or private; accept its terms on the hub "
                              "and set HF_TOKEN to a token that can read it");
    }
    if (meta.error_code == "RevisionNotFound") {
        return make_error(ErrorKind::not_found, "revision '" + ref_.revision + "' of '" + ref_.id +
                                                    "' not found" + where + detail +
                                                    ": check the revision");
    }
    if (meta.status == 404) {
        return make_error(ErrorKind::not_found, file + " of '" + ref_.id + "@" + ref_.revision +
                                                    "' not found" + where + detail +
                                                    ": check the model id and revision");
    }
    return make_error(ErrorKind::io,
                      "cannot download " + label(file) + where + detail + ": try again later");
}

// The first answer fixes the commit; every later file is asked for at that commit so that
// the snapshot is consistent even when the branch moves meanwhile.
Status ModelDownloader::adopt_commit(const FileMeta& meta) {
    std::string commit = meta.commit;
    if (commit.empty()) {
        commit = commit_.empty() ? ref_.revision : commit_;  // not a hub: name it by revision
        std::replace(commit.begin(), commit.end(), '/', '_');
    }
    if (!is_safe_component(commit)) {
        return make_error(ErrorKind::bad_input, opts_.endpoint + " answered the commit '" + commit +
                                                    "' for " + ref_.id +
                                                    ", which is not a commit hash");
    }
    if (!commit_.empty() && commit != commit_) {
        return make_error(ErrorKind::bad_input, opts_.endpoint + " answered commit " + commit +
                                                    " for " + ref_.id + " at commit " + commit_ +
                                                    ": try again");
    }
    commit_ = commit;
    return {};
}

Expected<Fetched> ModelDownloader::fetch(const std::string& file, Need need) {
    if (!commit_.empty() && fs::exists(snapshot() / file)) {
        return Fetched::present;
    }
    if (!commit_.empty() && need == Need::optional &&
        fs::exists(repo_dir_ / ".no_exist" / commit_ / file)) {
        return Fetched::absent;
    }
    auto meta = head(file);
    if (!meta) {
        return meta.error();
    }
    const bool missing_entry = meta->status == 404 && meta->error_code != "RevisionNotFound" &&
                               meta->error_code != "RepositoryNotFound";
    if (missing_entry && need == Need::optional) {
        if (adopt_commit(*meta)) {  // remember the 404 as huggingface_hub does
            const fs::path marker = repo_dir_ / ".no_exist" / commit_ / file;
            std::error_code ec;
            fs::create_directories(marker.parent_path(), ec);
            const UniqueFd fd(::open(marker.c_str(), O_WRONLY | O_CREAT, 0644));
        }
        spdlog::debug("{}: not on the hub (optional)", label(file));
        return Fetched::absent;
    }
    if (meta->status < 200 || meta->status >= 400) {
        return http_error(file, *meta);
    }
    const bool redirected = meta->location != url_for(file);
    MCOMP_TRY(adopt_commit(*meta));
    if (fs::exists(snapshot() / file)) {
        return Fetched::present;
    }
    if (!redirected) {
        meta->location = url_for(file);  // at the commit: the branch may move meanwhile
    }
    auto blob = store_blob(file, *meta);
    if (!blob) {
        return blob.error();
    }
    MCOMP_TRY(link_into_snapshot(*blob, snapshot() / file));
    return Fetched::present;
}

// Puts the file's content in blobs/ (already there, or downloaded) under the blob lock.
Expected<fs::path> ModelDownloader::store_blob(const std::string& file, const FileMeta& meta) {
    // Without an ETag the blob is named by its sha256, known only at the end.
    const std::string key =
        !meta.etag.empty() ? meta.etag : "noetag-" + commit_ + "-" + url_encode(file, false);
    FileLock lock;
    MCOMP_TRY(
        lock.acquire(repo_dir_.parent_path() / ".locks" / repo_dir_.filename() / (key + ".lock")));
    const fs::path blob = repo_dir_ / "blobs" / meta.etag;
    std::error_code ec;
    if (!meta.etag.empty() && fs::is_regular_file(blob)) {
        const auto size_bytes = static_cast<long long>(fs::file_size(blob, ec));
        if (meta.size_bytes < 0 || size_bytes == meta.size_bytes) {
            return blob;
        }
        spdlog::warn("{}: cached blob {} has {} bytes, expected {}; downloading it again",
                     label(file), blob.string(), size_bytes, meta.size_bytes);
    }
    fs::create_directories(repo_dir_ / "blobs", ec);
    return download_blob(file, meta, repo_dir_ / "blobs" / (key + ".incomplete"));
}

// Resume: hashes what an earlier attempt (or process, or the Python tools) left in the
// .incomplete file and positions it at its end; returns the byte count kept.
Expected<long long> prepare_resume(int fd, const fs::path& incomplete, long long total_bytes,
                                   EVP_MD_CTX* sha) {
    EVP_DigestInit_ex(sha, EVP_sha256(), nullptr);
    long long kept_bytes = 0;
    std::vector<char> buffer(1 << 20);
    for (ssize_t n = 0; (n = ::read(fd, buffer.data(), buffer.size())) > 0;) {
        EVP_DigestUpdate(sha, buffer.data(), static_cast<size_t>(n));
        kept_bytes += n;
    }
    if (total_bytes >= 0 && kept_bytes > total_bytes) {
        kept_bytes = 0;  // longer than the file: not ours, start over
        EVP_DigestInit_ex(sha, EVP_sha256(), nullptr);
    }
    if (::ftruncate(fd, kept_bytes) != 0 || ::lseek(fd, kept_bytes, SEEK_SET) != kept_bytes) {
        return make_error(ErrorKind::io, incomplete.string() + ": cannot resume: " + errno_text());
    }
    return kept_bytes;
}

// One GET from the current end of the .incomplete file; `retry` says whether to try again.
Status ModelDownloader::attempt_download(const std::string& url, const fs::path& incomplete,
                                         Progress& progress, EVP_MD_CTX* sha, bool& retry) {
    retry = false;
    const UniqueFd fd(::open(incomplete.c_str(), O_RDWR | O_CREAT, 0644));
    if (fd.get() < 0) {
        return make_error(ErrorKind::io, incomplete.string() + ": cannot open: " + errno_text());
    }
    const auto resumed = prepare_resume(fd.get(), incomplete, progress.total_bytes, sha);
    if (!resumed) {
        return resumed.error();
    }
    const long long start_bytes = *resumed;
    if (start_bytes > 0) {
        spdlog::info("{}: resuming at {:.1f} MB", progress.label, start_bytes / kBytesPerMb);
    }
    progress.done_bytes = start_bytes;
    progress.attempt_bytes = 0;
    progress.attempt_start = Clock::now();
    BodySink sink;
    sink.opts = &opts_;
    sink.fd = fd.get();
    sink.sha = sha;
    sink.progress = &progress;
    sink.start_bytes = start_bytes;
    HeaderMap headers;
    const HttpResult r = http_.get(url, headers, sink);
    if (sink.cancelled) {
        return make_error(ErrorKind::cancelled, "download of " + progress.label + " cancelled");
    }
    if (!sink.started && r.code == CURLE_OK && !begin_body(sink)) {  // an empty body
        return make_error(ErrorKind::io, progress.label + ": " + sink.failure);
    }
    if (!sink.started) {
        sink.status = r.status;  // failed before any body arrived
    }
    if (r.code == CURLE_OK && sink.status == 416 && start_bytes == progress.total_bytes) {
        progress.done_bytes = start_bytes;  // the earlier attempt had everything
        return {};
    }
    if (r.code == CURLE_OK && sink.status >= 200 && sink.status < 300) {
        if (::fsync(fd.get()) != 0) {
            return make_error(ErrorKind::io,
                              incomplete.string() + ": cannot fsync: " + errno_text());
        }
        return {};
    }
    if (sink.status == 416 || sink.range_mismatch) {
        retry = true;  // the partial file does not fit what the server has: start over
        (void)!::ftruncate(fd.get(), 0);
        return make_error(ErrorKind::io, "the server cannot resume at byte " +
                                             std::to_string(start_bytes) + ", starting over");
    }
    if (is_retryable(r) && sink.failure.empty()) {
        retry = true;
        return make_error(ErrorKind::io,
                          r.code != CURLE_OK ? r.error : "HTTP " + std::to_string(sink.status));
    }
    const std::string why =
        !sink.failure.empty() ? sink.failure
        : r.code != CURLE_OK  ? r.error
                             : "HTTP " + std::to_string(sink.status) + ": " + trim(sink.error_body);
    return make_error(ErrorKind::io,
                      "cannot download " + progress.label + " from " + url + " (" + why + ")");
}

// Downloads into `incomplete`, checks size and sha256, renames into blobs/.
Expected<fs::path> ModelDownloader::download_blob(const std::string& file, const FileMeta& meta,
                                                  const fs::path& incomplete) {
    Progress progress;
    progress.label = label(file);
    progress.total_bytes = meta.size_bytes;
    progress.interval_s = opts_.progress_interval_s;
    const EvpContext sha(EVP_MD_CTX_new());
    const Clock::time_point start = Clock::now();
    for (int attempt = 0;; ++attempt) {
        bool retry = false;
        const Status status =
            attempt_download(meta.location, incomplete, progress, sha.get(), retry);
        if (status) {
            break;
        }
        if (!retry || attempt >= opts_.max_retries) {
            return make_error(status.error().kind,
                              status.error().message +
                                  (retry ? "; the partial download is kept in " +
                                               incomplete.string() + " and resumes on the next run"
                                         : ""));
        }
        MCOMP_TRY(wait_before_retry(attempt, file, status.error().message));
    }
    const long long size_bytes = progress.done_bytes;
    const std::string actual_sha = sha256_hex(sha.get());
    const std::string expected_sha = is_hex(meta.etag, 64) ? meta.etag : "";
    std::string problem;
    if (meta.size_bytes >= 0 && size_bytes != meta.size_bytes) {
        problem = "size mismatch: expected " + std::to_string(meta.size_bytes) + " bytes, got " +
                  std::to_string(size_bytes);
    } else if (!expected_sha.empty() && actual_sha != expected_sha) {
        problem = "checksum mismatch: expected sha256 " + expected_sha + ", got " + actual_sha;
    }
    if (!problem.empty()) {
        ::unlink(incomplete.c_str());
        return make_error(ErrorKind::bad_input, "download of " + label(file) + " from " +
                                                    meta.location + " refused: " + problem +
                                                    "; the partial file was removed, try again");
    }
    const fs::path blob = repo_dir_ / "blobs" / (meta.etag.empty() ? actual_sha : meta.etag);
    if (::rename(incomplete.c_str(), blob.c_str()) != 0) {
        return make_error(ErrorKind::io,
                          blob.string() + ": cannot rename into place: " + errno_text());
    }
    fsync_dir(blob.parent_path());
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    const auto level =
        elapsed_s >= opts_.progress_interval_s ? spdlog::level::info : spdlog::level::debug;
    spdlog::log(level, "{}: {:.1f} MB in {:.1f} s ({:.1f} MB/s)", label(file),
                size_bytes / kBytesPerMb, elapsed_s,
                size_bytes / kBytesPerMb / std::max(elapsed_s, 1e-3));
    ++num_files_fetched_;
    num_bytes_fetched_ += size_bytes;
    return blob;
}

// Points refs/<revision> at the commit, as huggingface_hub does for branches and tags.
Expected<std::string> ModelDownloader::finish() {
    if (ref_.revision != commit_) {
        MCOMP_TRY(write_file_atomic(repo_dir_ / "refs" / ref_.revision, commit_));
    }
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    const auto level = num_files_fetched_ > 0 ? spdlog::level::info : spdlog::level::debug;
    spdlog::log(level, "{}@{}: downloaded {} files ({:.1f} MB) in {:.1f} s into {}", ref_.id,
                commit_, num_files_fetched_, num_bytes_fetched_ / kBytesPerMb, elapsed_s,
                snapshot().string());
    return snapshot().string();
}

Expected<std::string> download_model(const ModelRef& ref, const HubOptions& opts,
                                     const fs::path& repo_dir) {
    spdlog::info("{}@{}: fetching from {} into {}", ref.id, ref.revision, opts.endpoint,
                 repo_dir.string());
    ModelDownloader downloader(ref, opts, repo_dir);
    for (const std::string& file : hub_required_files()) {
        MCOMP_TRY(downloader.fetch(file, Need::required));
    }
    for (const std::string& file : hub_optional_files()) {
        MCOMP_TRY(downloader.fetch(file, Need::optional));
    }
    auto single = downloader.fetch(kWeightsFile, Need::optional);
    if (!single) {
        return single.error();
    }
    if (*single == Fetched::absent) {
        auto index = downloader.fetch(kIndexFile, Need::optional);
        if (!index) {
            return index.error();
        }
        if (*index == Fetched::absent) {
            return make_error(ErrorKind::not_found,
                              "neither " + std::string(kWeightsFile) + " nor " + kIndexFile +
                                  " of '" + ref.id + "@" + ref.revision + "' found on " +
                                  opts.endpoint +
                                  " (HTTP 404): mcomp reads safetensors checkpoints only");
        }
        auto shards = read_index_shards(downloader.snapshot() / kIndexFile);
        if (!shards) {
            return shards.error();
        }
        for (const std::string& shard : *shards) {
            MCOMP_TRY(downloader.fetch(shard, Need::required));
        }
    }
    return downloader.finish();
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------

Expected<ModelRef> parse_model_id(std::string_view text) {
    if (text.empty()) {
        return make_error(ErrorKind::bad_input,
                          "empty model id: expected 'org/name' or 'org/name@revision'");
    }
    const std::size_t at = text.find('@');
    const std::string_view id = text.substr(0, at);
    const std::size_t slash = id.find('/');
    if (slash == std::string_view::npos) {
        return bad_id(text, "has no organisation: expected 'org/name' or 'org/name@revision'");
    }
    if (id.find('/', slash + 1) != std::string_view::npos) {
        return bad_id(text, "has more than one '/': expected 'org/name' or 'org/name@revision'");
    }
    MCOMP_TRY(check_id_part(text, id.substr(0, slash), 0, "organisation"));
    MCOMP_TRY(check_id_part(text, id.substr(slash + 1), slash + 1, "name"));
    if (id.size() > kMaxIdLength) {
        return bad_id(text, "is longer than " + std::to_string(kMaxIdLength) + " characters");
    }
    ModelRef ref;
    ref.id = std::string(id);
    if (at != std::string_view::npos) {
        MCOMP_TRY(check_revision(text, text.substr(at + 1)));
        ref.revision = std::string(text.substr(at + 1));
    }
    return ref;
}

HubOptions HubOptions::from_env() {
    HubOptions opts;
    opts.cache_dir = cache_dir_from_env();
    opts.endpoint = env_or("HF_ENDPOINT", opts.endpoint);
    while (opts.endpoint.ends_with('/')) {
        opts.endpoint.pop_back();
    }
    opts.token = token_from_env();
    opts.offline = env_true("HF_HUB_OFFLINE");
    opts.connect_timeout_s = env_seconds("HF_HUB_ETAG_TIMEOUT", opts.connect_timeout_s);
    opts.stall_timeout_s = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", opts.stall_timeout_s);
    return opts;
}

const std::vector<std::string>& hub_required_files() {
    static const std::vector<std::string> files = {"config.json", "tokenizer.json",
                                                   "tokenizer_config.json"};
    return files;
}

const std::vector<std::string>& hub_optional_files() {
    static const std::vector<std::string> files = {"generation_config.json",
                                                   "special_tokens_map.json"};
    return files;
}

std::string hub_repo_folder(const ModelRef& ref) {
    std::string folder = "models--" + ref.id;
    const std::size_t slash = folder.find('/');
    if (slash != std::string::npos) {
        folder.replace(slash, 1, "--");
    }
    return folder;
}

namespace {

Expected<std::string> resolve_in_cache(const ModelRef& ref, const HubOptions& opts) {
    const fs::path repo_dir = fs::path(opts.cache_dir) / hub_repo_folder(ref);
    const std::string commit = cached_commit(repo_dir, ref.revision);
    const fs::path snapshot = repo_dir / "snapshots" / commit;
    std::string problem;
    if (commit.empty()) {
        problem = "is not in the Hugging Face cache (no " +
                  (repo_dir / "refs" / ref.revision).string() + ")";
    } else if (!fs::is_directory(snapshot)) {
        problem = "is not in the Hugging Face cache (no " + snapshot.string() + ")";
    } else {
        auto state = inspect_snapshot(repo_dir, commit);
        if (!state) {
            return state.error();
        }
        if (state->missing.empty() && (opts.offline || state->unknown_optional.empty())) {
            spdlog::debug("{}@{}: using the cached snapshot {}", ref.id, ref.revision,
                          snapshot.string());
            return snapshot.string();
        }
        problem = "is incomplete in the Hugging Face cache (missing " + join(state->missing, ", ") +
                  " in " + snapshot.string() + ")";
    }
    if (opts.offline) {
        return make_error(ErrorKind::not_found,
                          "model '" + ref.id + "@" + ref.revision + "' " + problem +
                              "; HF_HUB_OFFLINE=1 forbids downloading it: unset HF_HUB_OFFLINE, "
                              "or fetch it where the network is reachable with "
                              "'huggingface-cli download " +
                              ref.id + " --revision " + ref.revision + "'");
    }
    return download_model(ref, opts, repo_dir);
}

}  // namespace

Expected<std::string> resolve_model_ref(const ModelRef& ref, const HubOptions& opts) {
    try {
        return resolve_in_cache(ref, opts);
    } catch (const fs::filesystem_error& e) {  // e.g. a cache folder we may not read
        return make_error(ErrorKind::io, "model '" + ref.id + "@" + ref.revision +
                                             "': file system error in the Hugging Face cache " +
                                             opts.cache_dir + ": " + e.what());
    }
}

Expected<std::string> resolve_model(const std::string& path_or_id, const HubOptions& opts) {
    std::error_code ec;
    if (fs::is_directory(path_or_id, ec)) {
        if (!fs::exists(fs::path(path_or_id) / "config.json", ec)) {
            return make_error(ErrorKind::bad_input,
                              path_or_id +
                                  ": no config.json in this directory: give a Hugging "
                                  "Face model directory, or an id 'org/name[@revision]'");
        }
        return path_or_id;
    }
    const bool looks_like_path = path_or_id.starts_with('/') || path_or_id.starts_with('.') ||
                                 path_or_id.starts_with('~') || fs::exists(path_or_id, ec);
    if (looks_like_path) {
        return make_error(ErrorKind::not_found,
                          path_or_id +
                              ": no such model directory: give a directory with "
                              "config.json, or a Hugging Face id 'org/name[@revision]'");
    }
    auto ref = parse_model_id(path_or_id);
    if (!ref) {
        return make_error(ErrorKind::bad_input, path_or_id +
                                                    ": no such model directory, and not a Hugging "
                                                    "Face id: " +
                                                    ref.error().message);
    }
    return resolve_model_ref(*ref, opts);
}

}  // namespace mcomp
