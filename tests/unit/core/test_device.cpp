// test_device.cpp: device selection (auto | cpu | cuda) against what a plugin offers and what
// the machine has, and the CUDA probe on this machine.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <optional>
#include <string>

#include "core/device.hpp"

namespace mcomp {
namespace {

const CudaProbe kCudaOk = {true, true, 2, ""};
const CudaProbe kNoDriver = {true, false, 0, "no CUDA driver (libcuda.so.1: not found)"};
const CudaProbe kNoGpu = {true, true, 0, "the CUDA driver sees no GPU"};
const CudaProbe kHostWithoutCuda = {false, true, 1, "this mcomp was built without CUDA"};

const BackendChoices kBoth = {true, true};
const BackendChoices kCpuOnly = {true, false};
const BackendChoices kCudaOnly = {false, true};
const BackendChoices kNone = {false, false};

struct Case {
    const char* name;
    DeviceRequest request;
    BackendChoices choices;
    CudaProbe cuda;
    std::optional<DeviceKind> device;  // expected choice, or
    std::string message;               // the expected error
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << c.name;
}

class SelectDevice : public ::testing::TestWithParam<Case> {};

TEST_P(SelectDevice, Chooses) {
    const Case& c = GetParam();
    Expected<DeviceKind> device = select_device(c.request, c.choices, c.cuda, "plugin 'p'");
    if (c.device) {
        ASSERT_TRUE(device) << device.error().message;
        EXPECT_EQ(*device, *c.device);
    } else {
        ASSERT_FALSE(device);
        EXPECT_EQ(device.error().kind, ErrorKind::unsupported);
        EXPECT_EQ(device.error().message, c.message);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectDevice,
    ::testing::Values(
        Case{"auto_prefers_cuda", DeviceRequest::auto_select, kBoth, kCudaOk, DeviceKind::cuda, ""},
        Case{"auto_no_driver", DeviceRequest::auto_select, kBoth, kNoDriver, DeviceKind::cpu, ""},
        Case{"auto_no_gpu", DeviceRequest::auto_select, kBoth, kNoGpu, DeviceKind::cpu, ""},
        Case{"auto_host_without_cuda", DeviceRequest::auto_select, kBoth, kHostWithoutCuda,
             DeviceKind::cpu, ""},
        Case{"auto_cpu_only", DeviceRequest::auto_select, kCpuOnly, kCudaOk, DeviceKind::cpu, ""},
        Case{"auto_cuda_only", DeviceRequest::auto_select, kCudaOnly, kCudaOk, DeviceKind::cuda,
             ""},
        Case{"auto_cuda_only_no_driver", DeviceRequest::auto_select, kCudaOnly, kNoDriver,
             std::nullopt,
             "plugin 'p' has only a cuda backend, and CUDA is not usable here: no CUDA driver "
             "(libcuda.so.1: not found)"},
        Case{"auto_nothing_built", DeviceRequest::auto_select, kNone, kCudaOk, std::nullopt,
             "plugin 'p' has no backend built"},
        Case{"cpu", DeviceRequest::cpu, kBoth, kCudaOk, DeviceKind::cpu, ""},
        Case{"cpu_not_built", DeviceRequest::cpu, kCudaOnly, kCudaOk, std::nullopt,
             "plugin 'p' has no cpu backend built; use device = \"cuda\""},
        Case{"cpu_nothing_built", DeviceRequest::cpu, kNone, kCudaOk, std::nullopt,
             "plugin 'p' has no cpu backend built; use device = \"auto\""},
        Case{"cuda", DeviceRequest::cuda, kBoth, kCudaOk, DeviceKind::cuda, ""},
        Case{"cuda_no_driver", DeviceRequest::cuda, kBoth, kNoDriver, std::nullopt,
             "plugin 'p': device \"cuda\" was asked for, but CUDA is not usable here: no CUDA "
             "driver (libcuda.so.1: not found); use device = \"cpu\" or \"auto\""},
        Case{"cuda_no_gpu", DeviceRequest::cuda, kBoth, kNoGpu, std::nullopt,
             "plugin 'p': device \"cuda\" was asked for, but CUDA is not usable here: the CUDA "
             "driver sees no GPU; use device = \"cpu\" or \"auto\""},
        Case{"cuda_host_without_cuda", DeviceRequest::cuda, kBoth, kHostWithoutCuda, std::nullopt,
             "plugin 'p': device \"cuda\" was asked for, but CUDA is not usable here: this mcomp "
             "was built without CUDA; use device = \"cpu\" or \"auto\""},
        Case{"cuda_not_built", DeviceRequest::cuda, kCpuOnly, kCudaOk, std::nullopt,
             "plugin 'p' has no cuda backend built; use device = \"cpu\" or \"auto\""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DeviceRequest, ParsesNames) {
    EXPECT_EQ(*parse_device_request("auto"), DeviceRequest::auto_select);
    EXPECT_EQ(*parse_device_request("cpu"), DeviceRequest::cpu);
    EXPECT_EQ(*parse_device_request("cuda"), DeviceRequest::cuda);
    Expected<DeviceRequest> bad = parse_device_request("gpu");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "expected one of auto, cpu, cuda, found \"gpu\"");
    for (const DeviceRequest request :
         {DeviceRequest::auto_select, DeviceRequest::cpu, DeviceRequest::cuda}) {
        EXPECT_EQ(*parse_device_request(device_request_name(request)), request);
    }
}

// The probe agrees with the machine: without libcuda.so.1 (CI, this container) CUDA is not
// available and says why; with a driver it reports the devices it sees.
TEST(CudaProbe, MatchesThisMachine) {
    const CudaProbe& probe = probe_cuda();
    EXPECT_EQ(&probe, &probe_cuda());  // probed once
    void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (driver == nullptr) {
        EXPECT_FALSE(probe.driver_loaded);
        EXPECT_FALSE(probe.available());
        EXPECT_EQ(probe.detail.rfind("no CUDA driver (", 0), 0u) << probe.detail;
        return;
    }
    EXPECT_TRUE(probe.driver_loaded || !probe.detail.empty());
    if (probe.available()) {
        EXPECT_GT(probe.device_count, 0);
    } else {
        EXPECT_FALSE(probe.detail.empty());
    }
}

}  // namespace
}  // namespace mcomp
