// plugin.hpp: header-only C++ helpers for plugin authors. Nothing here crosses the ABI.
//
// What it gives:
//   - Host: a thin wrapper over mc_host (log, progress, cancellation, failure, memory).
//   - Params: typed access to the validated parameters a technique is created with.
//   - Matrix<T>: a checked 2-D view over an mc_tensor_view.
//   - Error and guard(): throw anywhere inside a call; the boundary turns every exception into
//     an mc_status plus host->fail() message, so no exception ever leaves the plugin.
//   - LayerTechnique<Impl>: builds the C function table of a layer-granularity technique from
//     a C++ class, and MCOMP_PLUGIN_ENTRY(...) defines the exported entry.
//
// A technique class for LayerTechnique<Impl> provides:
//   Impl(const mcomp::sdk::Host& host, const mcomp::sdk::Params& params);
//   void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight);
//   void observe(const mc_tensor_view& src);
//   void plan_result(mc_layer_result_plan& plan);
//   void finish_layer(mc_layer_result& dst);
#pragma once

#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "mcomp/mcomp.h"

namespace mcomp::sdk {

// ---- errors ---------------------------------------------------------------------------------

// Thrown inside a plugin to fail the current call with a specific status.
class Error : public std::runtime_error {
  public:
    Error(mc_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
    mc_status code() const { return code_; }

  private:
    mc_status code_;
};

inline void require(bool condition, mc_status code, const std::string& message) {
    if (!condition) {
        throw Error(code, message);
    }
}

// ---- host services ----------------------------------------------------------------------------

class Host {
  public:
    explicit Host(const mc_host* host = nullptr) : host_(host) {}

    const mc_host* raw() const { return host_; }

    void log(mc_log_level level, const std::string& message) const {
        if (host_ != nullptr && host_->log != nullptr) {
            host_->log(host_, level, message.c_str());
        }
    }
    void info(const std::string& message) const { log(MC_LOG_INFO, message); }
    void warn(const std::string& message) const { log(MC_LOG_WARN, message); }
    void debug(const std::string& message) const { log(MC_LOG_DEBUG, message); }

    void progress(int64_t done, int64_t total, const char* what) const {
        if (host_ != nullptr && host_->progress != nullptr) {
            host_->progress(host_, done, total, what);
        }
    }

    bool cancelled() const {
        return host_ != nullptr && host_->is_cancelled != nullptr &&
               host_->is_cancelled(host_) != 0;
    }

    // Throws Error(MC_ERR_CANCELLED) when the user asked to stop.
    void check_cancelled() const {
        if (cancelled()) {
            throw Error(MC_ERR_CANCELLED, "cancelled by the user");
        }
    }

    mc_status fail(mc_status code, const std::string& message) const {
        if (host_ != nullptr && host_->fail != nullptr) {
            return host_->fail(host_, code, message.c_str());
        }
        return code;
    }

    void* cuda_stream() const {
        return host_ != nullptr && host_->cuda_stream != nullptr ? host_->cuda_stream(host_)
                                                                 : nullptr;
    }

    const void* extension(const char* name) const {
        return host_ != nullptr && host_->get_extension != nullptr
                   ? host_->get_extension(host_, name)
                   : nullptr;
    }

  private:
    const mc_host* host_;
};

// Memory from the host's allocator, freed on destruction.
class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    DeviceBuffer(const Host& host, mc_device device, std::size_t num_bytes)
        : host_(host.raw()), device_(device), num_bytes_(num_bytes) {
        if (num_bytes_ > 0) {
            data_ = host_->alloc(host_, device_, num_bytes_);
            if (data_ == nullptr) {
                throw Error(MC_ERR_OUT_OF_MEMORY,
                            "out of memory allocating " + std::to_string(num_bytes_) + " bytes");
            }
        }
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
        DeviceBuffer tmp(std::move(other));
        swap(tmp);
        return *this;
    }
    ~DeviceBuffer() {
        if (data_ != nullptr) {
            host_->free_memory(host_, device_, data_);
        }
    }

    template <class T>
    T* as() const {
        return static_cast<T*>(data_);
    }
    std::size_t num_bytes() const { return num_bytes_; }

  private:
    void swap(DeviceBuffer& other) noexcept {
        std::swap(host_, other.host_);
        std::swap(device_, other.device_);
        std::swap(data_, other.data_);
        std::swap(num_bytes_, other.num_bytes_);
    }

    const mc_host* host_ = nullptr;
    mc_device device_ = {MC_DEVICE_CPU, 0};
    void* data_ = nullptr;
    std::size_t num_bytes_ = 0;
};

// ---- parameters -------------------------------------------------------------------------------

class Params {
  public:
    explicit Params(const mc_params* params) : params_(params) {}

    int64_t get_int(const char* name, int64_t fallback) const {
        const mc_param* p = mc_params_find(params_, name);
        if (p == nullptr) {
            return fallback;
        }
        expect(p, MC_PARAM_INT, "an int");
        return p->int_value;
    }
    double get_float(const char* name, double fallback) const {
        const mc_param* p = mc_params_find(params_, name);
        if (p == nullptr) {
            return fallback;
        }
        if (p->type == MC_PARAM_INT) {
            return static_cast<double>(p->int_value);
        }
        expect(p, MC_PARAM_FLOAT, "a float");
        return p->float_value;
    }
    bool get_bool(const char* name, bool fallback) const {
        const mc_param* p = mc_params_find(params_, name);
        if (p == nullptr) {
            return fallback;
        }
        expect(p, MC_PARAM_BOOL, "a bool");
        return p->int_value != 0;
    }
    std::string get_string(const char* name, const std::string& fallback) const {
        const mc_param* p = mc_params_find(params_, name);
        if (p == nullptr) {
            return fallback;
        }
        expect(p, MC_PARAM_STRING, "a string");
        return p->string_value != nullptr ? p->string_value : "";
    }

  private:
    static void expect(const mc_param* p, mc_param_type type, const char* what) {
        if (p->type != type) {
            throw Error(MC_ERR_INVALID_ARGUMENT,
                        std::string("parameter '") + p->name + "' should be " + what);
        }
    }

    const mc_params* params_;
};

// ---- tensors ----------------------------------------------------------------------------------

template <class T>
constexpr mc_dtype dtype_of();
template <>
constexpr mc_dtype dtype_of<float>() {
    return MC_DTYPE_F32;
}
template <>
constexpr mc_dtype dtype_of<int32_t>() {
    return MC_DTYPE_I32;
}
template <>
constexpr mc_dtype dtype_of<uint8_t>() {
    return MC_DTYPE_U8;
}
template <>
constexpr mc_dtype dtype_of<int8_t>() {
    return MC_DTYPE_I8;
}

// A row-major 2-D (or 1-D, as one row) view with its dtype and contiguity checked.
// Matrix<const float> reads a borrowed input; a default-constructed Matrix is empty.
template <class T>
class Matrix {
  public:
    Matrix() = default;
    Matrix(const mc_tensor_view& view, const char* what) {
        require(view.data != nullptr, MC_ERR_INVALID_ARGUMENT, std::string(what) + " is missing");
        require(view.dtype == dtype_of<std::remove_const_t<T>>(), MC_ERR_INVALID_ARGUMENT,
                std::string(what) + " has the wrong dtype");
        require(view.ndim == 1 || view.ndim == 2, MC_ERR_INVALID_ARGUMENT,
                std::string(what) + " should be 1-D or 2-D");
        require(mc_tensor_is_contiguous(&view) != 0, MC_ERR_INVALID_ARGUMENT,
                std::string(what) + " should be contiguous");
        rows_ = view.ndim == 2 ? view.shape[0] : 1;
        cols_ = view.ndim == 2 ? view.shape[1] : view.shape[0];
        data_ = static_cast<T*>(view.data);
    }

    int64_t rows() const { return rows_; }
    int64_t cols() const { return cols_; }
    int64_t size() const { return rows_ * cols_; }
    T* data() const { return data_; }
    T* row(int64_t r) const { return data_ + r * cols_; }
    T& at(int64_t r, int64_t c) const { return data_[r * cols_ + c]; }

  private:
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    T* data_ = nullptr;
};

// ---- the exception boundary ---------------------------------------------------------------

// Runs `fn` and turns every exception into a status with a host->fail() message.
template <class Fn>
mc_status guard(const mc_host* host, const char* where, Fn&& fn) noexcept {
    const Host h(host);
    try {
        fn();
        return MC_OK;
    } catch (const Error& e) {
        return h.fail(e.code(), e.what());
    } catch (const std::bad_alloc&) {
        return h.fail(MC_ERR_OUT_OF_MEMORY, std::string(where) + ": out of memory");
    } catch (const std::exception& e) {
        return h.fail(MC_ERR_INTERNAL, std::string(where) + ": " + e.what());
    } catch (...) {
        return h.fail(MC_ERR_INTERNAL, std::string(where) + ": unknown exception");
    }
}

// ---- layer-granularity techniques ---------------------------------------------------------

template <class Impl>
class LayerTechnique {
  public:
    static constexpr mc_layer_technique make_table(uint32_t flags) {
        return mc_layer_technique{sizeof(mc_layer_technique),
                                  flags,
                                  &create,
                                  &destroy,
                                  &begin_layer,
                                  &observe,
                                  &plan_result,
                                  &finish_layer};
    }

  private:
    struct Instance {
        Host host;
        Impl impl;
    };
    static Instance* self(mc_instance* p) { return reinterpret_cast<Instance*>(p); }

    static mc_status create(const mc_host* host, const mc_params* params, mc_instance** out) {
        return guard(host, "create", [&] {
            require(out != nullptr, MC_ERR_INVALID_ARGUMENT, "create: out is NULL");
            auto* instance = new Instance{Host(host), Impl(Host(host), Params(params))};
            *out = reinterpret_cast<mc_instance*>(instance);
        });
    }
    static void destroy(mc_instance* p) { delete self(p); }
    static mc_status begin_layer(mc_instance* p, const mc_layer_info* info,
                                 const mc_tensor_view* weight) {
        return guard(self(p)->host.raw(), "begin_layer",
                     [&] { self(p)->impl.begin_layer(*info, *weight); });
    }
    static mc_status observe(mc_instance* p, const mc_tensor_view* src) {
        return guard(self(p)->host.raw(), "observe", [&] { self(p)->impl.observe(*src); });
    }
    static mc_status plan_result(mc_instance* p, mc_layer_result_plan* plan) {
        return guard(self(p)->host.raw(), "plan_result", [&] { self(p)->impl.plan_result(*plan); });
    }
    static mc_status finish_layer(mc_instance* p, mc_layer_result* dst) {
        return guard(self(p)->host.raw(), "finish_layer",
                     [&] { self(p)->impl.finish_layer(*dst); });
    }
};

// A descriptor for a layer-granularity technique; `table` must have static storage.
constexpr mc_technique_descriptor describe_layer_technique(const char* id, const char* description,
                                                           mc_technique_kind kind,
                                                           const mc_layer_technique* table) {
    return mc_technique_descriptor{sizeof(mc_technique_descriptor),
                                   id,
                                   description,
                                   kind,
                                   MC_GRANULARITY_LAYER,
                                   table,
                                   nullptr,
                                   nullptr};
}

// The plugin-wide host, set by init(); valid until deinit().
inline const mc_host*& plugin_host() {
    static const mc_host* host = nullptr;
    return host;
}

}  // namespace mcomp::sdk

// Defines the exported entry for a plugin whose techniques are the static array `techniques`.
#define MCOMP_PLUGIN_ENTRY(plugin_id, plugin_version, device_type, min_abi, techniques)         \
    namespace {                                                                                 \
    mc_status mcomp_plugin_init(const mc_host* host) {                                          \
        mcomp::sdk::plugin_host() = host;                                                       \
        return MC_OK;                                                                           \
    }                                                                                           \
    void mcomp_plugin_deinit() {                                                                \
        mcomp::sdk::plugin_host() = nullptr;                                                    \
    }                                                                                           \
    uint32_t mcomp_plugin_technique_count() {                                                   \
        return static_cast<uint32_t>(sizeof(techniques) / sizeof(techniques[0]));               \
    }                                                                                           \
    const mc_technique_descriptor* mcomp_plugin_get_technique(uint32_t index) {                 \
        return index < mcomp_plugin_technique_count() ? &techniques[index] : nullptr;           \
    }                                                                                           \
    }                                                                                           \
    MC_PLUGIN_EXPORT const mc_plugin_entry mc_plugin_entry_v1 = {sizeof(mc_plugin_entry),       \
                                                                 (min_abi),                     \
                                                                 (plugin_id),                   \
                                                                 (plugin_version),              \
                                                                 (device_type),                 \
                                                                 &mcomp_plugin_init,            \
                                                                 &mcomp_plugin_deinit,          \
                                                                 &mcomp_plugin_technique_count, \
                                                                 &mcomp_plugin_get_technique,   \
                                                                 nullptr};
