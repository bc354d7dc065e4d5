// test_loader.cpp: the real host loads the test plugins (tests/test-plugins): each misbehaving
// one is refused with its exact message, the good one loads, and one bad plugin does not stop
// the others.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/registry.hpp"
#include "core/sha256.hpp"

namespace mcomp {
namespace {

namespace fs = std::filesystem;

fs::path plugin_dir() {
    return fs::canonical(MCOMP_TEST_PLUGIN_DIR);
}

std::string lib(const std::string& id) {
    return (plugin_dir() / id / ("libmcomp_" + id + "_cpu.so")).string();
}

std::string prefix(const std::string& id) {
    return "plugin '" + id + "' (cpu backend " + lib(id) + "): ";
}

TEST(Loader, DiscoveryListsGoodAndBrokenManifests) {
    const Registry registry({plugin_dir()});
    std::vector<std::string> ids;
    for (const PluginManifest& plugin : registry.plugins()) {
        ids.push_back(plugin.id);
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"tp_bad_abi", "tp_cuda", "tp_good", "tp_init_fails",
                                             "tp_missing_technique", "tp_no_entry", "tp_throws",
                                             "tp_wrong_kind"}));
    ASSERT_EQ(registry.broken().size(), 3u);
    const std::string dir = plugin_dir().string();
    EXPECT_EQ(registry.broken()[0].error,
              dir +
                  "/tp_escape/plugin.toml:13:11: backend.library: expected a file inside the "
                  "plugin's folder, found \"../tp_good/libmcomp_tp_good_cpu.so\"");
    EXPECT_EQ(registry.broken()[1].error,
              dir +
                  "/tp_malformed/plugin.toml:4:17: TOML syntax error: Error while parsing "
                  "string: unescaped control characters other than TAB (U+0009) are "
                  "explicitly prohibited");
    EXPECT_EQ(registry.broken()[2].error,
              dir +
                  "/tp_shadow/plugin.toml: technique id 'tp_scale' is already taken by plugin "
                  "'tp_good' (" +
                  dir + "/tp_good/plugin.toml); technique ids must be unique across plugins");
    EXPECT_EQ(registry.find_broken("tp_escape"), &registry.broken()[0]);
    EXPECT_EQ(registry.find_broken("tp_malformed"), &registry.broken()[1]);
}

struct Refusal {
    const char* plugin;
    std::string message;
    ErrorKind kind;
};

void PrintTo(const Refusal& c, std::ostream* os) {
    *os << c.plugin;
}

class LoaderRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(LoaderRefuses, WithExactMessage) {
    const Registry registry({plugin_dir()});
    for (int attempt = 0; attempt < 2; ++attempt) {  // a refusal is remembered, not retried
        Expected<const LoadedBackend*> backend = registry.load(GetParam().plugin, DeviceKind::cpu);
        ASSERT_FALSE(backend) << GetParam().plugin << " loaded";
        EXPECT_EQ(backend.error().message, prefix(GetParam().plugin) + GetParam().message);
        EXPECT_EQ(backend.error().kind, GetParam().kind);
    }
}

INSTANTIATE_TEST_SUITE_P(
    TestPlugins, LoaderRefuses,
    ::testing::Values(
        Refusal{"tp_bad_abi", "the library needs host ABI 2.0, this host has 1.0",
                ErrorKind::bad_input},
        Refusal{"tp_no_entry",
                "not an mcomp plugin: the library does not export the symbol mc_plugin_entry_v1",
                ErrorKind::bad_input},
        Refusal{"tp_missing_technique",
                "the manifest lists technique 'tp_mt_b', but the library does not offer it",
                ErrorKind::bad_input},
        Refusal{"tp_wrong_kind",
                "technique 'tp_wrong_kind' is a pruner in the library but a quantizer in the "
                "manifest",
                ErrorKind::bad_input},
        Refusal{"tp_init_fails",
                "init failed with MC_ERR_UNSUPPORTED: this test plugin always refuses to start",
                ErrorKind::unsupported}),
    [](const auto& info) { return std::string(info.param.plugin); });

TEST(Loader, OneBadPluginDoesNotStopTheOthers) {
    const Registry registry({plugin_dir()});
    for (const PluginManifest& plugin : registry.plugins()) {
        (void)registry.load(plugin.id, DeviceKind::cpu);  // refusals included
    }
    Expected<const LoadedBackend*> good = registry.load("tp_good", DeviceKind::cpu);
    ASSERT_TRUE(good) << good.error().message;
    const LoadedBackend& backend = **good;
    EXPECT_EQ(backend.device(), DeviceKind::cpu);
    EXPECT_STREQ(backend.entry().plugin_version, "1.2.3");
    EXPECT_EQ(backend.entry().struct_size, sizeof(mc_plugin_entry));
    ASSERT_EQ(backend.descriptors().size(), 3u);
    EXPECT_NE(backend.find_descriptor("tp_block")->block, nullptr);
    EXPECT_EQ(*registry.load("tp_good", DeviceKind::cpu), &backend);  // loaded once

    Expected<const LoadedBackend*> throws = registry.load("tp_throws", DeviceKind::cpu);
    EXPECT_TRUE(throws) << throws.error().message;
}

TEST(Loader, TechniquesAndDevices) {
    const Registry registry({plugin_dir()});
    const PluginManifest& good = *registry.find_plugin("tp_good");
    EXPECT_EQ(registry.backend_state(good, DeviceKind::cpu), BackendState::available);
    EXPECT_EQ(registry.backend_state(good, DeviceKind::cuda), BackendState::not_built);
    EXPECT_EQ(describe_backend(DeviceKind::cuda, BackendState::not_built), "cuda (not built)");
    EXPECT_EQ(describe_backend(DeviceKind::cuda, BackendState::no_gpu), "cuda (no GPU)");
    EXPECT_EQ(describe_backend(DeviceKind::cpu, BackendState::available), "cpu");

    Expected<LoadedTechnique> scale =
        registry.load_technique("tp_scale", DeviceRequest::auto_select);
    ASSERT_TRUE(scale) << scale.error().message;
    EXPECT_EQ(scale->device(), DeviceKind::cpu);
    EXPECT_EQ(scale->label(), "plugin 'tp_good' technique 'tp_scale'");
    EXPECT_EQ(scale->manifest->kind, TechniqueKind::pruner);

    Expected<LoadedTechnique> cuda = registry.load_technique("tp_scale", DeviceRequest::cuda);
    ASSERT_FALSE(cuda);
    EXPECT_EQ(cuda.error().message,
              "plugin 'tp_good' has no cuda backend built; use device = \"cpu\" or \"auto\"");

    Expected<LoadedTechnique> unknown = registry.load_technique("tp_scal", DeviceRequest::cpu);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().message,
              "unknown technique 'tp_scal'; did you mean 'tp_scale'? (3 plugin(s) could not be "
              "read; see 'mcomp plugins list')");

    Expected<LoadedTechnique> none = find_loaded_technique(*scale->backend, "nope");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message, "plugin 'tp_good' has no technique 'nope'");
}

TEST(Loader, BrokenAndUnknownPlugins) {
    const Registry registry({plugin_dir()});
    Expected<const LoadedBackend*> broken = registry.load("tp_escape", DeviceKind::cpu);
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().message,
              "plugin 'tp_escape' is broken: " + registry.find_broken("tp_escape")->error);
    Expected<const LoadedBackend*> unknown = registry.load("tp_god", DeviceKind::cpu);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, ErrorKind::not_found);
    EXPECT_EQ(unknown.error().message,
              "unknown plugin 'tp_god'; did you mean 'tp_good'? (3 plugin(s) could not be read; "
              "see 'mcomp plugins list')");
    Expected<const LoadedBackend*> no_cuda = registry.load("tp_good", DeviceKind::cuda);
    ASSERT_FALSE(no_cuda);
    EXPECT_EQ(no_cuda.error().message,
              "plugin 'tp_good' (cuda backend " +
                  (plugin_dir() / "tp_good" / "libmcomp_tp_good_cuda.so").string() +
                  "): the library file is missing; build the plugin, or fix [[backend]] library "
                  "in " +
                  (plugin_dir() / "tp_good" / "plugin.toml").string());
}

// A CUDA backend is never loaded where no driver and GPU answer: asking is a clear error and
// the library stays out of the process.
TEST(Loader, NoCudaBackendWithoutAGpu) {
    const CudaProbe& cuda = probe_cuda();
    if (cuda.available()) {
        GTEST_SKIP() << "a GPU answers here; test_core_layer_runner_cuda covers this machine";
    }
    const Registry registry({plugin_dir()});
    const PluginManifest& plugin = *registry.find_plugin("tp_cuda");
    const fs::path library = plugin_dir() / "tp_cuda" / "libmcomp_tp_cuda_cuda.so";
    Expected<LoadedTechnique> asked = registry.load_technique("tp_cuda_scale", DeviceRequest::cuda);
    Expected<LoadedTechnique> automatic =
        registry.load_technique("tp_cuda_scale", DeviceRequest::auto_select);
    ASSERT_FALSE(asked);
    ASSERT_FALSE(automatic);
    EXPECT_EQ(asked.error().kind, ErrorKind::unsupported);
    if (fs::exists(library)) {
        EXPECT_EQ(
            registry.backend_state(plugin, DeviceKind::cuda),
            cuda.host_built_with_cuda ? BackendState::no_gpu : BackendState::host_without_cuda);
        EXPECT_EQ(asked.error().message,
                  "plugin 'tp_cuda': device \"cuda\" was asked for, but CUDA is not usable here: " +
                      cuda.detail + "; use device = \"cpu\" or \"auto\"");
        EXPECT_EQ(automatic.error().message,
                  "plugin 'tp_cuda' has only a cuda backend, and CUDA is not usable here: " +
                      cuda.detail);
        EXPECT_EQ(dlopen(library.c_str(), RTLD_NOW | RTLD_NOLOAD), nullptr);
    } else {
        EXPECT_EQ(registry.backend_state(plugin, DeviceKind::cuda), BackendState::not_built);
        EXPECT_EQ(asked.error().message,
                  "plugin 'tp_cuda' has no cuda backend built; use device = \"cpu\" or \"auto\"");
        EXPECT_EQ(automatic.error().message, "plugin 'tp_cuda' has no backend built");
    }
}

// ---- copies of tp_good in a scratch folder: sha256, missing and relinked libraries ------------

class LoaderCopies : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("mcomp_loader_" +
                 std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "plugins" / "tp_good");
        fs::create_directories(root_ / "elsewhere");
        root_ = fs::canonical(root_);
        dir_ = root_ / "plugins" / "tp_good";
        library_ = dir_ / "libmcomp_tp_good_cpu.so";
    }
    void TearDown() override { fs::remove_all(root_); }

    // The good manifest, with `extra` appended to its cpu [[backend]] table.
    void write_manifest(const std::string& extra) {
        std::ifstream in(plugin_dir() / "tp_good" / "plugin.toml");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string cpu = "library = \"libmcomp_tp_good_cpu.so\"\n";
        text.replace(text.find(cpu), cpu.size(), cpu + extra);
        std::ofstream(dir_ / "plugin.toml") << text;
    }
    void copy_library(const fs::path& to) { fs::copy_file(lib("tp_good"), to); }

    fs::path root_;
    fs::path dir_;
    fs::path library_;
};

TEST(Sha256, KnownVector) {
    const fs::path file = fs::temp_directory_path() / "mcomp_sha256_abc.txt";
    std::ofstream(file) << "abc";
    EXPECT_EQ(*sha256_file(file),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    fs::remove(file);
}

TEST_F(LoaderCopies, MissingLibraryIsNotBuilt) {
    write_manifest("");
    const Registry registry({root_ / "plugins"});
    ASSERT_EQ(registry.plugins().size(), 1u);
    EXPECT_EQ(registry.backend_state(registry.plugins()[0], DeviceKind::cpu),
              BackendState::not_built);
    Expected<const LoadedBackend*> backend = registry.load("tp_good", DeviceKind::cpu);
    ASSERT_FALSE(backend);
    EXPECT_EQ(backend.error().kind, ErrorKind::not_found);
    EXPECT_EQ(backend.error().message,
              "plugin 'tp_good' (cpu backend " + library_.string() +
                  "): the library file is missing; build the plugin, or fix [[backend]] library "
                  "in " +
                  (dir_ / "plugin.toml").string());
    copy_library(library_);  // built later: the next attempt loads it
    EXPECT_TRUE(registry.load("tp_good", DeviceKind::cpu));
}

TEST_F(LoaderCopies, Sha256IsCheckedBeforeLoading) {
    copy_library(library_);
    const std::string wrong(64, '0');
    write_manifest("sha256 = \"" + wrong + "\"\n");
    const Registry registry({root_ / "plugins"});
    Expected<const LoadedBackend*> backend = registry.load("tp_good", DeviceKind::cpu);
    ASSERT_FALSE(backend);
    EXPECT_EQ(backend.error().message, "plugin 'tp_good' (cpu backend " + library_.string() +
                                           "): sha256 mismatch: the manifest says " + wrong +
                                           ", the file has " + *sha256_file(library_));
}

TEST_F(LoaderCopies, MatchingSha256Loads) {
    copy_library(library_);
    write_manifest("sha256 = \"" + *sha256_file(library_) + "\"\n");
    const Registry registry({root_ / "plugins"});
    Expected<const LoadedBackend*> backend = registry.load("tp_good", DeviceKind::cpu);
    ASSERT_TRUE(backend) << backend.error().message;
    EXPECT_EQ((*backend)->backend().library_path, library_);
}

TEST_F(LoaderCopies, LibraryRelinkedOutsideAfterDiscovery) {
    copy_library(library_);
    write_manifest("");
    const Registry registry({root_ / "plugins"});
    ASSERT_EQ(registry.plugins().size(), 1u);
    fs::remove(library_);
    copy_library(root_ / "elsewhere" / "lib.so");
    fs::create_symlink(root_ / "elsewhere" / "lib.so", library_);
    Expected<const LoadedBackend*> backend = registry.load("tp_good", DeviceKind::cpu);
    ASSERT_FALSE(backend);
    EXPECT_EQ(backend.error().message,
              "plugin 'tp_good' (cpu backend " + library_.string() + "): the library resolves to " +
                  (root_ / "elsewhere" / "lib.so").string() + ", outside the plugin's folder");
}

}  // namespace
}  // namespace mcomp
