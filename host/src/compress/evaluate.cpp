// evaluate.cpp: see evaluate.hpp.
#include "compress/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "runtime/cpu_backend.hpp"
#if defined(MCOMP_HAVE_CUDA)
#include "runtime/cuda/cuda_backend.hpp"
#endif
#include "runtime/llama_model.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

Expected<std::unique_ptr<Backend>> make_backend(DeviceRequest request, std::string& chosen) {
#if defined(MCOMP_HAVE_CUDA)
    const bool gpu = request != DeviceRequest::cpu && cuda_device_count() > 0;
    if (request == DeviceRequest::cuda && !gpu) {
        return make_error(ErrorKind::unsupported,
                          "--device cuda: " + cuda_unavailable_reason() + "; use --device cpu");
    }
    if (gpu) {
        Expected<std::unique_ptr<CudaBackend>> cuda = CudaBackend::create();
        if (!cuda) {
            return cuda.error();
        }
        chosen = "cuda";
        return std::unique_ptr<Backend>(std::move(*cuda));
    }
#else
    if (request == DeviceRequest::cuda) {
        return make_error(ErrorKind::unsupported,
                          "--device cuda: this mcomp was built without CUDA; use --device cpu");
    }
#endif
    chosen = "cpu";
    return std::unique_ptr<Backend>(std::make_unique<CpuBackend>());
}

Expected<PerplexityResult> evaluate_text(const Checkpoint& checkpoint, const Tokenizer& tokenizer,
                                         const std::filesystem::path& file,
                                         const EvalOptions& options, Progress* progress) {
    std::string text;
    if (!read_file(file.string(), text)) {
        return make_error(ErrorKind::not_found,
                          fmt::format("{}: cannot read the evaluation text", file.string()));
    }
    const std::vector<std::int32_t> tokens = tokenizer.encode(text, true);
    std::string chosen;
    Expected<std::unique_ptr<Backend>> backend = make_backend(options.device, chosen);
    if (!backend) {
        return backend.error();
    }
    LlamaModel model(checkpoint, **backend);
    std::int64_t windows =
        static_cast<std::int64_t>(tokens.size()) / std::max<std::int64_t>(options.seqlen, 1);
    if (options.max_windows) {
        windows = std::min(windows, *options.max_windows);
    }
    const std::int64_t chunk = std::max<std::int64_t>(1, (windows + 19) / 20);
    PerplexityOptions ppl_options;
    ppl_options.seq_len = options.seqlen;
    if (progress != nullptr) {
        progress->start("perplexity", windows);
    }
    PerplexityResult total;
    double loss_sum = 0.0;
    // One call when the text does not fill a window, so the runtime words the error.
    for (std::int64_t first = 0; first < std::max<std::int64_t>(windows, 1); first += chunk) {
        const std::int64_t count = windows > 0 ? std::min(chunk, windows - first) : 1;
        const std::span<const std::int32_t> part =
            windows > 0 ? std::span<const std::int32_t>(tokens).subspan(
                              static_cast<std::size_t>(first * options.seqlen),
                              static_cast<std::size_t>(count * options.seqlen))
                        : std::span<const std::int32_t>(tokens);
        Expected<PerplexityResult> result = make_error(ErrorKind::internal, "not run");
        try {
            result = perplexity(model, part, ppl_options);
        } catch (const std::exception& e) {  // the CUDA backend throws on a faulted device
            return make_error(ErrorKind::internal, fmt::format("{}: evaluation on {} failed: {}",
                                                               file.string(), chosen, e.what()));
        }
        if (!result) {
            return make_error(result.error().kind, file.string() + ": " + result.error().message);
        }
        loss_sum += result->mean_nll * static_cast<double>(result->windows);
        total.windows += result->windows;
        total.tokens += result->tokens;
        total.seconds += result->seconds;
        if (progress != nullptr) {
            progress->update(total.windows, file.filename().string());
        }
    }
    total.mean_nll = loss_sum / static_cast<double>(total.windows);
    total.ppl = std::exp(total.mean_nll);
    if (progress != nullptr) {
        progress->finish(fmt::format("{} windows, ppl {:.4f}", total.windows, total.ppl));
    }
    return total;
}

}  // namespace mcomp::compress
