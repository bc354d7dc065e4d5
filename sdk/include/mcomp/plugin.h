/* plugin.h: the one symbol a plugin library exports.
 *
 * Every backend library of a plugin (one per device: CPU, CUDA) exports exactly one object:
 *
 *     MC_PLUGIN_EXPORT const mc_plugin_entry mc_plugin_entry_v1 = { ... };
 *
 * The host reads it right after loading the library (RTLD_NOW | RTLD_LOCAL) and checks, in
 * this order: struct_size, min_host_abi against its own ABI, the plugin id and device against
 * the manifest, then init(), then that every technique the manifest lists is offered with the
 * declared kind and granularity. A library is never unloaded while one of its instances
 * lives, and never from static destructors at exit.
 *
 * Threads: init, deinit, technique_count, get_technique and get_extension are called from the
 * host's main thread only. */
#ifndef MCOMP_PLUGIN_H
#define MCOMP_PLUGIN_H

#include "mcomp/abi.h"
#include "mcomp/host.h"
#include "mcomp/status.h"
#include "mcomp/technique.h"
#include "mcomp/tensor.h"

MC_BEGIN_DECLS

#define MC_PLUGIN_ENTRY_SYMBOL "mc_plugin_entry_v1"

typedef struct mc_plugin_entry {
    uint32_t struct_size;
    uint32_t min_host_abi;      /* MC_ABI_MAKE(major, minor) the plugin needs at least */
    const char* plugin_id;      /* equals [plugin] id of the manifest */
    const char* plugin_version; /* equals [plugin] version of the manifest */
    mc_device_type device;      /* the backend this library implements */

    /* Called once after loading. `host` (plugin-wide services) stays valid until deinit().
     * A failure is reported through host->fail() and the library is not used. */
    mc_status (*init)(const mc_host* host);

    /* Called once before the host stops using the library; every instance is destroyed. */
    void (*deinit)(void);

    uint32_t (*technique_count)(void);

    /* Descriptor `index` < technique_count(); static data valid until deinit(). */
    const mc_technique_descriptor* (*get_technique)(uint32_t index);

    /* A named plugin extension (extension.h), or NULL. May be NULL itself. */
    const void* (*get_extension)(const char* name);
} mc_plugin_entry;

#define MC_PLUGIN_EXPORT MC_EXTERN_C MC_EXPORT

MC_END_DECLS

#endif /* MCOMP_PLUGIN_H */
