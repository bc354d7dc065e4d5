/* host.h: the services the host offers a plugin.
 *
 * The host passes one mc_host to mc_plugin_entry.init() (plugin-wide: logging, extensions)
 * and one to every technique create() (per instance: also progress, cancellation, failure
 * details, allocation, the CUDA stream). Every function takes the mc_host it came from as its
 * first argument. All pointers stay valid until the matching deinit()/destroy().
 *
 * Threads: log, is_cancelled and progress may be called from any thread a plugin starts
 * inside a call; the other services only from the thread that made the call. */
#ifndef MCOMP_HOST_H
#define MCOMP_HOST_H

#include "mcomp/abi.h"
#include "mcomp/log.h"
#include "mcomp/status.h"
#include "mcomp/tensor.h"

MC_BEGIN_DECLS

typedef struct mc_host mc_host;

struct mc_host {
    uint32_t struct_size;
    uint32_t abi_version; /* the host's MC_ABI_VERSION */
    void* host_data;      /* private to the host: never touch */

    /* Writes one log line (UTF-8, copied) into the logger "plugin.<id>". */
    void (*log)(const mc_host* host, mc_log_level level, const char* message);

    /* Reports progress of the current call: `done` of `total` units of `what` (e.g. "columns").
     * The host rate-limits and renders it; calling it often is cheap. */
    void (*progress)(const mc_host* host, int64_t done, int64_t total, const char* what);

    /* Non-zero once the user asked to stop (SIGINT). Long loops check it and return
     * MC_ERR_CANCELLED at the next point where stopping leaves no half-written state. */
    int32_t (*is_cancelled)(const mc_host* host);

    /* Records why the current call fails and returns `code`, so a plugin can write
     * `return host->fail(host, MC_ERR_INVALID_ARGUMENT, "...")`. The message is copied. The
     * last message before a failing return is what the user sees. */
    mc_status (*fail)(const mc_host* host, mc_status code, const char* message);

    /* Allocates `num_bytes` on `device`, aligned to at least 256 bytes; NULL on failure.
     * CUDA memory comes from the host's pool and is ordered on the host's stream. Free it
     * with free_memory() on the same device before destroy() returns. */
    void* (*alloc)(const mc_host* host, mc_device device, size_t num_bytes);
    void (*free_memory)(const mc_host* host, mc_device device, void* ptr);

    /* The cudaStream_t (as an opaque pointer) every CUDA kernel of this instance must run on;
     * NULL on a CPU backend. The host synchronizes it after each call returns. */
    void* (*cuda_stream)(const mc_host* host);

    /* A named host extension "mc.<name>/<rev>", or NULL when this host lacks it. */
    const void* (*get_extension)(const mc_host* host, const char* name);
};

MC_END_DECLS

#endif /* MCOMP_HOST_H */
