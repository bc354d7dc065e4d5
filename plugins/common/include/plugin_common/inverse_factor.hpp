// inverse_factor.hpp: what GPTQ and SparseGPT do to the Hessian before their column loops,
// shared by both backends (IST-DASLab/gptq gptq.py fasterquant; sparsegpt.py the same):
//
//   dead = diag(H) == 0;  H[dead, dead] = 1;  W[:, dead] = 0
//   (act-order) perm = argsort(diag(H), descending); H = H[perm][:, perm]
//   H += percdamp * mean(diag(H)) * I
//   Hinv = cholesky(cholesky_inverse(cholesky(H)), upper=True)
//
// The reference stops when a Cholesky fails; like GPTQModel/AutoGPTQ's damp_auto_increment,
// mcomp then retries from the undamped H with percdamp + increment (logged as a warning) until
// a factorization succeeds or percdamp would reach 1. A factor with a NaN or infinity counts as
// a failure, so no NaN ever reaches the weights.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace mcomp::common {

struct DampingPolicy {
    double percdamp = 0.01;  // relative damping: percdamp * mean(diag H)
    double increment = 0.0;  // added to percdamp after a failed factorization; 0: no retry
};

// Which step of the factorization failed, and where.
struct FactorFailure {
    enum class Step { none, cholesky, inverse_cholesky, not_finite };
    Step step = Step::none;
    int64_t column = -1;

    bool failed() const { return step != Step::none; }
    std::string describe() const {
        switch (step) {
            case Step::cholesky:
                return "the Cholesky factorization of H failed at column " + std::to_string(column);
            case Step::inverse_cholesky:
                return "the Cholesky factorization of H^-1 failed at column " +
                       std::to_string(column);
            case Step::not_finite:
                return "the factor of H^-1 has a NaN or infinity";
            default:
                return "ok";
        }
    }
};

struct DampingOutcome {
    double percdamp = 0.0;  // the relative damping that succeeded
    float damp = 0.0f;      // the absolute value added to the diagonal
    int32_t attempts = 0;
};

// The absolute damping of the reference: percdamp * torch.mean(torch.diag(H)), an fp32 mean
// times a Python float.
inline float absolute_damp(const std::vector<float>& diag, double percdamp) {
    double sum = 0.0;
    for (const float d : diag) {
        sum += static_cast<double>(d);
    }
    const float mean = diag.empty() ? 0.0f : static_cast<float>(sum / diag.size());
    return static_cast<float>(percdamp) * mean;
}

// Act-order: columns by descending diag(H). Equal diagonals keep their index order (a stable
// sort), so both backends agree; torch.argsort does not promise an order for ties.
inline std::vector<int32_t> act_order_permutation(const std::vector<float>& diag) {
    std::vector<int32_t> perm(diag.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int32_t a, int32_t b) { return diag[a] > diag[b]; });
    return perm;
}

}  // namespace mcomp::common
