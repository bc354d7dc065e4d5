/* layer.h: techniques that compress one linear layer at a time (GPTQ, SparseGPT, Wanda,
 * RTN, magnitude pruning).
 *
 * For each linear layer the host selects, in true-sequential order inside a block:
 *
 *   begin_layer(info, weight)      once
 *   observe(src)                   once per calibration batch (skipped when the technique
 *                                  does not set MC_LAYER_NEEDS_INPUTS)
 *   plan_result(plan)              once: the plugin says which outputs it will produce
 *   finish_layer(dst)              once: the plugin writes into host-allocated views
 *
 * on one instance. An instance compresses one layer at a time and may be reused for further
 * layers; the host may also create one instance per layer, and the instances of layers that
 * read the same input (q/k/v, gate/up) are then alive together with their observe() calls
 * interleaved. Instances share nothing through the plugin, so each keeps its own statistics
 * (Hessian, norms); destroy() ends an instance. The plugin owns its kernels. All views live on the
 * device of the loaded backend (host memory for a CPU backend; device memory ordered on
 * host->cuda_stream() for CUDA). */
#ifndef MCOMP_LAYER_H
#define MCOMP_LAYER_H

#include "mcomp/abi.h"
#include "mcomp/host.h"
#include "mcomp/params.h"
#include "mcomp/status.h"
#include "mcomp/technique.h"
#include "mcomp/tensor.h"

MC_BEGIN_DECLS

typedef struct mc_layer_info {
    uint32_t struct_size;
    const char* name;     /* full name, e.g. "model.layers.0.self_attn.q_proj" */
    int32_t block_index;  /* decoder block the layer belongs to */
    int64_t in_features;  /* columns of the weight */
    int64_t out_features; /* rows of the weight */
    mc_device device;
} mc_layer_info;

/* Bits of mc_layer_result_plan.outputs. The dense weight is always produced. */
enum {
    MC_RESULT_MASK = 1u << 0, /* a pruning mask */
    MC_RESULT_QUANT = 1u << 1 /* integer codes with scales, zeros and g_idx */
};

typedef struct mc_layer_result_plan {
    uint32_t struct_size;
    uint32_t outputs;   /* MC_RESULT_* bits */
    int64_t num_groups; /* with MC_RESULT_QUANT: columns of scales/zeros per output row */
} mc_layer_result_plan;

/* Host-allocated outputs of finish_layer(); views whose output was not planned have
 * data == NULL. The plugin writes the data and the scalar fields. */
typedef struct mc_layer_result {
    uint32_t struct_size;
    mc_tensor_view weight; /* [out, in] f32: what downstream layers see (dequantized/pruned) */
    mc_tensor_view mask;   /* [out, in] u8, 1 = kept (MC_RESULT_MASK) */
    mc_tensor_view codes;  /* [out, in] u8 integer codes in [0, 2^bits) (MC_RESULT_QUANT) */
    mc_tensor_view scales; /* [out, num_groups] f32 */
    mc_tensor_view zeros;  /* [out, num_groups] f32, integer-valued zero points */
    mc_tensor_view g_idx;  /* [in] i32: the group of each input column */
    int32_t bits;          /* with MC_RESULT_QUANT: 2..8 */
    int32_t group_size;    /* -1: one group per row */
    int32_t sym;           /* non-zero: symmetric grid */
    int32_t desc_act;      /* non-zero: g_idx is not monotonic (act-order) */
} mc_layer_result;

/* Bits of mc_layer_technique.flags. */
enum {
    MC_LAYER_NEEDS_INPUTS = 1u << 0 /* observe() must see the calibration inputs */
};

struct mc_layer_technique {
    uint32_t struct_size;
    uint32_t flags; /* MC_LAYER_* bits */

    /* Creates an instance. `host` outlives the instance; `params` is borrowed for this call
     * (validated against the manifest schema, defaults filled in). */
    mc_status (*create)(const mc_host* host, const mc_params* params, mc_instance** out);

    /* Frees the instance and everything it allocated. Never fails. */
    void (*destroy)(mc_instance* self);

    /* Starts a layer. `weight` is [out, in] f32; it stays valid and unchanged until
     * finish_layer() returns, so the plugin need not copy it. */
    mc_status (*begin_layer)(mc_instance* self, const mc_layer_info* info,
                             const mc_tensor_view* weight);

    /* Sees the inputs of the layer for one calibration batch: src is [tokens, in] f32,
     * valid during this call only. */
    mc_status (*observe)(mc_instance* self, const mc_tensor_view* src);

    /* Declares the outputs finish_layer() will write. */
    mc_status (*plan_result)(mc_instance* self, mc_layer_result_plan* plan);

    /* Compresses the layer into `dst` (allocated by the host from the plan) and drops the
     * layer's statistics. */
    mc_status (*finish_layer)(mc_instance* self, mc_layer_result* dst);
};

MC_END_DECLS

#endif /* MCOMP_LAYER_H */
