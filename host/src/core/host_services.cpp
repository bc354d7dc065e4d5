// host_services.cpp: see host_services.hpp.
#include "core/host_services.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mcomp/extension.h"

#ifdef MCOMP_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mcomp {

// ---- cancellation ---------------------------------------------------------------------------

namespace {

// Written from the signal handler: a lock-free atomic is async-signal-safe.
std::atomic<bool> g_cancel_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_sigint(int) {
    g_cancel_requested.store(true);
}

}  // namespace

void install_sigint_handler() {
    struct sigaction action = {};
    action.sa_handler = &on_sigint;
    sigemptyset(&action.sa_mask);
    // SA_RESETHAND: the handler runs once, then SIGINT has its default action again, so a
    // second Ctrl-C ends a run that does not stop quickly enough.
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, nullptr);
}

bool cancel_requested() {
    return g_cancel_requested.load();
}
void request_cancel() {
    g_cancel_requested.store(true);
}
void reset_cancel() {
    g_cancel_requested.store(false);
}

// ---- logging --------------------------------------------------------------------------------

std::shared_ptr<spdlog::logger> plugin_logger(std::string_view plugin_id) {
    static std::mutex mutex;
    const std::lock_guard<std::mutex> lock(mutex);
    const std::string name = "plugin." + std::string(plugin_id);
    if (std::shared_ptr<spdlog::logger> existing = spdlog::get(name)) {
        return existing;
    }
    // Same sinks and level as the default logger, so the CLI's verbosity applies.
    const std::shared_ptr<spdlog::logger> base = spdlog::default_logger();
    auto logger =
        std::make_shared<spdlog::logger>(name, base->sinks().begin(), base->sinks().end());
    logger->set_level(base->level());
    spdlog::register_logger(logger);
    return logger;
}

// ---- status names ---------------------------------------------------------------------------

std::string_view status_name(mc_status status) {
    switch (status) {
        case MC_OK:
            return "MC_OK";
        case MC_ERR_INVALID_ARGUMENT:
            return "MC_ERR_INVALID_ARGUMENT";
        case MC_ERR_UNSUPPORTED:
            return "MC_ERR_UNSUPPORTED";
        case MC_ERR_OUT_OF_MEMORY:
            return "MC_ERR_OUT_OF_MEMORY";
        case MC_ERR_NUMERICAL:
            return "MC_ERR_NUMERICAL";
        case MC_ERR_DEVICE:
            return "MC_ERR_DEVICE";
        case MC_ERR_CANCELLED:
            return "MC_ERR_CANCELLED";
        case MC_ERR_INTERNAL:
            return "MC_ERR_INTERNAL";
        case MC_ERR_ABI:
            return "MC_ERR_ABI";
        default:
            return "an unknown status";
    }
}

ErrorKind status_error_kind(mc_status status) {
    switch (status) {
        case MC_ERR_INVALID_ARGUMENT:
            return ErrorKind::bad_input;
        case MC_ERR_UNSUPPORTED:
            return ErrorKind::unsupported;
        case MC_ERR_CANCELLED:
            return ErrorKind::cancelled;
        default:
            return ErrorKind::internal;
    }
}

// ---- HostServices ---------------------------------------------------------------------------

namespace {

constexpr size_t kAlignmentBytes = 256;

spdlog::level::level_enum to_spdlog(mc_log_level level) {
    switch (level) {
        case MC_LOG_TRACE:
            return spdlog::level::trace;
        case MC_LOG_DEBUG:
            return spdlog::level::debug;
        case MC_LOG_WARN:
            return spdlog::level::warn;
        case MC_LOG_ERROR:
            return spdlog::level::err;
        default:
            return spdlog::level::info;
    }
}

const mc_ext_host_info* host_info() {
    static const mc_ext_host_info info = {
        sizeof(mc_ext_host_info), MCOMP_VERSION_STRING,
        static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()))};
    return &info;
}

bool stderr_is_tty() {
    static const bool tty = isatty(STDERR_FILENO) != 0;
    return tty;
}

}  // namespace

HostServices::HostServices(std::string plugin_id, std::string scope, mc_device device)
    : plugin_id_(std::move(plugin_id)), scope_(std::move(scope)), device_(device) {
    host_.struct_size = sizeof(mc_host);
    host_.abi_version = MC_ABI_VERSION;
    host_.host_data = this;
    host_.log = &log_cb;
    host_.progress = &progress_cb;
    host_.is_cancelled = &is_cancelled_cb;
    host_.fail = &fail_cb;
    host_.alloc = &alloc_cb;
    host_.free_memory = &free_cb;
    host_.cuda_stream = &cuda_stream_cb;
    host_.get_extension = &get_extension_cb;
    logger_ = plugin_logger(plugin_id_);
}

HostServices::~HostServices() {
#ifdef MCOMP_HAVE_CUDA
    if (stream_ != nullptr) {
        cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
        cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
    }
#endif
}

Status HostServices::prepare_device() {
    if (device_.type != MC_DEVICE_CUDA || stream_ != nullptr) {
        return {};
    }
#ifdef MCOMP_HAVE_CUDA
    cudaError_t status = cudaSetDevice(device_.index);
    cudaStream_t stream = nullptr;
    if (status == cudaSuccess) {
        status = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    }
    if (status != cudaSuccess) {
        return make_error(ErrorKind::internal,
                          fmt::format("plugin '{}': cannot create a CUDA stream on device {}: {}",
                                      plugin_id_, device_.index, cudaGetErrorString(status)));
    }
    stream_ = stream;
    return {};
#else
    return make_error(ErrorKind::unsupported,
                      fmt::format("plugin '{}': this mcomp was built without CUDA", plugin_id_));
#endif
}

Status HostServices::synchronize() {
#ifdef MCOMP_HAVE_CUDA
    if (stream_ != nullptr) {
        const cudaError_t status = cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
        if (status != cudaSuccess) {
            return make_error(ErrorKind::internal,
                              fmt::format("plugin '{}': the CUDA stream reported an error: {}",
                                          plugin_id_, cudaGetErrorString(status)));
        }
    }
#endif
    return {};
}

void HostServices::clear_failure() {
    const std::lock_guard<std::mutex> lock(failure_mutex_);
    failure_ = PluginFailure{};
}

PluginFailure HostServices::take_failure() {
    const std::lock_guard<std::mutex> lock(failure_mutex_);
    PluginFailure out = std::move(failure_);
    failure_ = PluginFailure{};
    return out;
}

void* HostServices::allocate(mc_device device, size_t num_bytes) {
    const size_t rounded =
        (std::max<size_t>(num_bytes, 1) + kAlignmentBytes - 1) / kAlignmentBytes * kAlignmentBytes;
    if (device.type == MC_DEVICE_CPU) {
        return std::aligned_alloc(kAlignmentBytes, rounded);
    }
#ifdef MCOMP_HAVE_CUDA
    if (device.type == MC_DEVICE_CUDA) {
        void* ptr = nullptr;
        const cudaError_t status =
            cudaMallocAsync(&ptr, rounded, static_cast<cudaStream_t>(stream_));
        return status == cudaSuccess ? ptr : nullptr;
    }
#endif
    return nullptr;
}

void HostServices::release(mc_device device, void* ptr) {
    if (ptr == nullptr) {
        return;
    }
    if (device.type == MC_DEVICE_CPU) {
        std::free(ptr);
        return;
    }
#ifdef MCOMP_HAVE_CUDA
    if (device.type == MC_DEVICE_CUDA) {
        cudaFreeAsync(ptr, static_cast<cudaStream_t>(stream_));
    }
#endif
}

#ifndef MCOMP_HAVE_CUDA
namespace {

Error no_cuda_error(const std::string& plugin_id) {
    return make_error(ErrorKind::unsupported,
                      fmt::format("plugin '{}': device memory asked for, but this mcomp was "
                                  "built without CUDA",
                                  plugin_id));
}

}  // namespace
#endif

Status HostServices::copy_from_host(mc_device dst_device, void* dst, const void* src,
                                    size_t num_bytes) {
    if (num_bytes == 0) {
        return {};
    }
    if (dst_device.type == MC_DEVICE_CPU) {
        std::memcpy(dst, src, num_bytes);
        return {};
    }
#ifdef MCOMP_HAVE_CUDA
    const cudaError_t status = cudaMemcpyAsync(dst, src, num_bytes, cudaMemcpyHostToDevice,
                                               static_cast<cudaStream_t>(stream_));
    if (status != cudaSuccess) {
        return make_error(ErrorKind::internal, fmt::format("cudaMemcpyAsync to the device: {}",
                                                           cudaGetErrorString(status)));
    }
    return {};
#else
    return no_cuda_error(plugin_id_);
#endif
}

Status HostServices::copy_to_host(void* dst, mc_device src_device, const void* src,
                                  size_t num_bytes) {
    if (num_bytes == 0) {
        return {};
    }
    if (src_device.type == MC_DEVICE_CPU) {
        std::memcpy(dst, src, num_bytes);
        return {};
    }
#ifdef MCOMP_HAVE_CUDA
    const cudaError_t status = cudaMemcpyAsync(dst, src, num_bytes, cudaMemcpyDeviceToHost,
                                               static_cast<cudaStream_t>(stream_));
    if (status != cudaSuccess) {
        return make_error(ErrorKind::internal, fmt::format("cudaMemcpyAsync to the host: {}",
                                                           cudaGetErrorString(status)));
    }
    return {};
#else
    return no_cuda_error(plugin_id_);
#endif
}

Status HostServices::zero_fill(mc_device device, void* dst, size_t num_bytes) {
    if (num_bytes == 0) {
        return {};
    }
    if (device.type == MC_DEVICE_CPU) {
        std::memset(dst, 0, num_bytes);
        return {};
    }
#ifdef MCOMP_HAVE_CUDA
    const cudaError_t status =
        cudaMemsetAsync(dst, 0, num_bytes, static_cast<cudaStream_t>(stream_));
    if (status != cudaSuccess) {
        return make_error(ErrorKind::internal,
                          fmt::format("cudaMemsetAsync: {}", cudaGetErrorString(status)));
    }
    return {};
#else
    return no_cuda_error(plugin_id_);
#endif
}

void HostServices::report_progress(int64_t done, int64_t total, const char* what) {
    const auto now = std::chrono::steady_clock::now();
    const bool finished = total > 0 && done >= total;
    const std::string label = "plugin." + plugin_id_ + (scope_.empty() ? "" : " " + scope_);
    const std::string unit = what != nullptr ? what : "";
    const int percent = total > 0 ? static_cast<int>(100 * std::min(done, total) / total) : 0;
    const std::lock_guard<std::mutex> lock(progress_mutex_);
    if (stderr_is_tty()) {
        // A bar redrawn in place at most ten times a second, closed when the work is done.
        if (!finished && now - last_progress_ < std::chrono::milliseconds(100)) {
            return;
        }
        constexpr int kWidth = 30;
        const int filled = kWidth * percent / 100;
        std::fprintf(stderr, "\r\x1b[K%s %s [%s%s] %3d%% %lld/%lld", label.c_str(), unit.c_str(),
                     std::string(static_cast<size_t>(filled), '#').c_str(),
                     std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), percent,
                     static_cast<long long>(done), static_cast<long long>(total));
        if (finished) {
            std::fputc('\n', stderr);
        }
        std::fflush(stderr);
    } else {
        // Plain lines for logs and CI: at most one every two seconds.
        if (now - last_progress_ < std::chrono::seconds(2)) {
            return;
        }
        logger_->info("{}: {}/{} {} ({}%)", scope_.empty() ? "progress" : scope_, done, total, unit,
                      percent);
    }
    last_progress_ = now;
}

// ---- the C callbacks ------------------------------------------------------------------------

HostServices* HostServices::self(const mc_host* host) {
    return static_cast<HostServices*>(host->host_data);
}

void HostServices::log_cb(const mc_host* host, mc_log_level level, const char* message) {
    if (host == nullptr || message == nullptr) {
        return;
    }
    self(host)->logger_->log(to_spdlog(level), "{}", message);
}

void HostServices::progress_cb(const mc_host* host, int64_t done, int64_t total, const char* what) {
    if (host != nullptr) {
        self(host)->report_progress(done, total, what);
    }
}

int32_t HostServices::is_cancelled_cb(const mc_host* /*host*/) {
    return cancel_requested() ? 1 : 0;
}

mc_status HostServices::fail_cb(const mc_host* host, mc_status code, const char* message) {
    if (host == nullptr) {
        return code;
    }
    HostServices* services = self(host);
    const std::lock_guard<std::mutex> lock(services->failure_mutex_);
    services->failure_.code = code;
    services->failure_.message = message != nullptr ? message : "";
    return code;
}

void* HostServices::alloc_cb(const mc_host* host, mc_device device, size_t num_bytes) {
    return host != nullptr ? self(host)->allocate(device, num_bytes) : nullptr;
}

void HostServices::free_cb(const mc_host* host, mc_device device, void* ptr) {
    if (host != nullptr) {
        self(host)->release(device, ptr);
    }
}

void* HostServices::cuda_stream_cb(const mc_host* host) {
    return host != nullptr ? self(host)->stream_ : nullptr;
}

const void* HostServices::get_extension_cb(const mc_host* /*host*/, const char* name) {
    if (name != nullptr && std::strcmp(name, MC_EXT_HOST_INFO) == 0) {
        return host_info();
    }
    return nullptr;
}

}  // namespace mcomp
