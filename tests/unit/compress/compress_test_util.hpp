// compress_test_util.hpp: what the compression engine's tests share — scratch folders, the
// shared model (skip when absent), a registry over the in-tree and test plugins, and
// pipelines written from text.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/pipeline.hpp"
#include "core/registry.hpp"
#include "util/strings.hpp"

namespace mcomp::test {

// A fresh folder removed with the object.
class ScratchDir {
  public:
    explicit ScratchDir(const std::string& tag) {
        std::random_device device;
        path_ = std::filesystem::temp_directory_path() /
                ("mcomp-" + tag + "-" + std::to_string(device()) + std::to_string(device()));
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

inline std::string shared_model_dir() {
    return test_data_dir() + "/models/TinyStories-656K";
}

inline bool have_shared_data() {
    return std::filesystem::exists(shared_model_dir() + "/model.safetensors") &&
           std::filesystem::exists(test_data_dir() + "/data/tinystories/ts_dev.txt");
}

#define MCOMP_SKIP_WITHOUT_SHARED_DATA()                                               \
    if (!::mcomp::test::have_shared_data()) {                                          \
        GTEST_SKIP() << "shared test material not found under "                        \
                     << ::mcomp::test::test_data_dir_for_message()                     \
                     << " (set MCOMP_TEST_DATA to the folder with models/ and data/)"; \
    }

inline std::string test_data_dir_for_message() {
    return test_data_dir();
}

// The in-tree plugins and the compress test plugins (probe, ternary).
inline std::vector<std::filesystem::path> test_plugin_dirs() {
    std::vector<std::filesystem::path> dirs;
    std::string list = MCOMP_TEST_PLUGIN_DIRS;
    std::size_t start = 0;
    while (start <= list.size()) {
        const std::size_t end = std::min(list.find(':', start), list.size());
        if (end > start) {
            dirs.emplace_back(list.substr(start, end - start));
        }
        start = end + 1;
    }
    return dirs;
}

inline Registry& test_registry() {
    static Registry registry(test_plugin_dirs());
    return registry;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

inline std::string read_text(const std::filesystem::path& path) {
    std::string text;
    read_file(path.string(), text);
    return text;
}

// Writes `text` to <dir>/pipeline.toml and parses it against the test registry.
inline Expected<Pipeline> pipeline_from_text(const std::filesystem::path& dir,
                                             const std::string& text) {
    const std::filesystem::path path = dir / "pipeline.toml";
    write_text(path, text);
    return parse_pipeline(path, test_registry().plugins());
}

}  // namespace mcomp::test
