// safetensors.hpp: reading (memory-mapped, validated) and writing (atomic) of the
// safetensors format: an 8-byte little-endian header length, a JSON header that maps each
// tensor name to {dtype, shape, data_offsets}, then the raw little-endian data.
// Format: https://github.com/huggingface/safetensors (the Rust crate is the reference for
// what a valid file is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/dtype.hpp"
#include "model/mapped_file.hpp"
#include "util/expected.hpp"

namespace mcomp {

// A borrowed view of one tensor's bytes; valid while the file that owns it lives.
struct TensorView {
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;
    const std::byte* data = nullptr;
    std::size_t num_bytes = 0;

    std::int64_t numel() const;
};

// "[2, 3]", for messages.
std::string shape_to_string(const std::vector<std::int64_t>& shape);

// One safetensors file, mapped read-only. Opening validates the whole header: a file that
// opens has every tensor inside the file, sized as its shape and dtype say, none overlapping.
class SafetensorsFile {
  public:
    static Expected<SafetensorsFile> open(const std::string& path);

    // The tensor called `name`, or null.
    const TensorView* find(std::string_view name) const;

    // Every tensor name, sorted.
    std::vector<std::string> names() const;

    // The free-form "__metadata__" strings of the header.
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    const std::string& path() const { return file_.path(); }

  private:
    MappedFile file_;
    std::map<std::string, TensorView, std::less<>> tensors_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write. `data` is borrowed for the duration of the call.
struct TensorToWrite {
    std::string name;
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;
    const void* data = nullptr;
    std::size_t num_bytes = 0;
};

// Writes a safetensors file atomically: to a temporary file beside `path`, fsync, rename,
// fsync of the folder. As the reference writer does, tensors are laid out widest dtype
// first, then by name, after a header padded with spaces to a multiple of 8 bytes, so every
// tensor starts aligned to its element size. Nothing is left behind on failure.
Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace mcomp
