// compressed_linear.hpp: what the engine keeps of one compressed linear layer — the weight
// the rest of the model sees, and the quantized form the packed formats store — and the rule
// that keeps the two consistent.
//
// The rule ("what downstream blocks see is what the checkpoint stores"): when a packed
// format (GPTQ, AWQ, compressed-tensors) will store a quantized layer, its scales are
// first rounded to the dtype the format stores them in (fp16 for GPTQ and AWQ, as
// AutoGPTQ's pack() does with `scales.half()`), and the weight used by later layers and
// blocks is dequantize(rounded) — exactly what a reader of the file reconstructs, since
// scale16 · (code − zero) is exact in fp32. Any other compressed weight (pruned, or
// quantized with only a dense output) is rounded to the dtype of the dense tensors
// (a no-op for fp32). So evaluating the written checkpoint measures what the engine
// computed, bit for bit.
//
// technique_weights_downstream turns the first half off: later layers see the technique's
// own weight (fp32 scales), as the reference scripts and AutoGPTQ do (AutoGPTQ sets the
// layer to Q from fp32 scales and rounds the scales only in pack()); packed formats still
// store fp16 scales, so what they hold differs from what calibration saw by that rounding.
// On TinyStories-656K, GPTQ w4 g64 as GPTQ checkpoint: 41.3299 by default, 41.2918 with
// this option; the fp32 reference is 41.2909.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layer_runner.hpp"
#include "engine/formats.hpp"
#include "model/dtype.hpp"
#include "model/llama_layout.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

enum class OutputFormat {
    dense = 1,
    gptq,     // AutoGPTQ v1 (qzeros hold zero − 1)
    gptq_v2,  // GPTQModel (qzeros hold the zero point)
    awq,      // AutoAWQ GEMM
    compressed_tensors,
    sparse_24_bitmask,  // compressed-tensors 2:4 sparse weights (values dense, not quantized)
};

// "dense", "gptq", "gptq_v2", "awq", "compressed-tensors", "sparse-24-bitmask"
std::string_view output_format_name(OutputFormat format);
Expected<OutputFormat> parse_output_format(std::string_view name);
// The format stores quantized layers as codes (gptq, gptq_v2, awq, compressed-tensors).
bool is_packed(OutputFormat format);

struct WeightPolicy {
    DType dense_dtype = DType::f32;             // every dense tensor of every output
    std::optional<DType> scale_dtype;           // set when a packed format stores quantized layers
    bool technique_weights_downstream = false;  // see above
};

// F16 scales when GPTQ or AWQ is among the formats, else (compressed-tensors alone) the
// dense dtype, as llm-compressor stores scales in the model's dtype.
WeightPolicy weight_policy_for(const std::vector<OutputFormat>& formats, DType dense_dtype);

// x rounded to `dtype` (F16 / BF16, round to nearest even) and widened back; F32: as is.
void round_to_dtype(std::vector<float>& values, DType dtype);

struct CompressedLinear {
    std::string prefix;  // "model.layers.0.self_attn.q_proj"
    std::int64_t block = 0;
    LinearId id = LinearId::q_proj;
    std::int64_t out_features = 0;
    std::int64_t in_features = 0;
    std::vector<float> weight;  // [out, in]: what later layers see and dense outputs store
    bool quantized = false;     // `quant` describes `weight` (the last stage quantized it)
    QuantizedLinear quant;      // scales already rounded per the policy
    bool masked = false;        // some stage pruned it (a mask was returned)
    std::vector<int> stages;    // indices of the stages that compressed it, in order
    // `weight` was made as dequantize(quant): known exact, so the work folder stores the
    // codes alone without comparing (set by apply_layer_result).
    bool weight_from_codes = false;

    // Exact zeros in `weight`.
    std::int64_t zero_count() const;
};

// Folds one stage's result into the layer's record: `record` holds the previous state
// (prefix, shape; stages empty the first time). A result without codes replaces an earlier
// quantization (its codes no longer describe the weight).
Status apply_layer_result(CompressedLinear& record, LayerResult result, int stage_index,
                          const WeightPolicy& policy);

}  // namespace mcomp::compress
