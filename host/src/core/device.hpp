// device.hpp: is there a CUDA driver and GPU here, and which backend does a stage get.
//
// Detection never links libcuda: it dlopen()s libcuda.so.1 and calls cuInit and
// cuDeviceGetCount through dlsym, so the host runs on machines without a driver and never
// loads a CUDA backend there (DESIGN §8).
#pragma once

#include <string>
#include <string_view>

#include "core/manifest.hpp"
#include "util/expected.hpp"

namespace mcomp {

enum class DeviceRequest { auto_select, cpu, cuda };

// "auto" | "cpu" | "cuda"
std::string_view device_request_name(DeviceRequest request);
Expected<DeviceRequest> parse_device_request(std::string_view text);

struct CudaProbe {
    bool host_built_with_cuda = false;  // this host can allocate and copy device memory
    bool driver_loaded = false;         // libcuda.so.1 opened and cuInit succeeded
    int device_count = 0;
    std::string detail;  // why CUDA is not usable, for messages ("no CUDA driver (...)")

    bool available() const { return host_built_with_cuda && driver_loaded && device_count > 0; }
};

// Probes once per process (cached; thread-safe).
const CudaProbe& probe_cuda();

// What a plugin offers for the choice.
struct BackendChoices {
    bool cpu = false;   // a cpu backend whose library file exists
    bool cuda = false;  // a cuda backend whose library file exists
};

// auto: CUDA when it is available and the plugin has a cuda backend, else CPU. An explicit
// request the plugin or machine cannot satisfy is an error saying which part is missing.
// `what` names the plugin in messages ("plugin 'gptq'").
Expected<DeviceKind> select_device(DeviceRequest request, const BackendChoices& choices,
                                   const CudaProbe& cuda, std::string_view what);

}  // namespace mcomp
