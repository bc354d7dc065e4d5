// fs_atomic.cpp: see fs_atomic.hpp.
#include "compress/fs_atomic.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>

namespace mcomp::compress {

namespace fs = std::filesystem;

namespace {

Error io_error(const fs::path& path, std::string_view what) {
    return make_error(ErrorKind::io,
                      fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

Status write_fd(int fd, const char* data, std::size_t num_bytes, const fs::path& path) {
    while (num_bytes > 0) {
        const ssize_t written = ::write(fd, data, num_bytes);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return io_error(path, "write failed");
        }
        data += written;
        num_bytes -= static_cast<std::size_t>(written);
    }
    return {};
}

}  // namespace

Status fsync_path(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return io_error(path, "cannot open for fsync");
    }
    const int synced = ::fsync(fd);
    ::close(fd);
    if (synced != 0) {
        return io_error(path, "fsync failed");
    }
    return {};
}

Status write_file_atomic(const fs::path& path, std::string_view text) {
    const fs::path temp = path.string() + ".tmp-" + std::to_string(::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return io_error(temp, "cannot create");
    }
    Status status = write_fd(fd, text.data(), text.size(), temp);
    if (status && ::fsync(fd) != 0) {
        status = io_error(temp, "fsync failed");
    }
    ::close(fd);
    if (status && std::rename(temp.c_str(), path.c_str()) != 0) {
        status = io_error(path, "cannot rename the temporary file into place");
    }
    if (!status) {
        ::unlink(temp.c_str());
        return status;
    }
    return fsync_path(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

Status copy_file_synced(const fs::path& src, const fs::path& dst) {
    std::error_code ec;
    fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    if (!ec) {
        // The copy is the user's to edit, even when the source is read-only material.
        fs::permissions(dst,
                        fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read,
                        ec);
    }
    if (ec) {
        return make_error(ErrorKind::io, fmt::format("cannot copy {} to {}: {}", src.string(),
                                                     dst.string(), ec.message()));
    }
    return fsync_path(dst);
}

// ---- StagingDir ---------------------------------------------------------------------------

StagingDir::StagingDir(fs::path path, fs::path final_dir)
    : path_(std::move(path)), final_dir_(std::move(final_dir)) {}

StagingDir::StagingDir(StagingDir&& other) noexcept
    : path_(std::move(other.path_)),
      final_dir_(std::move(other.final_dir_)),
      committed_(other.committed_) {
    other.committed_ = true;  // the moved-from object owns nothing
}

Expected<StagingDir> StagingDir::create(const fs::path& final_dir) {
    fs::path clean = final_dir.lexically_normal();
    if (clean.filename().empty()) {  // "out/": the folder is "out"
        clean = clean.parent_path();
    }
    const fs::path parent = clean.parent_path().empty() ? fs::path(".") : clean.parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot create the folder: {}",
                                                     parent.string(), ec.message()));
    }
    const fs::path path = clean.string() + ".tmp-" + std::to_string(::getpid());
    fs::remove_all(path, ec);
    if (!fs::create_directory(path, ec) || ec) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot create the staging folder: {}",
                                                     path.string(), ec.message()));
    }
    return StagingDir(path, clean);
}

StagingDir::~StagingDir() {
    if (!committed_ && !path_.empty()) {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
}

Status StagingDir::commit(bool replace) {
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(path_, ec)) {
        MCOMP_TRY(fsync_path(entry.path()));
    }
    MCOMP_TRY(fsync_path(path_));
    fs::path old;
    if (fs::exists(final_dir_, ec)) {
        if (!replace) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: the output folder exists; remove it or pass "
                                          "--force to replace it",
                                          final_dir_.string()));
        }
        // Moved aside first: the final name holds the old or the new output, never a part.
        old = final_dir_.string() + ".old-" + std::to_string(::getpid());
        fs::remove_all(old, ec);
        if (std::rename(final_dir_.c_str(), old.c_str()) != 0) {
            return io_error(final_dir_, "cannot move the existing output aside");
        }
    }
    if (std::rename(path_.c_str(), final_dir_.c_str()) != 0) {
        return io_error(final_dir_, "cannot rename the finished output into place");
    }
    committed_ = true;
    const fs::path parent =
        final_dir_.parent_path().empty() ? fs::path(".") : final_dir_.parent_path();
    MCOMP_TRY(fsync_path(parent));
    if (!old.empty()) {
        fs::remove_all(old, ec);
    }
    return {};
}

}  // namespace mcomp::compress
