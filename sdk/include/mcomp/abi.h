/* abi.h: the ABI version, export and calling-convention macros shared by every header.
 *
 * The ABI version is MAJOR.MINOR packed in one uint32_t. A plugin states the *minimum* host
 * ABI it needs (mc_plugin_entry.min_host_abi), not the version of the headers it was built
 * with: a host loads a plugin when the majors are equal and the host's minor is at least the
 * plugin's. Structs only grow at their end (struct_size first), so a newer host reads an older
 * plugin's structs and an older plugin never sees fields it does not know. */
#ifndef MCOMP_ABI_H
#define MCOMP_ABI_H

#include <stddef.h>
#include <stdint.h>

#define MC_ABI_VERSION_MAJOR 1u
#define MC_ABI_VERSION_MINOR 0u

/* Packs and unpacks MAJOR.MINOR. */
#define MC_ABI_MAKE(major, minor) \
    ((uint32_t)(((uint32_t)(major) << 16) | ((uint32_t)(minor)&0xffffu)))
#define MC_ABI_MAJOR(version) ((uint32_t)(version) >> 16)
#define MC_ABI_MINOR(version) ((uint32_t)(version)&0xffffu)
#define MC_ABI_VERSION MC_ABI_MAKE(MC_ABI_VERSION_MAJOR, MC_ABI_VERSION_MINOR)

/* True when a host of ABI `host` can load a plugin that needs at least `min_needed`. */
#define MC_ABI_COMPATIBLE(host, min_needed)            \
    (MC_ABI_MAJOR(host) == MC_ABI_MAJOR(min_needed) && \
     MC_ABI_MINOR(host) >= MC_ABI_MINOR(min_needed))

/* The one symbol a plugin exports; everything else stays hidden. */
#if defined(_WIN32)
#define MC_EXPORT __declspec(dllexport)
#else
#define MC_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
#define MC_EXTERN_C extern "C"
#define MC_BEGIN_DECLS extern "C" {
#define MC_END_DECLS }
#else
#define MC_EXTERN_C
#define MC_BEGIN_DECLS
#define MC_END_DECLS
#endif

/* Reads a field that a struct of `struct_size` bytes may be too old to have. */
#define MC_HAS_FIELD(ptr, type, field) \
    ((ptr) != NULL && (ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

#endif /* MCOMP_ABI_H */
