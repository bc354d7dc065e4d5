// output_writer.hpp: the compressed model as a Hugging Face folder in one output format
// (DESIGN §7), written from the source checkpoint and the blocks committed to the work
// folder, one tensor at a time (a model larger than memory is written with one layer
// resident).
//
//   dense               every tensor dense in the output dtype; compressed linears hold
//                       the weight the engine kept (compressed_linear.hpp)
//   gptq / gptq_v2      quantized linears as qweight/qzeros/scales/g_idx (engine/formats),
//                       quantization_config in config.json and quantize_config.json
//   awq                 AutoAWQ GEMM tensors, quantization_config
//   compressed-tensors  pack-quantized tensors, quantization_config; linears left dense
//                       are listed in its "ignore"
//   sparse-24-bitmask   compressed-tensors' 2:4 layout: every linear a stage pruned as
//                       compressed/bitmask/shape in the output dtype (the weight dense would
//                       store, bit for bit), quantization_config with only a sparsity_config;
//                       a pruned linear that is not 2:4 is an error naming its first bad group
//
// Packed formats need every quantized linear to share bits, group size, symmetry and
// act-order (one quantization_config describes them all); a linear the pipeline did not
// quantize stays dense ("<prefix>.weight"). config.json also gets an "mcomp" object (see
// write_output) that records the pipeline's stages and, for pruned models, the sparsity:
//   "mcomp": {"version", "format", "stages": [{"use", "params", "layers"}],
//             "quantized_layers", "sparsity": {"global", "pruned_layers", "layers": {...},
//                                               "structure": {...}}}
// where sparsity is the fraction of exact zeros in the weights of the layers some stage
// pruned (per layer in "layers"), and "structure" says per layer whether its zeros form a 2:4
// pattern (at least 2 zeros in every 4 consecutive inputs of every row), else 4:8, else
// "unstructured". Tokenizer and generation files are copied.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "compress/compressed_linear.hpp"
#include "compress/work_dir.hpp"
#include "model/checkpoint.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct OutputStats {
    std::int64_t file_bytes = 0;         // every file of the folder
    std::int64_t weight_file_bytes = 0;  // the safetensors files
    std::int64_t total_params = 0;       // parameters of the model (tied embeddings once)
    std::int64_t compressed_params = 0;  // weights of the compressed linears
    std::int64_t compressed_bytes = 0;   // bytes of the tensors that store them
    std::int64_t quantized_layers = 0;   // stored packed
    std::int64_t pruned_layers = 0;      // some stage returned a mask
    std::int64_t pruned_params = 0;      // weights of those layers
    std::int64_t pruned_zeros = 0;       // exact zeros among them
    nlohmann::json quantization_config;  // null for dense

    // 8 · compressed_bytes / compressed_params (0 when nothing was compressed).
    double bits_per_weight() const;
    // 8 · weight_file_bytes / total_params.
    double file_bits_per_param() const;
};

struct OutputInputs {
    const Checkpoint* source = nullptr;
    bool source_mapped = true;  // give source pages back after reading them
    const WorkDir* work = nullptr;
    WeightPolicy policy;
    nlohmann::json stages = nlohmann::json::array();  // [{"use", "params", "layers"}]
    std::size_t max_shard_bytes = 0;                  // 0: kDefaultMaxShardBytes
    bool true_sequential = true;                      // recorded in GPTQ's config
};

// Writes the folder `dir` (which must exist and be empty; the caller stages it).
Expected<OutputStats> write_output(const std::filesystem::path& dir, OutputFormat format,
                                   const OutputInputs& inputs);

// Copies the tokenizer and generation files a Hugging Face folder may hold (tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, tokenizer.model, vocab.json, merges.txt,
// added_tokens.json, generation_config.json, chat_template.jinja) that exist in `src`.
Status copy_tokenizer_files(const std::filesystem::path& src, const std::filesystem::path& dst);

// "float32" / "float16" / "bfloat16" for config.json's torch_dtype.
const char* torch_dtype_name(DType dtype);

// Converts `count` elements of a F32/F16/BF16 buffer to `dst_dtype` (F32/F16/BF16).
void convert_float_buffer(DType src_dtype, const void* src, std::size_t count, DType dst_dtype,
                          void* dst);

}  // namespace mcomp::compress
