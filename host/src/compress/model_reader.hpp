// model_reader.hpp: opens any model folder mcomp writes (or reads) as dense weights the
// runtime can run — mcomp reads back everything it writes (DESIGN §7).
//
//   no quantization_config         Checkpoint::open (memory-mapped, as is)
//   quant_method "gptq"            (checkpoint_format gptq or gptq_v2), "awq" (GEMM),
//   "compressed-tensors"           (pack-quantized): every packed linear is unpacked and
//                                  dequantized with engine/formats' readers into an fp32
//                                  "<prefix>.weight"; the other tensors are copied; the result
//                                  is an in-memory Checkpoint (Checkpoint::from_tensors)
//   "compressed-tensors" with         every compressed/bitmask/shape triple becomes its dense
//   sparsity_config "sparse-24-bitmask" "<prefix>.weight" in the stored dtype, bit for bit
//
// A dequantized weight is exactly scale16 · (code − zero) in fp32, what the engine used.
#pragma once

#include <memory>
#include <string>

#include "model/checkpoint.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct OpenedModel {
    std::unique_ptr<Checkpoint> checkpoint;
    std::string format;              // "dense", "gptq", "gptq_v2", "awq", "compressed-tensors",
                                     // "sparse-24-bitmask"
    bool mapped = true;              // tensors are file mappings (false: dequantized in memory)
    std::int64_t packed_layers = 0;  // linears that were dequantized (or unpacked from 2:4)
};

Expected<OpenedModel> open_model(const std::string& dir);

}  // namespace mcomp::compress
