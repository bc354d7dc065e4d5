// perplexity.hpp: the standard perplexity protocol of GPTQ's llama_eval (and of
// AWQ/SparseGPT/Wanda, which copy it): one token stream cut into non-overlapping windows
// of seq_len tokens, the remainder dropped; window w predicts its tokens 1..seq_len-1 from
// its own context; loss_w = mean cross entropy over those seq_len-1 positions;
// ppl = exp(Σ_w loss_w·seq_len / (windows·seq_len)) = exp(mean_w loss_w).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "runtime/llama_model.hpp"
#include "util/expected.hpp"

namespace mcomp {

struct PerplexityOptions {
    std::int64_t seq_len = 2048;
    std::optional<std::int64_t> max_windows;  // evaluate only the first N windows
    // Activation memory one batch of windows may use; windows run through each block
    // together (fewer weight loads, larger matmuls) up to this budget.
    std::size_t batch_budget_bytes = std::size_t{512} << 20;
};

struct PerplexityResult {
    double ppl = 0.0;
    double mean_nll = 0.0;    // mean_w loss_w, in nats
    std::int64_t tokens = 0;  // tokens evaluated: windows·seq_len
    std::int64_t windows = 0;
    double seconds = 0.0;
};

// Perplexity of `model` on `tokens` (already tokenized: BOS once at the start of the whole
// stream if the model's tokenizer adds one).
Expected<PerplexityResult> perplexity(LlamaModel& model, std::span<const std::int32_t> tokens,
                                      const PerplexityOptions& options);

}  // namespace mcomp
