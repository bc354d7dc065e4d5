// linear_hook.hpp: how the compression engine sees a block run — the input of each linear,
// just before the linear consumes it (what GPTQ's Hessian, Wanda's norms and AWQ's scales
// are built from).
#pragma once

#include <cstdint>

#include "model/llama_layout.hpp"
#include "runtime/tensor.hpp"
#include "util/expected.hpp"

namespace mcomp {

class LinearHook {
  public:
    virtual ~LinearHook() = default;

    // Called with `src` [batch, seq, in_features] on the backend's device, valid only
    // during the call (copy what must outlive it). q/k/v share one input and o_proj's input
    // is the attention output; gate/up share one input. An error stops the block run and is
    // returned by it.
    virtual Status on_linear_input(std::int64_t block, LinearId id, const Tensor& src) = 0;
};

}  // namespace mcomp
