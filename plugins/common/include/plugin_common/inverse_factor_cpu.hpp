// inverse_factor_cpu.hpp: the CPU side of inverse_factor.hpp — dead columns, permutation and
// the damped upper Cholesky factor of H^-1 with retries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mcomp/cpp/plugin.hpp"
#include "plugin_common/gemm_cpu.hpp"
#include "plugin_common/inverse_factor.hpp"

namespace mcomp::common {

// Marks the columns with diag(H) == 0 as dead and sets their diagonal to 1. Returns the flags.
std::vector<uint8_t> fix_dead_columns(std::vector<float>& h, int64_t n);

// H[perm][:, perm] into a new matrix.
std::vector<float> permute_symmetric(const std::vector<float>& h, int64_t n,
                                     const std::vector<int32_t>& perm);

// Computes U (row-major [n, n], zero below the diagonal) with U^T U = (H + damp I)^-1, per the
// reference's three steps, retrying per `policy`. `h` (the undamped H) is left unchanged.
// Each failure is logged at warn with `where` in front; when no attempt succeeds, throws
// sdk::Error(MC_ERR_NUMERICAL) saying what to change.
DampingOutcome upper_cholesky_of_inverse(CpuGemm& gemm, const sdk::Host& host,
                                         const std::vector<float>& h, int64_t n,
                                         const DampingPolicy& policy, const std::string& where,
                                         std::vector<float>& u);

// One attempt with a fixed absolute damping (the building block of the above, for tests).
FactorFailure try_upper_cholesky_of_inverse(CpuGemm& gemm, const std::vector<float>& h, int64_t n,
                                            float damp, std::vector<float>& u,
                                            std::vector<float>& scratch);

}  // namespace mcomp::common
