/* technique.h: what every technique descriptor has in common.
 *
 * A plugin library offers one or more techniques. Each is described by an
 * mc_technique_descriptor whose kind and granularity say which interface table it fills:
 *
 *   quantizer or pruner, granularity LAYER  -> layer   (layer.h: GPTQ, SparseGPT, Wanda, RTN)
 *   quantizer or pruner, granularity BLOCK  -> block   (block.h: AWQ)
 *   distiller                               -> distiller (distiller.h: MiniLM KD)
 *
 * The other two pointers are NULL. Descriptors are static data owned by the plugin and live
 * until its deinit(). An instance (mc_instance) is created by the interface's create() and
 * belongs to the plugin; calls on one instance are serialized by the host. */
#ifndef MCOMP_TECHNIQUE_H
#define MCOMP_TECHNIQUE_H

#include "mcomp/abi.h"

MC_BEGIN_DECLS

typedef int32_t mc_technique_kind;
enum { MC_KIND_QUANTIZER = 1, MC_KIND_PRUNER = 2, MC_KIND_DISTILLER = 3 };

typedef int32_t mc_granularity;
enum {
    MC_GRANULARITY_LAYER = 1, /* one linear layer at a time */
    MC_GRANULARITY_BLOCK = 2, /* one decoder block at a time, with sub-module forwards */
    MC_GRANULARITY_MODEL = 3  /* the whole model (distillers) */
};

/* Opaque per-instance state, defined by each plugin. */
typedef struct mc_instance mc_instance;

typedef struct mc_layer_technique mc_layer_technique;
typedef struct mc_block_technique mc_block_technique;
typedef struct mc_distiller mc_distiller;

typedef struct mc_technique_descriptor {
    uint32_t struct_size;
    const char* id;          /* matches [[technique]] id in the manifest */
    const char* description; /* one line, for `mcomp plugins show` */
    mc_technique_kind kind;
    mc_granularity granularity;
    const mc_layer_technique* layer; /* exactly one of these three is non-NULL */
    const mc_block_technique* block;
    const mc_distiller* distiller;
} mc_technique_descriptor;

MC_END_DECLS

#endif /* MCOMP_TECHNIQUE_H */
