// perplexity.cpp: see perplexity.hpp. Windows are run block-sequentially in batches, like
// llama_eval (every window through block i, then block i+1), so each block's weights are
// loaded once per batch; the head runs per window in row chunks so that the logits of a
// large vocabulary never fill memory.
#include "runtime/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace mcomp {

namespace {

// Sum over windows [first, first + count) of each window's mean NLL of its shifted tokens.
Expected<double> head_loss(LlamaModel& model, const Tensor& hidden,
                           std::span<const std::int32_t> window_tokens, std::int64_t count,
                           std::int64_t seq_len, std::size_t budget_bytes) {
    Backend& backend = model.backend();
    const std::int64_t vocab = model.config().vocab_size;
    const std::int64_t predicted = seq_len - 1;
    const std::int64_t chunk_rows = std::clamp<std::int64_t>(
        static_cast<std::int64_t>(budget_bytes / (static_cast<std::size_t>(vocab) * 4)), 1,
        predicted);
    std::vector<float> nll(static_cast<std::size_t>(chunk_rows));
    double loss_sum = 0.0;
    for (std::int64_t w = 0; w < count; ++w) {
        double window_nll = 0.0;
        for (std::int64_t row = 0; row < predicted; row += chunk_rows) {
            const std::int64_t rows = std::min(chunk_rows, predicted - row);
            // Positions row..row+rows-1 of window w predict the tokens one further on.
            const Tensor src = hidden.slice_rows(w * seq_len + row, rows);
            Tensor logits = backend.alloc(DType::f32, {rows, vocab});
            MCOMP_TRY(model.logits(src, logits));
            backend.cross_entropy(logits, window_tokens.data() + w * seq_len + row + 1, nll.data());
            for (std::int64_t i = 0; i < rows; ++i) {
                window_nll += nll[static_cast<std::size_t>(i)];
            }
        }
        // CrossEntropyLoss(reduction="mean") over the window's seq_len-1 positions.
        loss_sum += window_nll / static_cast<double>(predicted);
    }
    return loss_sum;
}

// Windows of one batch, through every block, then the head.
Expected<double> batch_loss(LlamaModel& model, std::span<const std::int32_t> window_tokens,
                            std::int64_t count, std::int64_t seq_len, std::size_t budget_bytes) {
    Expected<Tensor> hidden = model.embed(window_tokens, count, seq_len);
    if (!hidden) {
        return hidden.error();
    }
    for (std::int64_t block = 0; block < model.config().num_hidden_layers; ++block) {
        Expected<BlockWeights> weights = model.load_block(block);
        if (!weights) {
            return weights.error();
        }
        MCOMP_TRY(model.run_block(block, *hidden, *hidden, *weights));
    }
    return head_loss(model, *hidden, window_tokens, count, seq_len, budget_bytes);
}

// Windows per batch: the block's activations (hidden, residual branch, norm, q/k/v,
// context, gate/up) stay within the budget.
std::int64_t windows_per_batch(const ModelConfig& cfg, std::int64_t seq_len,
                               std::size_t budget_bytes) {
    const std::int64_t floats_per_token =
        3 * cfg.hidden_size + 2 * cfg.q_size() + 2 * cfg.kv_size() + 2 * cfg.intermediate_size;
    const std::int64_t bytes_per_window = floats_per_token * seq_len * 4;
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(budget_bytes) / bytes_per_window);
}

}  // namespace

Expected<PerplexityResult> perplexity(LlamaModel& model, std::span<const std::int32_t> tokens,
                                      const PerplexityOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t seq_len = options.seq_len;
    if (seq_len < 2) {
        return make_error(ErrorKind::bad_input, "perplexity: seq_len " + std::to_string(seq_len) +
                                                    " leaves nothing to predict; use at least 2");
    }
    std::int64_t windows = static_cast<std::int64_t>(tokens.size()) / seq_len;
    if (options.max_windows) {
        windows = std::min(windows, *options.max_windows);
    }
    if (windows < 1) {
        return make_error(ErrorKind::bad_input, "perplexity: " + std::to_string(tokens.size()) +
                                                    " tokens do not fill one window of " +
                                                    std::to_string(seq_len) +
                                                    "; use more text or a shorter seq_len");
    }
    const std::int64_t per_batch =
        windows_per_batch(model.config(), seq_len, options.batch_budget_bytes);
    double loss_sum = 0.0;
    for (std::int64_t first = 0; first < windows; first += per_batch) {
        const std::int64_t count = std::min(per_batch, windows - first);
        const auto window_tokens = tokens.subspan(static_cast<std::size_t>(first * seq_len),
                                                  static_cast<std::size_t>(count * seq_len));
        Expected<double> loss =
            batch_loss(model, window_tokens, count, seq_len, options.batch_budget_bytes);
        if (!loss) {
            return loss.error();
        }
        loss_sum += *loss;
    }
    PerplexityResult result;
    result.windows = windows;
    result.tokens = windows * seq_len;
    // llama_eval: exp(Σ_w loss_w·seq_len / (windows·seq_len)).
    result.mean_nll = loss_sum * static_cast<double>(seq_len) / static_cast<double>(result.tokens);
    result.ppl = std::exp(result.mean_nll);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace mcomp
