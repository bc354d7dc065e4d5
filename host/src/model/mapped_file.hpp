// mapped_file.hpp: a read-only memory map of a whole file (POSIX mmap), so checkpoint
// tensors are used in place and paged in by the kernel only when a block needs them.
#pragma once

#include <cstddef>
#include <string>

#include "util/expected.hpp"

namespace mcomp {

class MappedFile {
  public:
    MappedFile() = default;
    ~MappedFile();
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    // Maps `path` read-only. An empty file maps to size 0 and a null data pointer.
    static Expected<MappedFile> open(const std::string& path);

    const std::byte* data() const { return data_; }
    std::size_t size() const { return num_bytes_; }
    const std::string& path() const { return path_; }

  private:
    void release();

    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t num_bytes_ = 0;
};

}  // namespace mcomp
