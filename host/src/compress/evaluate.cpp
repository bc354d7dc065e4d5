// evaluate.cpp: see evaluate.hpp.
#include "compress/evaluate.hpp"

#include <fmt/format.h>

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
                                         const EvalOptions& options) {
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
    PerplexityOptions ppl_options;
    ppl_options.seq_len = options.seqlen;
    ppl_options.max_windows = options.max_windows;
    Expected<PerplexityResult> result = make_error(ErrorKind::internal, "not run");
    try {
        result = perplexity(model, tokens, ppl_options);
    } catch (const std::exception& e) {  // the CUDA backend throws on a faulted device
        return make_error(ErrorKind::internal, fmt::format("{}: evaluation on {} failed: {}",
                                                           file.string(), chosen, e.what()));
    }
    if (!result) {
        return make_error(result.error().kind, file.string() + ": " + result.error().message);
    }
    return result;
}

}  // namespace mcomp::compress
