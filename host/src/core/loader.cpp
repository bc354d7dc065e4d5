// loader.cpp: see loader.hpp.
#include "core/loader.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <cxxabi.h>
#include <cstddef>
#include <exception>
#include <map>
#include <mutex>
#include <typeinfo>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/dll/shared_library.hpp>

#include "core/sha256.hpp"
#include "mcomp/block.h"
#include "mcomp/distiller.h"
#include "mcomp/layer.h"

namespace mcomp {

namespace fs = std::filesystem;

// ---- calling plugin code --------------------------------------------------------------------

namespace {

std::string exception_text() {
    try {
        throw;
    } catch (const std::exception& e) {
        int status = 0;
        char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
        const std::string type = status == 0 && name != nullptr ? name : typeid(e).name();
        std::free(name);
        return fmt::format("{}: {}", type, e.what());
    } catch (...) {
        return "an exception of unknown type";
    }
}

Error escaped_exception(std::string_view label, std::string_view function) {
    return make_error(ErrorKind::internal,
                      fmt::format("{}: {} let a C++ exception escape ({}); a plugin must return "
                                  "an mc_status instead, so this is a bug in the plugin",
                                  label, function, exception_text()));
}

}  // namespace

Status call_plugin(HostServices& host, std::string_view label, std::string_view function,
                   const std::function<mc_status()>& fn) {
    host.clear_failure();
    mc_status status = MC_OK;
    try {
        status = fn();
    } catch (...) {
        // The last line of defence: a raw C table compiled as C++ may still throw.
        const Error error = escaped_exception(label, function);
        (void)host.synchronize();
        return error;
    }
    const Status synced = host.synchronize();
    if (status == MC_OK) {
        return synced;
    }
    const PluginFailure failure = host.take_failure();
    const std::string details =
        failure.message.empty() ? "(the plugin gave no details)" : failure.message;
    return make_error(
        status_error_kind(status),
        fmt::format("{}: {} failed with {}: {}", label, function, status_name(status), details));
}

Status call_plugin_void(HostServices& host, std::string_view label, std::string_view function,
                        const std::function<void()>& fn) {
    return call_plugin(host, label, function, [&] {
        fn();
        return MC_OK;
    });
}

// ---- LoadedBackend --------------------------------------------------------------------------

LoadedBackend::LoadedBackend(PluginManifest manifest, DeviceKind device)
    : manifest_(std::move(manifest)), device_(device) {}

const BackendManifest& LoadedBackend::backend() const {
    return *manifest_.find_backend(device_);
}

const mc_technique_descriptor* LoadedBackend::find_descriptor(std::string_view technique_id) const {
    for (const mc_technique_descriptor* descriptor : descriptors_) {
        if (technique_id == descriptor->id) {
            return descriptor;
        }
    }
    return nullptr;
}

std::string LoadedTechnique::label() const {
    return fmt::format("plugin '{}' technique '{}'", plugin_id(), manifest->id);
}

Expected<LoadedTechnique> find_loaded_technique(const LoadedBackend& backend,
                                                std::string_view technique_id) {
    LoadedTechnique out;
    out.backend = &backend;
    out.manifest = backend.manifest().find_technique(technique_id);
    out.descriptor = backend.find_descriptor(technique_id);
    if (out.manifest == nullptr || out.descriptor == nullptr) {
        return make_error(ErrorKind::not_found, fmt::format("plugin '{}' has no technique '{}'",
                                                            backend.manifest().id, technique_id));
    }
    return out;
}

// ---- loading --------------------------------------------------------------------------------

// The smallest entry and descriptors a v1.0 plugin can have: every field of ABI 1.0.
constexpr size_t kMinEntrySize = offsetof(mc_plugin_entry, get_extension) + sizeof(void*);
constexpr size_t kMinDescriptorSize = offsetof(mc_technique_descriptor, distiller) + sizeof(void*);
constexpr size_t kMinLayerTableSize = offsetof(mc_layer_technique, finish_layer) + sizeof(void*);
constexpr size_t kMinBlockTableSize = offsetof(mc_block_technique, process_block) + sizeof(void*);
constexpr size_t kMinDistillerSize = offsetof(mc_distiller, train) + sizeof(void*);
constexpr size_t kMaxStructSize = 64 * 1024;  // anything larger is garbage, not a newer ABI
constexpr uint32_t kMaxTechniques = 1024;

class BackendLoader {
  public:
    BackendLoader(const PluginManifest& manifest, DeviceKind device, const BackendManifest& backend)
        : manifest_(manifest), device_(device), backend_(backend) {
        prefix_ = fmt::format("plugin '{}' ({} backend {})", manifest.id, device_kind_name(device),
                              backend.library_path.string());
    }

    Expected<std::unique_ptr<LoadedBackend>> load();

  private:
    Error refuse(const std::string& message, ErrorKind kind = ErrorKind::bad_input) const {
        return make_error(kind, prefix_ + ": " + message);
    }
    Status check_file() const;
    Expected<const mc_plugin_entry*> open_entry();
    Status check_entry(const mc_plugin_entry& raw, size_t object_size, LoadedBackend& out) const;
    Status check_techniques(LoadedBackend& out) const;
    Status check_descriptor(const mc_technique_descriptor& d, const TechniqueManifest& m) const;

    const PluginManifest& manifest_;
    DeviceKind device_;
    const BackendManifest& backend_;
    std::string prefix_;
};

Status BackendLoader::check_file() const {
    const fs::path& path = backend_.library_path;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return refuse(fmt::format("the library file is missing; build the plugin, or fix "
                                  "[[backend]] library in {}",
                                  manifest_.path.string()),
                      ErrorKind::not_found);
    }
    // The manifest was checked at discovery; the file may have become a link since.
    const fs::path real = fs::canonical(path, ec);
    const fs::path real_dir = fs::canonical(manifest_.dir, ec);
    const auto rel = real.lexically_relative(real_dir);
    if (ec || rel.empty() || *rel.begin() == "..") {
        return refuse(
            fmt::format("the library resolves to {}, outside the plugin's folder", real.string()));
    }
    if (!backend_.sha256.empty()) {
        Expected<std::string> digest = sha256_file(path);
        if (!digest) {
            return refuse(digest.error().message, digest.error().kind);
        }
        if (*digest != backend_.sha256) {
            return refuse(fmt::format("sha256 mismatch: the manifest says {}, the file has {}",
                                      backend_.sha256, *digest));
        }
    }
    return {};
}

Expected<const mc_plugin_entry*> BackendLoader::open_entry() {
    // Deliberately never destroyed: a loaded plugin stays mapped until the process ends.
    auto* library = new boost::dll::shared_library();
    boost::dll::fs::error_code ec;
    library->load(backend_.library_path.string(),
                  boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec) {
        const char* why = dlerror();
        delete library;
        return refuse(fmt::format("cannot load the library: {}", why ? why : ec.message()));
    }
    void* symbol = dlsym(library->native(), MC_PLUGIN_ENTRY_SYMBOL);
    if (symbol == nullptr) {
        return refuse(
            "not an mcomp plugin: the library does not export the symbol "
            "mc_plugin_entry_v1");
    }
    return static_cast<const mc_plugin_entry*>(symbol);
}

Status BackendLoader::check_entry(const mc_plugin_entry& raw, size_t object_size,
                                  LoadedBackend& out) const {
    if (raw.struct_size < kMinEntrySize || raw.struct_size > kMaxStructSize ||
        (object_size > 0 && raw.struct_size > object_size)) {
        return refuse(fmt::format("mc_plugin_entry_v1.struct_size is {}, expected at least {} "
                                  "(and no more than the object's {} bytes)",
                                  raw.struct_size, kMinEntrySize, object_size),
                      ErrorKind::bad_input);
    }
    // Zero-extend an older (shorter) struct; ignore fields a newer one has beyond ours.
    std::memcpy(&out.entry_, &raw, std::min<size_t>(raw.struct_size, sizeof(mc_plugin_entry)));
    const mc_plugin_entry& entry = out.entry_;
    if (!MC_ABI_COMPATIBLE(MC_ABI_VERSION, entry.min_host_abi)) {
        return refuse(fmt::format("the library needs host ABI {}, this host has {}",
                                  format_abi_version(entry.min_host_abi),
                                  format_abi_version(MC_ABI_VERSION)));
    }
    if (entry.plugin_id == nullptr || manifest_.id != entry.plugin_id) {
        return refuse(fmt::format("the library says plugin_id \"{}\", the manifest says \"{}\"",
                                  entry.plugin_id ? entry.plugin_id : "(null)", manifest_.id));
    }
    if (entry.plugin_version == nullptr || manifest_.version != entry.plugin_version) {
        return refuse(
            fmt::format("the library says plugin_version \"{}\", the manifest says "
                        "\"{}\"",
                        entry.plugin_version ? entry.plugin_version : "(null)", manifest_.version));
    }
    if (entry.device != static_cast<mc_device_type>(device_)) {
        const char* found = entry.device == MC_DEVICE_CPU    ? "cpu"
                            : entry.device == MC_DEVICE_CUDA ? "cuda"
                                                             : "unknown";
        return refuse(
            fmt::format("the library says device {}, the manifest lists it as the {} "
                        "backend",
                        found, device_kind_name(device_)));
    }
    if (entry.init == nullptr || entry.technique_count == nullptr ||
        entry.get_technique == nullptr) {
        return refuse("mc_plugin_entry_v1 lacks init, technique_count or get_technique");
    }
    return {};
}

Status BackendLoader::check_descriptor(const mc_technique_descriptor& d,
                                       const TechniqueManifest& m) const {
    const std::string what = fmt::format("technique '{}'", m.id);
    const auto kind = static_cast<TechniqueKind>(d.kind);
    if (d.kind < MC_KIND_QUANTIZER || d.kind > MC_KIND_DISTILLER || kind != m.kind) {
        return refuse(fmt::format("{} is a {} in the library but a {} in the manifest", what,
                                  d.kind >= MC_KIND_QUANTIZER && d.kind <= MC_KIND_DISTILLER
                                      ? technique_kind_name(kind)
                                      : "(unknown kind)",
                                  technique_kind_name(m.kind)));
    }
    const auto granularity = static_cast<Granularity>(d.granularity);
    if (d.granularity < MC_GRANULARITY_LAYER || d.granularity > MC_GRANULARITY_MODEL ||
        granularity != m.granularity) {
        return refuse(fmt::format(
            "{} has granularity {} in the library but {} in the manifest", what,
            d.granularity >= MC_GRANULARITY_LAYER && d.granularity <= MC_GRANULARITY_MODEL
                ? granularity_name(granularity)
                : "(unknown)",
            granularity_name(m.granularity)));
    }
    bool usable = false;
    switch (m.granularity) {
        case Granularity::layer:
            usable = d.layer != nullptr && d.layer->struct_size >= kMinLayerTableSize &&
                     d.layer->struct_size <= kMaxStructSize && d.layer->create != nullptr &&
                     d.layer->destroy != nullptr && d.layer->begin_layer != nullptr &&
                     d.layer->plan_result != nullptr && d.layer->finish_layer != nullptr &&
                     (d.layer->observe != nullptr || (d.layer->flags & MC_LAYER_NEEDS_INPUTS) == 0);
            break;
        case Granularity::block:
            usable = d.block != nullptr && d.block->struct_size >= kMinBlockTableSize &&
                     d.block->struct_size <= kMaxStructSize && d.block->create != nullptr &&
                     d.block->destroy != nullptr && d.block->process_block != nullptr;
            break;
        case Granularity::model:
            usable = d.distiller != nullptr && d.distiller->struct_size >= kMinDistillerSize &&
                     d.distiller->struct_size <= kMaxStructSize && d.distiller->create != nullptr &&
                     d.distiller->destroy != nullptr && d.distiller->get_taps != nullptr &&
                     d.distiller->train != nullptr;
            break;
    }
    if (!usable) {
        return refuse(
            fmt::format("{} has no usable {} function table (missing, too small, or "
                        "with NULL functions)",
                        what, granularity_name(m.granularity)));
    }
    return {};
}

Status BackendLoader::check_techniques(LoadedBackend& out) const {
    const mc_plugin_entry& entry = out.entry_;
    HostServices& host = *out.host_;
    const std::string label = fmt::format("plugin '{}'", manifest_.id);
    uint32_t count = 0;
    MCOMP_TRY(
        call_plugin_void(host, label, "technique_count", [&] { count = entry.technique_count(); }));
    if (count > kMaxTechniques) {
        return refuse(fmt::format("technique_count() returned {}", count));
    }
    for (uint32_t i = 0; i < count; ++i) {
        const mc_technique_descriptor* d = nullptr;
        MCOMP_TRY(
            call_plugin_void(host, label, "get_technique", [&] { d = entry.get_technique(i); }));
        if (d == nullptr || d->struct_size < kMinDescriptorSize ||
            d->struct_size > kMaxStructSize || d->id == nullptr) {
            return refuse(fmt::format("get_technique({}) returned no usable descriptor", i));
        }
        const TechniqueManifest* m = manifest_.find_technique(d->id);
        if (m == nullptr) {
            return refuse(
                fmt::format("the library offers technique '{}', which the manifest "
                            "does not list",
                            d->id));
        }
        if (out.find_descriptor(d->id) != nullptr) {
            return refuse(fmt::format("the library offers technique '{}' twice", d->id));
        }
        MCOMP_TRY(check_descriptor(*d, *m));
        out.descriptors_.push_back(d);
    }
    for (const TechniqueManifest& m : manifest_.techniques) {
        if (out.find_descriptor(m.id) == nullptr) {
            return refuse(
                fmt::format("the manifest lists technique '{}', but the library does "
                            "not offer it",
                            m.id));
        }
    }
    return {};
}

Expected<std::unique_ptr<LoadedBackend>> BackendLoader::load() {
    MCOMP_TRY(check_file());
    Expected<const mc_plugin_entry*> raw = open_entry();
    if (!raw) {
        return raw.error();
    }
    // The symbol must be a data object (an mc_plugin_entry), not a function.
    Dl_info info = {};
    void* symbol_entry = nullptr;
    size_t object_size = 0;
    if (dladdr1(*raw, &info, &symbol_entry, RTLD_DL_SYMENT) != 0 && symbol_entry != nullptr) {
        const auto* symbol = static_cast<const ElfW(Sym)*>(symbol_entry);
        if (ELF64_ST_TYPE(symbol->st_info) != STT_OBJECT) {
            return refuse(
                "mc_plugin_entry_v1 is not a data object; export "
                "'const mc_plugin_entry mc_plugin_entry_v1 = {...}'");
        }
        object_size = symbol->st_size;
    }
    if (object_size != 0 && object_size < sizeof(uint32_t)) {
        return refuse("mc_plugin_entry_v1 is too small to be an mc_plugin_entry");
    }
    auto out = std::make_unique<LoadedBackend>(manifest_, device_);
    MCOMP_TRY(check_entry(**raw, object_size, *out));
    out->host_ = std::make_unique<HostServices>(manifest_.id, "",
                                                mc_device{static_cast<mc_device_type>(device_), 0});
    const std::string label = fmt::format("plugin '{}'", manifest_.id);
    const mc_plugin_entry& entry = out->entry_;
    const Status init =
        call_plugin(*out->host_, label, "init", [&] { return entry.init(out->host_->raw()); });
    if (!init) {
        return refuse(init.error().message.substr(label.size() + 2), init.error().kind);
    }
    const Status techniques = check_techniques(*out);
    if (!techniques) {
        if (entry.deinit != nullptr) {
            (void)call_plugin_void(*out->host_, label, "deinit", [&] { entry.deinit(); });
        }
        return techniques.error();
    }
    spdlog::debug("loaded plugin '{}' {} ({} backend, {} technique(s)) from {}", manifest_.id,
                  manifest_.version, device_kind_name(device_), out->descriptors_.size(),
                  backend_.library_path.string());
    return out;
}

namespace {

// Every load attempt, by library path; never destroyed (see loader.hpp).
struct LoadStore {
    std::mutex mutex;
    std::map<std::string, std::unique_ptr<LoadedBackend>> loaded;
    std::map<std::string, Error> refused;
};

LoadStore& load_store() {
    static LoadStore* store = new LoadStore();
    return *store;
}

}  // namespace

Expected<const LoadedBackend*> load_backend(const PluginManifest& manifest, DeviceKind device) {
    const BackendManifest* backend = manifest.find_backend(device);
    if (backend == nullptr) {
        return make_error(
            ErrorKind::unsupported,
            fmt::format("plugin '{}' has no {} backend in its manifest {}", manifest.id,
                        device_kind_name(device), manifest.path.string()));
    }
    LoadStore& store = load_store();
    const std::lock_guard<std::mutex> lock(store.mutex);
    const std::string key = backend->library_path.string();
    if (auto it = store.loaded.find(key); it != store.loaded.end()) {
        return static_cast<const LoadedBackend*>(it->second.get());
    }
    if (auto it = store.refused.find(key); it != store.refused.end()) {
        return it->second;
    }
    BackendLoader loader(manifest, device, *backend);
    Expected<std::unique_ptr<LoadedBackend>> loaded = loader.load();
    if (!loaded) {
        if (loaded.error().kind != ErrorKind::not_found) {  // a missing file may be built later
            store.refused.emplace(key, loaded.error());
        }
        return loaded.error();
    }
    const LoadedBackend* out = loaded->get();
    store.loaded.emplace(key, std::move(*loaded));
    return out;
}

}  // namespace mcomp
