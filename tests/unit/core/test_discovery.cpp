// test_discovery.cpp: the plugin search path and manifest discovery — every manifest validated,
// broken ones listed with their error, duplicate ids refused, nothing loaded.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/discovery.hpp"

namespace mcomp {
namespace {

namespace fs = std::filesystem;

std::string manifest(const std::string& id, const std::string& technique) {
    return "manifest_version = 1\n[plugin]\nid = \"" + id +
           "\"\nversion = \"1.0\"\nmin_host_abi = \"1.0\"\n[[technique]]\nid = \"" + technique +
           "\"\nkind = \"pruner\"\ngranularity = \"layer\"\ndescription = \"d\"\n"
           "[[backend]]\ndevice = \"cpu\"\nlibrary = \"lib.so\"\n";
}

class Discovery : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("mcomp_discovery_" +
                 std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(root_);
        fs::create_directories(root_);
        root_ = fs::canonical(root_);
    }
    void TearDown() override { fs::remove_all(root_); }

    fs::path write(const fs::path& relative, const std::string& text) {
        fs::create_directories((root_ / relative).parent_path());
        std::ofstream(root_ / relative) << text;
        return root_ / relative;
    }

    fs::path root_;
};

TEST(SearchPath, EnvironmentThenInstallPrefix) {
    const fs::path prefix_dir =
        (executable_path().parent_path() / ".." / "lib" / "mcomp" / "plugins").lexically_normal();
    setenv("MCOMP_PLUGIN_PATH", "/a:/b::/c:", 1);
    EXPECT_EQ(default_plugin_search_path(), (std::vector<fs::path>{"/a", "/b", "/c", prefix_dir}));
    unsetenv("MCOMP_PLUGIN_PATH");
    EXPECT_EQ(default_plugin_search_path(), std::vector<fs::path>{prefix_dir});
    EXPECT_EQ(executable_path().filename(), "test_core_discovery");
}

TEST_F(Discovery, FindsFoldersAndAManifestInTheListedFolder) {
    write("dir1/b/plugin.toml", manifest("b", "tb"));
    write("dir1/a/plugin.toml", manifest("a", "ta"));
    write("dir1/plugin.toml", manifest("top", "ttop"));
    write("dir1/empty/readme.txt", "no manifest here");
    write("dir2/c/plugin.toml", manifest("c", "tc"));
    const mcomp::Discovery found =
        discover_plugins({root_ / "dir1", root_ / "missing", root_ / "dir2", root_ / "dir1"});
    ASSERT_EQ(found.plugins.size(), 4u);
    EXPECT_TRUE(found.broken.empty());
    EXPECT_EQ(found.plugins[0].id, "top");  // the folder's own manifest first
    EXPECT_EQ(found.plugins[1].id, "a");    // then sub-folders by name
    EXPECT_EQ(found.plugins[2].id, "b");
    EXPECT_EQ(found.plugins[3].id, "c");
    EXPECT_EQ(found.plugins[1].dir, root_ / "dir1" / "a");
}

TEST_F(Discovery, ABrokenManifestDoesNotStopTheOthers) {
    write("d/a/plugin.toml", manifest("a", "ta"));
    const fs::path bad = write("d/bad/plugin.toml", "manifest_version = 1\n[plugin\n");
    const fs::path wrong = write("d/wrong/plugin.toml", manifest("wrong", "tw") + "extra = 1\n");
    write("d/z/plugin.toml", manifest("z", "tz"));
    const mcomp::Discovery found = discover_plugins({root_ / "d"});
    ASSERT_EQ(found.plugins.size(), 2u);
    EXPECT_EQ(found.plugins[0].id, "a");
    EXPECT_EQ(found.plugins[1].id, "z");
    ASSERT_EQ(found.broken.size(), 2u);
    EXPECT_EQ(found.broken[0].manifest_path, bad);
    EXPECT_EQ(found.broken[0].plugin_id, "");
    EXPECT_EQ(found.broken[0].error,
              bad.string() +
                  ":2:8: TOML syntax error: Error while parsing table header: expected ']', saw "
                  "'\\n'");
    EXPECT_EQ(found.broken[1].error,
              wrong.string() +
                  ":14:1: backend.extra: unknown key; valid keys: device, library, "
                  "sha256");
}

TEST_F(Discovery, RefusesDuplicateIdsLaterOnThePath) {
    const fs::path first = write("one/p/plugin.toml", manifest("p", "t1"));
    const fs::path again = write("two/p/plugin.toml", manifest("p", "t2"));
    const fs::path clash = write("two/q/plugin.toml", manifest("q", "t1"));
    const mcomp::Discovery found = discover_plugins({root_ / "one", root_ / "two"});
    ASSERT_EQ(found.plugins.size(), 1u);
    EXPECT_EQ(found.plugins[0].path, first);
    ASSERT_EQ(found.broken.size(), 2u);
    EXPECT_EQ(found.broken[0].plugin_id, "p");
    EXPECT_EQ(found.broken[0].error,
              again.string() + ": plugin id 'p' is already taken by " + first.string() +
                  "; remove one of them or take its folder off the search path");
    EXPECT_EQ(found.broken[1].plugin_id, "q");
    EXPECT_EQ(found.broken[1].error,
              clash.string() + ": technique id 't1' is already taken by plugin 'p' (" +
                  first.string() + "); technique ids must be unique across plugins");
}

TEST_F(Discovery, TheSameFolderThroughALinkIsReadOnce) {
    write("real/p/plugin.toml", manifest("p", "t"));
    fs::create_directory_symlink(root_ / "real", root_ / "link");
    const mcomp::Discovery found = discover_plugins({root_ / "real", root_ / "link"});
    EXPECT_EQ(found.plugins.size(), 1u);
    EXPECT_TRUE(found.broken.empty());
}

}  // namespace
}  // namespace mcomp
