// synth.hpp: `mcomp synth` — a Llama-family model with random weights in Hugging Face layout,
// for benchmarks and tests at real sizes without downloading anything.
//
// The config comes from a config.json or a preset (llama-2-7b, tinyllama-1.1b, ...: the
// shapes of the published models). Weights are drawn as transformers initialises them
// (normal(0, initializer_range) for linears and embeddings, ones for RMSNorm weights,
// zeros for biases) from a counter-based generator keyed by (seed, tensor name, chunk), so
// the same seed gives the same bytes on any machine and thread count. Tensors are written
// one at a time (sharded past 5 GB like save_pretrained) into a staging folder renamed into
// place. The tokenizer is a generated GPT-2-style byte-level BPE (256 byte tokens, no
// merges; <unk>=0, <s>=1, </s>=2, BOS added), loadable by mcomp and by `tokenizers`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "model/dtype.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct SynthOptions {
    std::string config;  // a config.json path or a preset name
    std::filesystem::path out;
    DType dtype = DType::bf16;
    std::uint64_t seed = 0;
    bool force = false;               // replace an existing folder
    std::size_t max_shard_bytes = 0;  // 0: 5 GB
};

struct SynthResult {
    std::int64_t params = 0;
    std::int64_t weight_bytes = 0;
    double seconds = 0.0;
};

std::vector<std::string> synth_preset_names();

// The config.json object of a preset; bad_input naming the presets for an unknown name.
Expected<nlohmann::json> synth_preset(std::string_view name);

// The tokenizer.json and tokenizer_config.json texts described above.
std::string synth_tokenizer_json();
std::string synth_tokenizer_config_json(std::int64_t model_max_length);

Expected<SynthResult> synthesize_model(const SynthOptions& options);

}  // namespace mcomp::compress
