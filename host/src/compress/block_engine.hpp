// block_engine.hpp: the block-sequential compression engine (DESIGN §3 step 5).
//
// One decoder block is resident at a time. For block i, with X the calibration activations
// entering it ([samples, seqlen, hidden], kept between blocks):
//
//   weights = the block's weights from the memory-mapped checkpoint
//   for each stage (in pipeline order):
//       for each group of linears (true-sequential: q/k/v → o → gate/up → down, the order
//       of GPTQ's `sequential` list; otherwise all seven at once):
//           the group's selected linears each get a technique instance (begin_layer);
//           when the technique needs inputs, the block runs forward over X one sample at a
//           time with the weights as compressed so far, and a hook feeds each linear's input
//           to observe() (GPTQ's add_batch per sample); the pass ends once the group's last
//           linear has seen its input, since nothing after it is needed;
//           finish_layer(); the compressed weight replaces the original in `weights`
//   X = block(X) with the compressed weights (the next block's inputs)
//   commit the block to the work folder (resume point), give the block's pages back
//
// So a later stage sees the activations and weights earlier stages produced, and o_proj's
// inputs already come from the compressed q/k/v. Without a [calibration] table no forward
// pass runs at all and techniques that need inputs are refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compress/calibration_set.hpp"
#include "compress/compressed_linear.hpp"
#include "compress/progress.hpp"
#include "compress/work_dir.hpp"
#include "core/loader.hpp"
#include "core/params.hpp"
#include "model/checkpoint.hpp"
#include "runtime/tensor.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

// One [[stage]] ready to run, with what the engine measured of it.
struct EngineStage {
    std::string use;  // technique id
    LoadedTechnique technique;
    OwnedParams params;
    std::vector<std::string> include;  // glob patterns on layer names
    std::vector<std::string> exclude;
    bool needs_inputs = false;  // the technique sets MC_LAYER_NEEDS_INPUTS

    double seconds = 0.0;             // compressing (calibration passes included)
    std::int64_t layers = 0;          // layers compressed
    std::int64_t peak_rss_bytes = 0;  // largest resident set seen after its layer groups
};

struct EngineOptions {
    bool true_sequential = true;
    WeightPolicy policy;
    bool source_mapped = true;  // the checkpoint's tensors are file mappings (pages droppable)

    // Where the calibration forward passes run and in which dtype: the CPU in fp32 (the
    // reference), or a GPU in fp32, fp16 or bf16 (the reference scripts run a 7B model in
    // fp16 and accumulate each Hessian in fp32 from the fp16 inputs; observe() always gets
    // fp32). On a GPU the activations stay in device memory for the whole run, and a GPU
    // technique observes them where they are.
    Device forward_device = Device::cpu;
    DType forward_dtype = DType::f32;

    // The entering activations are saved as a resume point after a block when they are at
    // most resume_point_bytes, else when the last save is at least resume_point_seconds old
    // and 20 times as old as a save takes (so saving costs at most ~5% of the run); between
    // resume points a resumed run recomputes the blocks (same results, byte for byte).
    std::size_t resume_point_bytes = std::size_t{256} << 20;
    double resume_point_seconds = 60.0;
};

// The embedding rows of the calibration tokens, gathered from the checkpoint (fp32
// [samples, seqlen, hidden]) without loading the whole table.
Expected<Tensor> embed_calibration(const Checkpoint& checkpoint, const CalibrationSet& calibration);

// Runs blocks [work.next_block(), num_hidden_layers). `activations` holds the inputs of the
// first of them (undefined: no calibration). Accumulates each stage's seconds and layers;
// `forward_seconds` gets the time of the passes that compute the next block's inputs.
Status run_blocks(const Checkpoint& checkpoint, std::vector<EngineStage>& stages,
                  const EngineOptions& options, Tensor& activations, WorkDir& work,
                  Progress& progress, double& forward_seconds);

// The true-sequential groups, for tests and reports: {q,k,v}, {o}, {gate,up}, {down}.
const std::vector<std::vector<LinearId>>& sequential_groups();

}  // namespace mcomp::compress
