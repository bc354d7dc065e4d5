// cuda_check.hpp: CUDA and cuBLAS failures as exceptions that say which call failed, where,
// and what to try. The Backend interface returns nothing from its kernels, and a device
// that faulted cannot go on, so the CUDA backend throws mcomp::CudaError; callers that must
// survive a device failure (the engine falling back to the CPU) catch it.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace mcomp {

class CudaError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

namespace cuda_detail {

[[noreturn]] inline void throw_cuda_error(const std::string& what, const char* call,
                                          const char* file, int line) {
    throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + call +
                    " failed: " + what +
                    "; HINT: check the GPU with nvidia-smi (memory in use, Xid errors), or run "
                    "on the CPU backend");
}

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess) {
        throw_cuda_error(
            std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")", call,
            file, line);
    }
}

// A kernel launch reports bad configurations at once and faults at the next sync.
inline void check_launch(const char* kernel, const char* file, int line) {
    check_cuda(cudaGetLastError(), kernel, file, line);
}

// Arguments the kernels cannot run with: a bug in the caller, reported in release builds
// too, because reading a tensor with the wrong dtype or shape on the device corrupts memory.
[[noreturn]] inline void throw_invalid(const std::string& message, const char* file, int line) {
    throw std::invalid_argument(std::string(file) + ":" + std::to_string(line) + ": " + message);
}

}  // namespace cuda_detail
}  // namespace mcomp

#define MCOMP_CUDA_CHECK(call) ::mcomp::cuda_detail::check_cuda((call), #call, __FILE__, __LINE__)
#define MCOMP_CUDA_CHECK_LAUNCH(kernel) \
    ::mcomp::cuda_detail::check_launch(kernel, __FILE__, __LINE__)
// The message is built only when the condition fails: these checks run on every kernel call.
#define MCOMP_CUDA_REQUIRE(condition, message)                                  \
    do {                                                                        \
        if (!(condition)) {                                                     \
            ::mcomp::cuda_detail::throw_invalid((message), __FILE__, __LINE__); \
        }                                                                       \
    } while (false)
