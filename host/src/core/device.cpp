// device.cpp: see device.hpp.
#include "core/device.hpp"

#include <dlfcn.h>

#include <mutex>

#include <fmt/format.h>

namespace mcomp {

std::string_view device_request_name(DeviceRequest request) {
    switch (request) {
        case DeviceRequest::auto_select:
            return "auto";
        case DeviceRequest::cpu:
            return "cpu";
        case DeviceRequest::cuda:
            return "cuda";
    }
    return "?";
}

Expected<DeviceRequest> parse_device_request(std::string_view text) {
    if (text == "auto") {
        return DeviceRequest::auto_select;
    }
    if (text == "cpu") {
        return DeviceRequest::cpu;
    }
    if (text == "cuda") {
        return DeviceRequest::cuda;
    }
    return make_error(ErrorKind::bad_input,
                      fmt::format("expected one of auto, cpu, cuda, found \"{}\"", text));
}

namespace {

// The driver API entry points we need, by their C signatures (CUresult is an int enum).
using CuInitFn = int (*)(unsigned int);
using CuDeviceGetCountFn = int (*)(int*);

CudaProbe run_probe() {
    CudaProbe probe;
#ifdef MCOMP_HAVE_CUDA
    probe.host_built_with_cuda = true;
#endif
    // RTLD_LOCAL: the driver's symbols stay out of the global namespace; the handle is kept
    // for the life of the process (the CUDA runtime of a backend uses the same driver).
    void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (driver == nullptr) {
        const char* why = dlerror();
        probe.detail = fmt::format("no CUDA driver ({})", why ? why : "libcuda.so.1 not found");
        return probe;
    }
    const auto cu_init = reinterpret_cast<CuInitFn>(dlsym(driver, "cuInit"));
    const auto cu_count = reinterpret_cast<CuDeviceGetCountFn>(dlsym(driver, "cuDeviceGetCount"));
    if (cu_init == nullptr || cu_count == nullptr) {
        probe.detail = "the CUDA driver lacks cuInit/cuDeviceGetCount";
        return probe;
    }
    const int init_status = cu_init(0);
    if (init_status != 0) {
        probe.detail =
            fmt::format("the CUDA driver did not initialise (cuInit returned {})", init_status);
        return probe;
    }
    probe.driver_loaded = true;
    int count = 0;
    const int count_status = cu_count(&count);
    probe.device_count = count_status == 0 ? count : 0;
    if (probe.device_count == 0) {
        probe.detail = "the CUDA driver sees no GPU";
    } else if (!probe.host_built_with_cuda) {
        probe.detail = "this mcomp was built without CUDA";
    }
    return probe;
}

}  // namespace

const CudaProbe& probe_cuda() {
    static std::once_flag once;
    static CudaProbe* probe = nullptr;  // never destroyed, like the driver handle
    std::call_once(once, [] { probe = new CudaProbe(run_probe()); });
    return *probe;
}

Expected<DeviceKind> select_device(DeviceRequest request, const BackendChoices& choices,
                                   const CudaProbe& cuda, std::string_view what) {
    switch (request) {
        case DeviceRequest::cpu:
            if (!choices.cpu) {
                return make_error(ErrorKind::unsupported,
                                  fmt::format("{} has no cpu backend built; use device = \"{}\"",
                                              what, choices.cuda ? "cuda" : "auto"));
            }
            return DeviceKind::cpu;
        case DeviceRequest::cuda:
            if (!choices.cuda) {
                return make_error(ErrorKind::unsupported,
                                  fmt::format("{} has no cuda backend built; use device = "
                                              "\"cpu\" or \"auto\"",
                                              what));
            }
            if (!cuda.available()) {
                return make_error(ErrorKind::unsupported,
                                  fmt::format("{}: device \"cuda\" was asked for, but CUDA is "
                                              "not usable here: {}; use device = \"cpu\" or "
                                              "\"auto\"",
                                              what, cuda.detail));
            }
            return DeviceKind::cuda;
        case DeviceRequest::auto_select:
            if (choices.cuda && cuda.available()) {
                return DeviceKind::cuda;
            }
            if (choices.cpu) {
                return DeviceKind::cpu;
            }
            return make_error(ErrorKind::unsupported,
                              choices.cuda ? fmt::format("{} has only a cuda backend, and CUDA is "
                                                         "not usable here: {}",
                                                         what, cuda.detail)
                                           : fmt::format("{} has no backend built", what));
    }
    return make_error(ErrorKind::internal, "unknown device request");
}

}  // namespace mcomp
