// cuda_check.hpp: turns a CUDA runtime error into an sdk::Error that names the call, the
// place, and what to try, so the host shows it through host->fail().
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::wanda {

inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess) {
        throw sdk::Error(MC_ERR_DEVICE, std::string(file) + ":" + std::to_string(line) + ": " +
                                            call + " failed: " + cudaGetErrorString(status) +
                                            "; HINT: check the GPU with nvidia-smi, or run the "
                                            "stage with device = \"cpu\"");
    }
}

}  // namespace mcomp::wanda

#define MCOMP_WANDA_CUDA_CHECK(call) ::mcomp::wanda::cuda_check((call), #call, __FILE__, __LINE__)
