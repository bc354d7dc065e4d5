// cuda_check.hpp: turns a CUDA runtime, cuBLAS or cuSOLVER error into an sdk::Error that names
// the call and the place and says what to try; the plugin boundary shows it through
// host->fail().
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::common {

inline void throw_device_error(const std::string& what, const char* call, const char* file,
                               int line) {
    throw sdk::Error(MC_ERR_DEVICE, std::string(file) + ":" + std::to_string(line) + ": " + call +
                                        " failed: " + what +
                                        "; HINT: check the GPU with nvidia-smi, or run the stage "
                                        "with device = \"cpu\"");
}

inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess) {
        throw_device_error(cudaGetErrorString(status), call, file, line);
    }
}

inline void cuda_check(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        throw_device_error(std::string("cuBLAS status ") + cublasGetStatusString(status), call,
                           file, line);
    }
}

inline void cuda_check(cusolverStatus_t status, const char* call, const char* file, int line) {
    if (status != CUSOLVER_STATUS_SUCCESS) {
        throw_device_error("cuSOLVER status " + std::to_string(static_cast<int>(status)), call,
                           file, line);
    }
}

}  // namespace mcomp::common

#define MCOMP_CUDA_CHECK(call) ::mcomp::common::cuda_check((call), #call, __FILE__, __LINE__)
