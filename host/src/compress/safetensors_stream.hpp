// safetensors_stream.hpp: a safetensors writer that asks for one tensor's bytes at a time,
// so a checkpoint larger than memory is written with one tensor resident. The layout is
// that of model/safetensors.hpp's write_safetensors (the reference writer's: wider dtypes
// first, then by name; header padded with spaces to a multiple of 8), so both writers give
// the same bytes for the same tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "model/dtype.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct StreamTensor {
    std::string name;
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;

    std::size_t num_bytes() const;
};

// Fills `dst` with the bytes [offset_bytes, offset_bytes + dst.size()) of tensors[index].
// Tensors are asked for in chunks of at most kStreamChunkBytes, in order, so a writer holds
// one chunk of a large tensor at a time.
using FillTensor =
    std::function<Status(std::size_t index, std::size_t offset_bytes, std::span<std::byte> dst)>;

// 16 MiB: a multiple of every element size.
inline constexpr std::size_t kStreamChunkBytes = std::size_t{16} << 20;

// Writes `path` (not atomically: the caller writes into a staging folder) and fsyncs it.
// `fill` is called once per tensor, in file order.
Status write_safetensors_streamed(const std::string& path, const std::vector<StreamTensor>& tensors,
                                  const std::map<std::string, std::string>& metadata,
                                  const FillTensor& fill);

// The weights of a Hugging Face model folder: `dir`/model.safetensors, or, when the tensors
// exceed `max_shard_bytes`, shards model-0000k-of-0000n.safetensors filled in name order
// plus model.safetensors.index.json ({"metadata": {"total_size"}, "weight_map"}), as
// transformers' save_pretrained lays them out. Every file carries {"format": "pt"}, which
// transformers expects. `fill` gets indices into `tensors`.
Status write_model_weights(const std::filesystem::path& dir,
                           const std::vector<StreamTensor>& tensors, std::size_t max_shard_bytes,
                           const FillTensor& fill);

// transformers' default max_shard_size ("5GB").
inline constexpr std::size_t kDefaultMaxShardBytes = std::size_t{5} * 1000 * 1000 * 1000;

}  // namespace mcomp::compress
