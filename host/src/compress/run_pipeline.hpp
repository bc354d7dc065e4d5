// run_pipeline.hpp: `mcomp run` — a validated pipeline manifest run end to end (DESIGN §3):
//
//   resolve the model (folder or Hugging Face id) → open it (any format mcomp reads) →
//   load the stages' plugin backends (device per stage) → perplexity before (each [eval]
//   text) → calibration windows → the block-sequential engine (block_engine.hpp), resumable
//   from the work folder "<output>.mcomp-work" → each output format written into a staging
//   folder beside the output → perplexity after, measured on the written checkpoint as read
//   back → report.json + report.md → the staging folder renamed into place → work folder
//   removed.
//
// One output format: the output folder is the model. Several: one subfolder per format
// ("<output>/gptq", "<output>/dense"), with the report at the top.
//
// Interrupted (Ctrl-C, SIGKILL, a crash): the output folder is never touched before the
// final rename; the work folder holds every finished block, and running the same pipeline
// again (same manifest, model, options: the "pipeline hash") continues from there and
// writes the same bytes as an uninterrupted run (report times aside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compress/progress.hpp"
#include "core/pipeline.hpp"
#include "core/registry.hpp"
#include "model/dtype.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct RunOptions {
    bool force = false;                // replace an existing output folder
    bool fresh = false;                // ignore a saved state and start over
    bool true_sequential = true;       // q/k/v → o → gate/up → down with recomputed inputs
    std::optional<DType> dtype;        // dense tensors; default: the source's dtype
    std::vector<std::string> formats;  // overrides [output] formats when not empty
    std::optional<std::int64_t> eval_max_windows;
    std::size_t max_shard_bytes = 0;  // 0: 5 GB, as transformers
    bool keep_work = false;           // keep the work folder after success
    // Later layers see the technique's weights (fp32 scales), not the stored fp16-scale
    // ones (WeightPolicy::technique_weights_downstream).
    bool technique_weights_downstream = false;
    ProgressMode progress = ProgressMode::lines;
};

// Runs `pipeline` and returns the report (also written as report.json in the output).
// A cancelled run returns ErrorKind::cancelled with a message saying how to continue.
Expected<nlohmann::json> run_pipeline(const Pipeline& pipeline, const Registry& registry,
                                      const RunOptions& options);

// The hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

// "f32" / "f16" / "bf16" (also "float32", "float16", "bfloat16").
Expected<DType> parse_dense_dtype(std::string_view name);

}  // namespace mcomp::compress
