// inverse_factor_cuda.hpp: the GPU side of inverse_factor.hpp. The factorizations are
// cuSOLVER's: potrf (H = L L^T), potri (H^-1 from L, i.e. torch.cholesky_inverse) and potrf
// again; on the row-major buffer, cuSOLVER's column-major lower triangle is the row-major upper
// one, so the last factor lands as U = L^T with U^T U = H^-1, as cholesky(upper=True) gives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugin_common/cuda/cuda_context.hpp"
#include "plugin_common/inverse_factor.hpp"

namespace mcomp::common {

// The n floats of diag(h) copied to the host (synchronizes the stream).
std::vector<float> diagonal_to_host(CudaContext& context, const float* h, int64_t n,
                                    mc_device device);

// U (device, [n, n], zero below the diagonal) with U^T U = (h + damp I)^-1; `h` (device,
// symmetric, undamped) is unchanged. `diag` is diag(h) on the host (for the mean). Retries
// and messages as upper_cholesky_of_inverse() in inverse_factor_cpu.hpp.
DampingOutcome upper_cholesky_of_inverse_cuda(CudaContext& context, const float* h, int64_t n,
                                              const std::vector<float>& diag,
                                              const DampingPolicy& policy, const std::string& where,
                                              float* u, mc_device device);

}  // namespace mcomp::common
