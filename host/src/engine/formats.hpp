// formats.hpp: the checkpoint layouts of quantized linear layers (DESIGN §7) — pure
// functions from one quantized layer to the named tensors of each format, and back.
//
// A quantizer hands the host integer codes, scales, zero points and g_idx (DESIGN §4); the
// checkpoint writer calls the packers below per layer and names the tensors
// "<module prefix>.<suffix>". The readers call the unpackers, so mcomp reads back all it
// writes. Formats, each following the library that defined it:
//   - GPTQ (AutoGPTQ / GPTQModel; read by transformers, optimum and vLLM):
//       qweight I32 [in·bits/32, out], qzeros I32 [groups, out·bits/32],
//       scales F16 [groups, out], g_idx I32 [in]. Codes are one little-endian bit stream
//       per column (for 3 bits values straddle words, exactly as AutoGPTQ's pack()).
//       checkpoint_format "gptq" (v1) stores zero − 1 per field, "gptq_v2" the real zero.
//   - AWQ GEMM (AutoAWQ WQLinear_GEMM): qweight I32 [in, out/8], qzeros I32 [groups, out/8],
//       eight 4-bit values per word in the order 0,2,4,6,1,3,5,7; scales F16 [groups, out].
//   - compressed-tensors "pack-quantized" (llm-compressor): weight_packed I32
//       [out, ceil(in/(32/bits))], weight_scale [out, groups] in the model's dtype,
//       weight_zero_point I32 [ceil(out/(32/bits)), groups] (asymmetric only),
//       weight_shape I64 [2], weight_g_idx I32 [in] (act-order only).
//   - compressed-tensors "sparse-24-bitmask" (llm-compressor's 2:4 sparse weights, dense
//       values): compressed [out, in/2] in the weight's dtype (the 2 kept values of every 4
//       consecutive inputs, in order), bitmask U8 [out, ceil(in/8)] (bit j % 8 of byte j / 8
//       set where element j is kept; exactly 2 of every 4), shape I64 [2, 1].
//
// Scales: every format stores 16-bit scales (compressed-tensors may store fp32), and the
// weight a checkpoint defines is scale16 · (code − zero) with that rounded scale. So the
// packers round fp32 scales to nearest even, and the round trip is exact on scales that
// are already 16-bit values: unpack(pack(x)) == with_scales_rounded(x, F16). The product
// scale16 · (code − zero) needs at most 11 + 9 significant bits, so fp32 holds it exactly;
// narrowing it to fp16 rounds once, as torch's fp16 `scales * (weight - zeros)` does.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "model/dtype.hpp"
#include "model/safetensors.hpp"
#include "util/expected.hpp"

namespace mcomp {

// ---- The input: one quantized linear layer ------------------------------------------

// One linear layer y = x·Wᵀ, W [out, in], as a quantizer returns it:
//     W[o, i] = scales[o, g] · (codes[o, i] − zeros[o, g]),  g = g_idx[i].
struct QuantizedLinear {
    std::string name;  // module prefix for messages ("model.layers.0.mlp.up_proj"); may be ""
    std::int64_t out_features = 0;
    std::int64_t in_features = 0;
    int bits = 4;                     // 2, 3, 4 or 8
    int group_size = -1;              // input columns per group; -1: one group per row
    bool sym = false;                 // symmetric grid: every zero point is 2^(bits-1)
    bool desc_act = false;            // act-order: g_idx may be any grouping, not i / group_size
    std::vector<std::uint8_t> codes;  // [out, in] row-major, each < 2^bits
    std::vector<float> scales;        // [out, groups]
    std::vector<float> zeros;         // [out, groups]: integer zero points in [0, 2^bits)
    std::vector<std::int32_t> g_idx;  // [in]: the group of each input column

    // ceil(in_features / group_size), or 1 for group_size -1.
    std::int64_t num_groups() const;
};

// g_idx[i] = i / group_size (all 0 for group_size -1): the grouping without act-order.
std::vector<std::int32_t> sequential_g_idx(std::int64_t in_features, int group_size);

// Checks sizes, code and zero ranges, g_idx, and that a symmetric layer's zero points are
// 2^(bits-1) and a layer without desc_act has sequential g_idx. bad_input otherwise.
Status validate_quantized_linear(const QuantizedLinear& layer);

// W [out, in] in fp32, scales taken as they are: scales[o, g] · (codes[o, i] − zeros[o, g]).
// `layer` must be valid (validate_quantized_linear); every unpacker returns valid layers.
std::vector<float> dequantize(const QuantizedLinear& layer);

// `layer` with its scales rounded to nearest even in `dtype` (F16 or BF16; F32 copies):
// the layer a checkpoint with `dtype` scales describes.
QuantizedLinear with_scales_rounded(const QuantizedLinear& layer, DType dtype);

// ---- The output: named tensors ------------------------------------------------------

// One tensor of a packed layer, owning its little-endian row-major bytes.
struct PackedTensor {
    std::string name;  // suffix after the module prefix: "qweight", "weight_scale", ...
    DType dtype = DType::i32;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;

    // A borrowed view, valid while this tensor lives.
    TensorView view() const;
};

// The tensors of one layer as a reader finds them, keyed by suffix; borrowed views.
using LayerTensors = std::map<std::string, TensorView, std::less<>>;

// Views of `tensors` keyed by name, for the unpackers (valid while `tensors` lives).
LayerTensors views_of(const std::vector<PackedTensor>& tensors);

// ---- GPTQ ---------------------------------------------------------------------------

enum class GptqCheckpointFormat {
    gptq = 1,  // v1, AutoGPTQ: qzeros hold (zero − 1) mod 2^bits per field
    gptq_v2,   // GPTQModel: qzeros hold the zero point itself
};

// The quantization_config of a GPTQ checkpoint (AutoGPTQ's quantize_config.json keys).
struct GptqConfig {
    int bits = 4;
    int group_size = 128;
    bool sym = true;
    bool desc_act = false;
    GptqCheckpointFormat checkpoint_format = GptqCheckpointFormat::gptq;
    // Recorded for people and for the tools that re-quantize; they do not change the layout.
    double damp_percent = 0.01;
    bool true_sequential = true;
    bool static_groups = false;
};

// The config describing `layer` in `format`.
GptqConfig gptq_config_for(const QuantizedLinear& layer, GptqCheckpointFormat format);

// qweight, qzeros, scales, g_idx. Needs in_features·bits and out_features·bits to be
// multiples of 32 (whole int32 words, as AutoGPTQ's shapes assume).
Expected<std::vector<PackedTensor>> pack_gptq(const QuantizedLinear& layer,
                                              GptqCheckpointFormat format);

// Back to codes, fp16-valued scales, zeros and g_idx. A v1 field reads as
// (field + 1) mod 2^bits, as GPTQModel's loader does, so a zero point 0 written as v1
// (field 2^bits − 1) comes back as 0. A missing g_idx means sequential groups.
// `module` prefixes error messages.
Expected<QuantizedLinear> unpack_gptq(const LayerTensors& tensors, const GptqConfig& config,
                                      std::string_view module = "");

// dequantize(unpack_gptq(...)).
Expected<std::vector<float>> dequantize_gptq(const LayerTensors& tensors, const GptqConfig& config,
                                             std::string_view module = "");

// How many zero points of `layer` are 0. The v1 format stores them as 2^bits − 1, which
// GPTQModel reads back as 0 but per-field kernels (vLLM "gptq", exllama, AutoGPTQ's CUDA)
// read as 2^bits: a writer should warn and suggest gptq_v2 (or sym) when this is not 0.
std::int64_t count_gptq_v1_zero_wraps(const QuantizedLinear& layer);

// The "quantization_config" object for config.json (and quantize_config.json).
nlohmann::json gptq_quantization_config(const GptqConfig& config);

// Reads a GPTQ quantization_config back; bad_input / unsupported with the key named.
Expected<GptqConfig> parse_gptq_quantization_config(const nlohmann::json& config);

// ---- AWQ GEMM -----------------------------------------------------------------------

// The quantization_config of an AutoAWQ GEMM checkpoint (transformers' key names).
struct AwqConfig {
    int bits = 4;          // AWQ GEMM packs 4-bit codes only
    int group_size = 128;  // -1: one group per row (AutoAWQ takes it as in_features)
    // Linears kept dense (module paths; transformers skips any module whose name contains
    // one); written as null when empty, as AutoAWQ does.
    std::vector<std::string> modules_to_not_convert;
};

AwqConfig awq_config_for(const QuantizedLinear& layer);

// qweight, qzeros, scales. Needs bits 4, out_features a multiple of 8, in_features a
// multiple of the group size, and no act-order (AWQ has no g_idx). Zero points are always
// stored (zero_point true), so a symmetric layer is kept exactly with zeros 8.
Expected<std::vector<PackedTensor>> pack_awq(const QuantizedLinear& layer);

// Back to a layer. AWQ does not record symmetry: the result has sym false and
// sequential g_idx; its zero points are the stored ones, so dequantization is exact.
Expected<QuantizedLinear> unpack_awq(const LayerTensors& tensors, const AwqConfig& config,
                                     std::string_view module = "");

Expected<std::vector<float>> dequantize_awq(const LayerTensors& tensors, const AwqConfig& config,
                                            std::string_view module = "");

nlohmann::json awq_quantization_config(const AwqConfig& config);

Expected<AwqConfig> parse_awq_quantization_config(const nlohmann::json& config);

// ---- compressed-tensors pack-quantized ----------------------------------------------

// One config group of a compressed-tensors checkpoint with integer weight-only
// quantization (W{bits}A16), the scheme llm-compressor's GPTQModifier writes.
struct CompressedTensorsConfig {
    int bits = 4;
    int group_size = 128;  // -1: strategy "channel"
    bool sym = true;
    bool desc_act = false;                          // actorder "group": weight_g_idx is stored
    std::vector<std::string> ignore = {"lm_head"};  // modules left dense
};

CompressedTensorsConfig compressed_tensors_config_for(const QuantizedLinear& layer);

// weight_packed, weight_scale (in `scale_dtype`: F16, BF16 or F32 — llm-compressor keeps
// the model's dtype), weight_zero_point (asymmetric only), weight_shape, weight_g_idx
// (desc_act only). Codes are stored as compressed-tensors' signed values plus 2^(bits-1),
// which are the unsigned codes themselves; the same holds for zero points.
Expected<std::vector<PackedTensor>> pack_compressed_tensors(const QuantizedLinear& layer,
                                                            DType scale_dtype);

Expected<QuantizedLinear> unpack_compressed_tensors(const LayerTensors& tensors,
                                                    const CompressedTensorsConfig& config,
                                                    std::string_view module = "");

Expected<std::vector<float>> dequantize_compressed_tensors(const LayerTensors& tensors,
                                                           const CompressedTensorsConfig& config,
                                                           std::string_view module = "");

nlohmann::json compressed_tensors_quantization_config(const CompressedTensorsConfig& config);

// Reads a config with one config group of integer weight-only quantization.
Expected<CompressedTensorsConfig> parse_compressed_tensors_quantization_config(
    const nlohmann::json& config);

// ---- compressed-tensors sparse-24-bitmask -------------------------------------------

// The sparsity_config of a checkpoint whose 2:4-sparse linears are stored sparse-24-bitmask
// (sparsity_structure "2:4"); `targets` selects the compressed modules, `ignore` excepts some.
struct Sparse24Config {
    double global_sparsity = 0.0;  // fraction of zeros over the targeted weights
    std::vector<std::string> targets = {"Linear"};
    std::vector<std::string> ignore = {"lm_head"};
};

// compressed, bitmask, shape of a 2-D F32 / F16 / BF16 `weight` [out, in], bit for bit in its
// dtype. bad_input when in is not a multiple of 4, or (naming the row and inputs) when a group
// of 4 consecutive inputs of a row holds more than 2 non-zeros: the weight is not 2:4. A group
// with fewer non-zeros marks its first zeros, as the reference's top-2 keeps some zero.
Expected<std::vector<PackedTensor>> pack_sparse24_bitmask(const TensorView& weight,
                                                          std::string_view module = "");

// The dense weight ("weight" [out, in], in the dtype of `compressed`): exactly the tensor that
// was packed, but for a -0 the bitmask did not keep, which reads back as +0. bad_input when a
// tensor is missing or misshapen or a group does not mark exactly 2 positions.
Expected<PackedTensor> unpack_sparse24_bitmask(const LayerTensors& tensors,
                                               std::string_view module = "");

// The "quantization_config" object for config.json: quant_method "compressed-tensors" and
// its "sparsity_config" (format "sparse-24-bitmask"), with no quantization scheme.
nlohmann::json sparse24_bitmask_quantization_config(const Sparse24Config& config);

// True when a compressed-tensors quantization_config has sparsity_config.format
// "sparse-24-bitmask".
bool is_sparse24_bitmask_config(const nlohmann::json& config);

// Reads it back; unsupported when the checkpoint also quantizes (config_groups).
Expected<Sparse24Config> parse_sparse24_bitmask_config(const nlohmann::json& config);

}  // namespace mcomp
