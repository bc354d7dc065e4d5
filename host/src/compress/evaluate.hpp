// evaluate.hpp: perplexity of a model on text files with the standard protocol
// (runtime/perplexity.hpp: the text tokenized whole with BOS, non-overlapping windows of
// seqlen, remainder dropped, ppl = exp(mean NLL)), on the CPU backend or, when asked and
// present, the CUDA backend in exact fp32.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compress/progress.hpp"
#include "core/device.hpp"
#include "model/checkpoint.hpp"
#include "runtime/backend.hpp"
#include "runtime/perplexity.hpp"
#include "tokenizer/tokenizer.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct EvalOptions {
    std::int64_t seqlen = 2048;
    std::optional<std::int64_t> max_windows;
    DeviceRequest device = DeviceRequest::cpu;
};

// cpu: the CPU backend; cuda: the CUDA backend (an error without a GPU or a CUDA build);
// auto: CUDA when a GPU answers, else CPU. `chosen` names what was taken ("cpu", "cuda").
Expected<std::unique_ptr<Backend>> make_backend(DeviceRequest request, std::string& chosen);

// Perplexity of `checkpoint` on the text of `file`. The windows run in about 20 chunks so
// that `progress` (may be null) can show them; the result combines the chunks' losses as
// the protocol defines it (mean over windows), equal to one call up to rounding.
Expected<PerplexityResult> evaluate_text(const Checkpoint& checkpoint, const Tokenizer& tokenizer,
                                         const std::filesystem::path& file,
                                         const EvalOptions& options, Progress* progress = nullptr);

}  // namespace mcomp::compress
