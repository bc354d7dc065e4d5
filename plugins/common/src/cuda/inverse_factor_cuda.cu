// inverse_factor_cuda.cu: see inverse_factor_cuda.hpp.
#include <algorithm>
#include <cstdio>

#include "plugin_common/cuda/cuda_check.hpp"
#include "plugin_common/cuda/inverse_factor_cuda.hpp"
#include "plugin_common/cuda/matrix_ops_cuda.hpp"

namespace mcomp::common {

namespace {

std::string format_percdamp(double value) {
    char text[32] = {};
    std::snprintf(text, sizeof(text), "%.6g", value);
    return text;
}

int read_int(const int* device_value, cudaStream_t stream) {
    int value = 0;
    MCOMP_CUDA_CHECK(
        cudaMemcpyAsync(&value, device_value, sizeof(int), cudaMemcpyDeviceToHost, stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
    return value;
}

// One attempt on u = h + damp I.
FactorFailure try_factor(CudaContext& context, const float* h, int64_t n, float damp, float* u,
                         float* work, int lwork, int* info) {
    const cudaStream_t stream = context.stream();
    const int dim = static_cast<int>(n);
    const cublasFillMode_t lower = CUBLAS_FILL_MODE_LOWER;
    cuda_ops::copy_add_diagonal(h, u, n, damp, stream);
    FactorFailure failure;
    MCOMP_CUDA_CHECK(cusolverDnSpotrf(context.solver(), lower, dim, u, dim, work, lwork, info));
    int status = read_int(info, stream);
    if (status != 0) {
        failure.step = FactorFailure::Step::cholesky;
        failure.column = status > 0 ? status - 1 : -1;
        return failure;
    }
    MCOMP_CUDA_CHECK(cusolverDnSpotri(context.solver(), lower, dim, u, dim, work, lwork, info));
    status = read_int(info, stream);
    if (status != 0) {
        failure.step = FactorFailure::Step::not_finite;  // a singular factor: cannot happen
        return failure;
    }
    MCOMP_CUDA_CHECK(cusolverDnSpotrf(context.solver(), lower, dim, u, dim, work, lwork, info));
    status = read_int(info, stream);
    if (status != 0) {
        failure.step = FactorFailure::Step::inverse_cholesky;
        failure.column = status > 0 ? status - 1 : -1;
        return failure;
    }
    MCOMP_CUDA_CHECK(cudaMemsetAsync(info, 0, sizeof(int), stream));
    cuda_ops::finish_upper_factor(u, n, info, stream);
    if (read_int(info, stream) != 0) {
        failure.step = FactorFailure::Step::not_finite;
    }
    return failure;
}

}  // namespace

std::vector<float> diagonal_to_host(CudaContext& context, const float* h, int64_t n,
                                    mc_device device) {
    const cudaStream_t stream = context.stream();
    sdk::DeviceBuffer diag(context.host(), device, static_cast<std::size_t>(n) * sizeof(float));
    cuda_ops::gather_diagonal(h, n, diag.as<float>(), stream);
    std::vector<float> out(static_cast<std::size_t>(n));
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(out.data(), diag.as<float>(), out.size() * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
    return out;
}

DampingOutcome upper_cholesky_of_inverse_cuda(CudaContext& context, const float* h, int64_t n,
                                              const std::vector<float>& diag,
                                              const DampingPolicy& policy, const std::string& where,
                                              float* u, mc_device device) {
    context.stream();
    const int dim = static_cast<int>(n);
    int lwork_potrf = 0;
    int lwork_potri = 0;
    MCOMP_CUDA_CHECK(cusolverDnSpotrf_bufferSize(context.solver(), CUBLAS_FILL_MODE_LOWER, dim, u,
                                                 dim, &lwork_potrf));
    MCOMP_CUDA_CHECK(cusolverDnSpotri_bufferSize(context.solver(), CUBLAS_FILL_MODE_LOWER, dim, u,
                                                 dim, &lwork_potri));
    const int lwork = std::max(std::max(lwork_potrf, lwork_potri), 1);
    sdk::DeviceBuffer work(context.host(), device, static_cast<std::size_t>(lwork) * sizeof(float));
    sdk::DeviceBuffer info(context.host(), device, sizeof(int));

    DampingOutcome outcome;
    outcome.percdamp = policy.percdamp;
    for (;;) {
        context.host().check_cancelled();
        outcome.damp = absolute_damp(diag, outcome.percdamp);
        outcome.attempts += 1;
        const FactorFailure failure =
            try_factor(context, h, n, outcome.damp, u, work.as<float>(), lwork, info.as<int>());
        if (!failure.failed()) {
            return outcome;
        }
        const double next = outcome.percdamp + policy.increment;
        if (policy.increment <= 0.0 || next >= 1.0) {
            throw sdk::Error(MC_ERR_NUMERICAL,
                             where + failure.describe() +
                                 " with damp = " + format_percdamp(outcome.percdamp) + " after " +
                                 std::to_string(outcome.attempts) +
                                 " attempt(s); HINT: raise `damp` or `damp_auto_increment`, or "
                                 "calibrate with more samples");
        }
        context.host().warn(where + failure.describe() +
                            " with damp = " + format_percdamp(outcome.percdamp) +
                            "; retrying with damp = " + format_percdamp(next));
        outcome.percdamp = next;
    }
}

}  // namespace mcomp::common
