// host_services.hpp: the mc_host given to plugins (host.h) — one plugin-wide for init(), one
// per technique instance — plus the process-wide cancellation flag set by SIGINT.
//
// Log lines go to the spdlog logger "plugin.<id>"; progress is rate-limited and drawn as a
// bar when stderr is a terminal, plain log lines otherwise; fail() copies its message so the
// host can report it with the plugin id and the function that failed; alloc/free serve CPU
// memory (256-byte aligned) and, in a CUDA build, device memory from the stream-ordered pool
// on the instance's stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/manifest.hpp"
#include "mcomp/host.h"
#include "util/expected.hpp"

namespace spdlog {
class logger;
}

namespace mcomp {

// ---- cancellation ---------------------------------------------------------------------------

// Installs the SIGINT handler: the first Ctrl-C sets the cancellation flag (plugins see it
// through is_cancelled, the host stops at the next safe point); the handler then resets to
// the default action, so a second Ctrl-C ends the process.
void install_sigint_handler();
bool cancel_requested();
void request_cancel();  // what the handler does; also for tests
void reset_cancel();

// ---- logging --------------------------------------------------------------------------------

// The logger "plugin.<id>", created on first use with the default logger's sinks and level.
std::shared_ptr<spdlog::logger> plugin_logger(std::string_view plugin_id);

// ---- host services --------------------------------------------------------------------------

// The last failure a plugin reported through fail().
struct PluginFailure {
    mc_status code = MC_OK;
    std::string message;
};

// "MC_ERR_INVALID_ARGUMENT", ... for messages.
std::string_view status_name(mc_status status);
// The ErrorKind a plugin status maps to (INVALID_ARGUMENT: bad_input, UNSUPPORTED:
// unsupported, CANCELLED: cancelled, the rest: internal).
ErrorKind status_error_kind(mc_status status);

class HostServices {
  public:
    // `scope` names the technique instance in progress lines ("" for the plugin-wide host).
    HostServices(std::string plugin_id, std::string scope, mc_device device);
    ~HostServices();
    HostServices(const HostServices&) = delete;
    HostServices& operator=(const HostServices&) = delete;

    const mc_host* raw() const { return &host_; }
    const std::string& plugin_id() const { return plugin_id_; }
    mc_device device() const { return device_; }

    // Creates the CUDA stream of a CUDA instance (before create()); no-op on CPU.
    Status prepare_device();
    // The instance's cudaStream_t or nullptr.
    void* cuda_stream() const { return stream_; }
    // Waits for the instance's stream after a call; an error names the failed CUDA call.
    Status synchronize();

    // Failure bookkeeping around one plugin call.
    void clear_failure();
    PluginFailure take_failure();

    // Allocation used by the host itself for views it passes (same allocator as plugins).
    void* allocate(mc_device device, size_t num_bytes);
    void release(mc_device device, void* ptr);
    // Copies and fills on the instance's stream (plain memcpy/memset on the CPU); call
    // synchronize() before reading what copy_to_host wrote.
    Status copy_from_host(mc_device dst_device, void* dst, const void* src, size_t num_bytes);
    Status copy_to_host(void* dst, mc_device src_device, const void* src, size_t num_bytes);
    Status zero_fill(mc_device device, void* dst, size_t num_bytes);

  private:
    static HostServices* self(const mc_host* host);
    static void log_cb(const mc_host* host, mc_log_level level, const char* message);
    static void progress_cb(const mc_host* host, int64_t done, int64_t total, const char* what);
    static int32_t is_cancelled_cb(const mc_host* host);
    static mc_status fail_cb(const mc_host* host, mc_status code, const char* message);
    static void* alloc_cb(const mc_host* host, mc_device device, size_t num_bytes);
    static void free_cb(const mc_host* host, mc_device device, void* ptr);
    static void* cuda_stream_cb(const mc_host* host);
    static const void* get_extension_cb(const mc_host* host, const char* name);

    void report_progress(int64_t done, int64_t total, const char* what);

    std::string plugin_id_;
    std::string scope_;
    mc_device device_ = {MC_DEVICE_CPU, 0};
    mc_host host_ = {};
    std::shared_ptr<spdlog::logger> logger_;
    void* stream_ = nullptr;

    std::mutex failure_mutex_;
    PluginFailure failure_;

    std::mutex progress_mutex_;
    std::chrono::steady_clock::time_point last_progress_{};
};

}  // namespace mcomp
