// inverse_factor_cpu.cpp: see inverse_factor_cpu.hpp.
#include "plugin_common/inverse_factor_cpu.hpp"

#include <cmath>
#include <cstdio>

#include "plugin_common/linalg_cpu.hpp"
#include "plugin_common/parallel.hpp"

namespace mcomp::common {

namespace {

std::vector<float> diagonal(const std::vector<float>& h, int64_t n) {
    std::vector<float> d(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        d[i] = h[i * n + i];
    }
    return d;
}

bool all_finite_upper(const std::vector<float>& u, int64_t n) {
    bool finite = true;
#pragma omp parallel for schedule(static) reduction(&& : finite) if (parallel_worth(n * n))
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = i; j < n; ++j) {
            finite = finite && std::isfinite(u[i * n + j]);
        }
    }
    return finite;
}

std::string format_percdamp(double value) {
    char text[32] = {};
    std::snprintf(text, sizeof(text), "%.6g", value);
    return text;
}

}  // namespace

std::vector<uint8_t> fix_dead_columns(std::vector<float>& h, int64_t n) {
    std::vector<uint8_t> dead(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (h[i * n + i] == 0.0f) {
            dead[i] = 1;
            h[i * n + i] = 1.0f;
        }
    }
    return dead;
}

std::vector<float> permute_symmetric(const std::vector<float>& h, int64_t n,
                                     const std::vector<int32_t>& perm) {
    std::vector<float> out(h.size());
#pragma omp parallel for schedule(static) if (parallel_worth(n * n))
    for (int64_t i = 0; i < n; ++i) {
        const float* src = h.data() + static_cast<int64_t>(perm[i]) * n;
        for (int64_t j = 0; j < n; ++j) {
            out[i * n + j] = src[perm[j]];
        }
    }
    return out;
}

FactorFailure try_upper_cholesky_of_inverse(CpuGemm& gemm, const std::vector<float>& h, int64_t n,
                                            float damp, std::vector<float>& u,
                                            std::vector<float>& scratch) {
    // u holds the work matrix: H + damp I -> L -> L^-1; scratch gets L^-T L^-1 -> its factor.
    u = h;
    for (int64_t i = 0; i < n; ++i) {
        u[i * n + i] += damp;
    }
    FactorFailure failure;
    const int64_t first = cholesky_lower(gemm, u.data(), n);
    if (first >= 0) {
        failure.step = FactorFailure::Step::cholesky;
        failure.column = first;
        return failure;
    }
    invert_lower(gemm, u.data(), n);  // torch.cholesky_inverse = trtri + lauum
    scratch.resize(u.size());
    lower_gram(gemm, u.data(), scratch.data(), n);
    const int64_t second = cholesky_lower(gemm, scratch.data(), n);
    if (second >= 0) {
        failure.step = FactorFailure::Step::inverse_cholesky;
        failure.column = second;
        return failure;
    }
    transpose_lower_to_upper(scratch.data(), u.data(), n);  // cholesky(upper=True) = L^T
    if (!all_finite_upper(u, n)) {
        failure.step = FactorFailure::Step::not_finite;
    }
    return failure;
}

DampingOutcome upper_cholesky_of_inverse(CpuGemm& gemm, const sdk::Host& host,
                                         const std::vector<float>& h, int64_t n,
                                         const DampingPolicy& policy, const std::string& where,
                                         std::vector<float>& u) {
    const std::vector<float> diag = diagonal(h, n);
    std::vector<float> scratch;
    DampingOutcome outcome;
    outcome.percdamp = policy.percdamp;
    for (;;) {
        host.check_cancelled();
        outcome.damp = absolute_damp(diag, outcome.percdamp);
        outcome.attempts += 1;
        const FactorFailure failure =
            try_upper_cholesky_of_inverse(gemm, h, n, outcome.damp, u, scratch);
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
        host.warn(where + failure.describe() + " with damp = " + format_percdamp(outcome.percdamp) +
                  "; retrying with damp = " + format_percdamp(next));
        outcome.percdamp = next;
    }
}

}  // namespace mcomp::common
