/* extension.h: named extensions, the way new capabilities arrive without breaking the ABI.
 *
 * Names are "mc.<name>/<rev>". A plugin asks the host with mc_host.get_extension(); the host
 * asks a plugin with mc_plugin_entry.get_extension(). Both return NULL for a name they do not
 * know, and a returned struct starts with struct_size like every other. A revision that
 * changes meaning gets a new name ("/2"); the old one keeps working as long as it is offered. */
#ifndef MCOMP_EXTENSION_H
#define MCOMP_EXTENSION_H

#include "mcomp/abi.h"

MC_BEGIN_DECLS

/* Host extension: facts about the host a plugin may want to log or size its work by. */
#define MC_EXT_HOST_INFO "mc.host-info/1"

typedef struct mc_ext_host_info {
    uint32_t struct_size;
    const char* host_version; /* e.g. "0.1.0" */
    int32_t num_threads;      /* CPU threads the plugin may use inside a call */
} mc_ext_host_info;

MC_END_DECLS

#endif /* MCOMP_EXTENSION_H */
