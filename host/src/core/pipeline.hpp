// pipeline.hpp: the pipeline manifest (DESIGN §5), parsed and validated; the engine runs it.
//
// Schema (every key listed here, no others; unknown keys are refused with a hint):
//   [model]        path = "<dir>" | id = "org/name"  (exactly one)
//   [calibration]  text = "<file>" | ["<file>", ...], samples = 128, seqlen = 512, seed = 0
//                  (optional table; text is required when it is present)
//   [[stage]]      use = "<technique id>", params = { ... } (validated against the schema),
//                  device = "auto" | "cpu" | "cuda", include = ["<glob>", ...],
//                  exclude = ["<glob>", ...]          (at least one stage)
//   [output]       dir = "<dir>", formats = ["gptq" | "awq" | "compressed-tensors" | "dense"]
//   [eval]         texts = "<file>" | ["<file>", ...], seqlen = 512   (optional table)
//
// Paths: absolute paths are kept; "${MCOMP_TEST_DATA}/..." is resolved through
// mcomp::test_data_dir() (the shared test material); any other relative path is resolved
// against the folder of the pipeline file. No other ${...} is expanded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/device.hpp"
#include "core/manifest.hpp"
#include "core/params.hpp"
#include "util/expected.hpp"

namespace mcomp {

// Where a value came from: "file:line:col".
struct SourceRef {
    std::string text;
};

struct PipelineModel {
    std::filesystem::path path;  // resolved; empty when `id` is given
    std::string id;              // Hugging Face id; empty when `path` is given
    SourceRef where;
};

struct PipelineCalibration {
    bool present = false;
    std::vector<std::filesystem::path> texts;  // resolved
    std::vector<SourceRef> text_where;
    int64_t samples = 128;
    int64_t seqlen = 512;
    int64_t seed = 0;
    // q/k/v -> o -> gate/up -> down with inputs recomputed after each group (GPTQ's
    // llama.py); false feeds every linear of a block the inputs of one forward, as
    // prune_wanda and SparseGPT's README runs do. `mcomp run --no-true-sequential` overrides.
    bool true_sequential = true;
    // Where the calibration forward passes (and the in-run evaluation) run: auto = on the
    // GPU when a stage runs on one and a GPU is present, else the CPU.
    DeviceRequest device = DeviceRequest::auto_select;
    // Their dtype: "f32" (the reference protocol), or "f16" / "bf16" on a GPU (as the
    // reference scripts run 7B models); techniques always observe fp32.
    std::string dtype = "f32";
};

struct PipelineStage {
    std::string use;  // technique id
    std::string plugin_id;
    const TechniqueManifest* technique = nullptr;  // points into the plugins given to parse
    OwnedParams params;                            // validated, defaults filled in
    DeviceRequest device = DeviceRequest::auto_select;
    std::vector<std::string> include;  // glob patterns on layer names; empty: every layer
    std::vector<std::string> exclude;
    SourceRef where;  // the [[stage]] header
};

struct PipelineOutput {
    std::filesystem::path dir;  // resolved
    std::vector<std::string> formats;
};

struct PipelineEval {
    bool present = false;
    std::vector<std::filesystem::path> texts;  // resolved
    std::vector<SourceRef> text_where;
    int64_t seqlen = 512;
};

struct Pipeline {
    std::filesystem::path path;  // the pipeline file, absolute
    PipelineModel model;
    PipelineCalibration calibration;
    std::vector<PipelineStage> stages;
    PipelineOutput output;
    PipelineEval eval;
};

// The output formats a pipeline may ask for.
const std::vector<std::string>& known_output_formats();

// Resolves a path value of a pipeline as described above; an unknown ${...} is an error
// message (without location).
Expected<std::filesystem::path> resolve_pipeline_path(std::string_view value,
                                                      const std::filesystem::path& base_dir);

// Reads and validates a pipeline; stage techniques are looked up in `plugins` (manifests only,
// nothing is loaded). `broken_count` > 0 adds a note to unknown-technique errors.
Expected<Pipeline> parse_pipeline(const std::filesystem::path& path,
                                  const std::vector<PluginManifest>& plugins,
                                  std::size_t broken_count = 0);
Expected<Pipeline> parse_pipeline_text(std::string_view text, const std::filesystem::path& path,
                                       const std::vector<PluginManifest>& plugins,
                                       std::size_t broken_count = 0);

// Checks that the files and folders the pipeline reads exist (model dir with config.json,
// calibration and eval texts); each error names the key's file:line:col.
Status check_pipeline_inputs(const Pipeline& pipeline);

}  // namespace mcomp
