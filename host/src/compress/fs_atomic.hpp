// fs_atomic.hpp: the file operations behind "never a half-written output": whole files
// written and fsync'ed, folders fsync'ed after their entries change, and a folder built
// beside its final place and renamed into it in one step (rename(2) is atomic within a
// file system).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "util/expected.hpp"

namespace mcomp::compress {

// Writes `text` to `path` through `path`.tmp-<pid> + fsync + rename + fsync of the folder.
Status write_file_atomic(const std::filesystem::path& path, std::string_view text);

// Copies a file and fsyncs the copy.
Status copy_file_synced(const std::filesystem::path& src, const std::filesystem::path& dst);

// fsync of a file or folder by path; io error on failure.
Status fsync_path(const std::filesystem::path& path);

// A fresh folder beside `final_dir` ("<final>.tmp-<pid>"), removed with what it holds
// unless commit() moved it into place.
class StagingDir {
  public:
    static Expected<StagingDir> create(const std::filesystem::path& final_dir);
    StagingDir(StagingDir&& other) noexcept;
    StagingDir& operator=(StagingDir&&) = delete;
    StagingDir(const StagingDir&) = delete;
    StagingDir& operator=(const StagingDir&) = delete;
    ~StagingDir();

    const std::filesystem::path& path() const { return path_; }

    // fsyncs every file and folder inside, then renames the folder to `final_dir`
    // (replacing an existing folder there when `replace`), and fsyncs the parent.
    Status commit(bool replace);

  private:
    StagingDir(std::filesystem::path path, std::filesystem::path final_dir);

    std::filesystem::path path_;
    std::filesystem::path final_dir_;
    bool committed_ = false;
};

}  // namespace mcomp::compress
