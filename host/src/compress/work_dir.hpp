// work_dir.hpp: the resumable state of a run, in a folder next to the output
// ("<output>.mcomp-work"). After each finished block the engine commits:
//
//   block-<i>.safetensors    the block's compressed linears: "<prefix>.weight" F32 (what
//                            later blocks saw) and, for quantized layers, ".codes" U8,
//                            ".scales" F32 (already rounded), ".zeros" F32, ".g_idx" I32;
//                            per-layer facts in the __metadata__ key "mcomp.layers" (JSON)
//   activations-<i+1>.bin    the calibration activations entering block i+1: raw
//                            little-endian fp32 [samples, seqlen, hidden]
//   state.json               {"format": 1, "pipeline_hash", "next_block": i+1, "notes"}
//
// each written to a temporary name, fsync'ed and renamed; state.json last, so a run killed
// at any instant (SIGKILL included) finds a state.json that names files that are complete.
// A new run with the same pipeline hash continues at next_block; any other hash (or
// --fresh) starts over with an empty folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compress/compressed_linear.hpp"
#include "model/safetensors.hpp"
#include "runtime/tensor.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

// "<output dir>.mcomp-work", beside the output folder.
std::filesystem::path work_dir_for(const std::filesystem::path& output_dir);

class WorkDir {
  public:
    // Opens `dir`, creating it when needed; resumes when its state has `pipeline_hash`
    // (and `fresh` is false), else clears it.
    static Expected<WorkDir> open(const std::filesystem::path& dir,
                                  const std::string& pipeline_hash, bool fresh);

    const std::filesystem::path& dir() const { return dir_; }
    bool resumed() const { return resumed_; }
    std::int64_t next_block() const { return next_block_; }

    // Free-form facts carried across restarts (the perplexity before, timings).
    nlohmann::json& notes() { return notes_; }
    const nlohmann::json& notes() const { return notes_; }
    // Rewrites state.json with the current notes.
    Status save_notes();

    // Reads activations-<block>.bin into `dst` (allocated with the expected shape).
    Status load_activations(std::int64_t block, Tensor& dst) const;

    // Commits block `block` as described above; `next_activations` may be null (no
    // calibration, or the last block). With `resume_point` false only the block file is
    // written: state.json keeps naming the last block whose entering activations are saved,
    // so a resumed run recomputes from there (saving many GiB of activations after every
    // block would cost more than recomputing a few blocks). Blocks must still be committed
    // in order.
    Status commit_block(std::int64_t block, const std::vector<CompressedLinear>& records,
                        const Tensor* next_activations, bool resume_point = true);

    std::filesystem::path block_file(std::int64_t block) const;

    // Removes the folder (after the output is in place).
    Status remove();

  private:
    std::filesystem::path activations_file(std::int64_t block) const;
    Status write_state();

    std::filesystem::path dir_;
    std::string pipeline_hash_;
    std::int64_t next_block_ = 0;
    bool resumed_ = false;
    nlohmann::json notes_ = nlohmann::json::object();
};

// The compressed linears of one committed block, memory-mapped.
class BlockRecords {
  public:
    static Expected<BlockRecords> open(const std::filesystem::path& path);

    // Prefixes of the layers the block file holds, sorted.
    std::vector<std::string> prefixes() const;
    bool contains(const std::string& prefix) const { return meta_.contains(prefix); }

    // The facts recorded for a layer (block, linear, shape, quantized, bits, ...), or null.
    const nlohmann::json* meta(const std::string& prefix) const;

    // One layer copied into memory (weight, and the quantized form when it has one); the
    // pages it was read from are given back to the kernel. Without `with_weight` a quantized
    // layer comes without its fp32 weight (a packed writer needs only the codes).
    Expected<CompressedLinear> read(const std::string& prefix, bool with_weight = true) const;

    // Returns the pages of the mapping to the kernel (the writer reads each block once).
    void drop_pages() const;

  private:
    SafetensorsFile file_;
    nlohmann::json meta_;
};

}  // namespace mcomp::compress
