// loader.hpp: loading a plugin backend library with Boost.DLL and checking it against its
// manifest, and the one way the host calls into plugin code (call_plugin).
//
// Checks, in order (plugin.h): the library file exists (and matches sha256 when the manifest
// gives one); the symbol mc_plugin_entry_v1 exists; struct_size is sane; min_host_abi is
// compatible with this host; plugin_id, plugin_version and device equal the manifest's; init()
// succeeds; the library offers exactly the techniques the manifest lists, with the same kind
// and granularity and a usable function table. A library that passed stays loaded until the
// process ends: it sits in a store that is deliberately never destroyed, so no instance
// outlives its code and deinit() is never called from a static destructor.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/host_services.hpp"
#include "core/manifest.hpp"
#include "mcomp/plugin.h"
#include "util/expected.hpp"

namespace mcomp {

class LoadedBackend {
  public:
    LoadedBackend(PluginManifest manifest, DeviceKind device);
    LoadedBackend(const LoadedBackend&) = delete;
    LoadedBackend& operator=(const LoadedBackend&) = delete;

    const PluginManifest& manifest() const { return manifest_; }
    const BackendManifest& backend() const;
    DeviceKind device() const { return device_; }
    // The library's entry, copied and zero-extended to this host's sizeof(mc_plugin_entry).
    const mc_plugin_entry& entry() const { return entry_; }
    const std::vector<const mc_technique_descriptor*>& descriptors() const { return descriptors_; }
    const mc_technique_descriptor* find_descriptor(std::string_view technique_id) const;
    // The plugin-wide services given to init().
    HostServices& host() const { return *host_; }

  private:
    friend class BackendLoader;
    PluginManifest manifest_;
    DeviceKind device_ = DeviceKind::cpu;
    mc_plugin_entry entry_ = {};
    std::vector<const mc_technique_descriptor*> descriptors_;
    std::unique_ptr<HostServices> host_;
};

// Loads the `device` backend of `manifest`, or returns the one already loaded from the same
// library file. A refusal is remembered too: asking again gives the same error.
Expected<const LoadedBackend*> load_backend(const PluginManifest& manifest, DeviceKind device);

// A technique of a loaded backend, ready to instantiate.
struct LoadedTechnique {
    const LoadedBackend* backend = nullptr;
    const TechniqueManifest* manifest = nullptr;  // from backend->manifest()
    const mc_technique_descriptor* descriptor = nullptr;

    DeviceKind device() const { return backend->device(); }
    const std::string& plugin_id() const { return backend->manifest().id; }
    // "plugin 'rtn' technique 'rtn'", the prefix of messages about calls into it.
    std::string label() const;
};

Expected<LoadedTechnique> find_loaded_technique(const LoadedBackend& backend,
                                                std::string_view technique_id);

// Runs one call into plugin code: clears the failure slot of `host`, calls `fn`, contains
// any C++ exception that escapes the C boundary (a plugin bug, reported as such), waits for
// the instance's CUDA stream, and turns a status other than MC_OK into an Error:
//   "<label>: <function> failed with MC_ERR_...: <the message given to fail()>"
Status call_plugin(HostServices& host, std::string_view label, std::string_view function,
                   const std::function<mc_status()>& fn);

// Same, for calls that return nothing (destroy, deinit): only exceptions are contained.
Status call_plugin_void(HostServices& host, std::string_view label, std::string_view function,
                        const std::function<void()>& fn);

}  // namespace mcomp
