// mapped_file.cpp: see mapped_file.hpp.
#include "model/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mcomp {

MappedFile::~MappedFile() {
    release();
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      num_bytes_(std::exchange(other.num_bytes_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        num_bytes_ = std::exchange(other.num_bytes_, 0);
    }
    return *this;
}

void MappedFile::release() {
    if (data_ != nullptr) {
        munmap(const_cast<std::byte*>(data_), num_bytes_);
        data_ = nullptr;
        num_bytes_ = 0;
    }
}

Expected<MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return make_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io,
                          path + ": cannot open: " + std::strerror(err));
    }
    struct stat info {};
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        return make_error(ErrorKind::io, path + ": not a regular file");
    }
    MappedFile file;
    file.path_ = path;
    file.num_bytes_ = static_cast<std::size_t>(info.st_size);
    if (file.num_bytes_ > 0) {
        void* address = mmap(nullptr, file.num_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (address == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            file.num_bytes_ = 0;
            return make_error(ErrorKind::io, path + ": cannot mmap: " + std::strerror(err));
        }
        file.data_ = static_cast<const std::byte*>(address);
    }
    ::close(fd);  // the mapping keeps the file alive
    return file;
}

}  // namespace mcomp
