/* block.h: techniques that work on a whole decoder block (AWQ).
 *
 * AWQ's loss is the output of a whole sub-module (attention for q/k/v, the MLP for
 * gate/up), and its scales fold into the op that produces a group's input. So the host
 * describes the block's structure and offers services: read weights and calibration inputs,
 * run a sub-module forward with overridden weights, fold scales, and hand back results.
 *
 * Call order per stage: create, then process_block() once per decoder block, then destroy. */
#ifndef MCOMP_BLOCK_H
#define MCOMP_BLOCK_H

#include "mcomp/abi.h"
#include "mcomp/host.h"
#include "mcomp/layer.h"
#include "mcomp/params.h"
#include "mcomp/status.h"
#include "mcomp/technique.h"
#include "mcomp/tensor.h"

MC_BEGIN_DECLS

typedef int32_t mc_op_kind;
enum {
    MC_OP_NONE = 1,  /* nothing can absorb a scale */
    MC_OP_NORM = 2,  /* an RMSNorm weight: scale folds as w / s */
    MC_OP_LINEAR = 3 /* a linear layer: its output rows fold as W[r, :] / s[r] */
};

typedef struct mc_block_linear {
    uint32_t struct_size;
    const char* name; /* short name inside the block: "q_proj", ..., "down_proj" */
    int64_t in_features;
    int64_t out_features;
    int32_t has_bias;
} mc_block_linear;

/* Linears that read the same input. */
typedef struct mc_block_group {
    uint32_t struct_size;
    const char* input;    /* name of the shared input: "attn_in", "o_in", "mlp_in", "down_in" */
    const char* prev_op;  /* the op producing that input, e.g. "input_layernorm", "v_proj" */
    mc_op_kind prev_kind; /* whether and how prev_op absorbs a scale */
    const char* module;   /* sub-module whose output is the loss: "self_attn", "mlp", or a
                             linear's own name */
    uint32_t num_linears;
    const char* const* linears; /* names from mc_block_info.linears */
} mc_block_group;

typedef struct mc_block_info {
    uint32_t struct_size;
    int32_t block_index;
    int64_t num_tokens; /* calibration tokens stored for this block */
    mc_device device;
    uint32_t num_linears;
    const mc_block_linear* linears;
    uint32_t num_groups;
    const mc_block_group* groups;
} mc_block_info;

typedef struct mc_weight_override {
    uint32_t struct_size;
    const char* linear;           /* short name */
    const mc_tensor_view* weight; /* [out, in] f32, borrowed for the forward call */
} mc_weight_override;

/* Services for one process_block() call; `ctx` goes back as the first argument. Views
 * returned through `dst` stay valid until process_block() returns, except forward()'s, which
 * stays valid until the next forward() call. */
typedef struct mc_block_services {
    uint32_t struct_size;
    void* ctx;

    /* The current weight of a linear, [out, in] f32, read-only. */
    mc_status (*get_weight)(void* ctx, const char* linear, mc_tensor_view* dst);

    /* The calibration input of a group, [tokens, in] f32, read-only. */
    mc_status (*get_input)(void* ctx, const char* group_input, mc_tensor_view* dst);

    /* Runs `module` (as named in mc_block_group.module) on `src` ([tokens, in] f32; NULL: the
     * module's stored calibration input) with the given weights replaced, and returns its
     * output [tokens, out] f32 in `dst`. */
    mc_status (*forward)(void* ctx, const char* module, const mc_tensor_view* src,
                         uint32_t num_overrides, const mc_weight_override* overrides,
                         mc_tensor_view* dst);

    /* Folds per-channel scales s ([in] f32) into a group: the group's linears get their input
     * columns multiplied by s and prev_op is divided by s, so the block computes the same
     * function. Fails when prev_kind is MC_OP_NONE. */
    mc_status (*apply_scale)(void* ctx, const char* group_input, const mc_tensor_view* scales);

    /* Allocates the result views of a linear from a plan, as for layer techniques. */
    mc_status (*alloc_result)(void* ctx, const char* linear, const mc_layer_result_plan* plan,
                              mc_layer_result* dst);

    /* Hands back a linear's compressed result (filled views from alloc_result()). */
    mc_status (*commit_result)(void* ctx, const char* linear, const mc_layer_result* result);
} mc_block_services;

struct mc_block_technique {
    uint32_t struct_size;
    uint32_t flags; /* reserved, 0 */
    mc_status (*create)(const mc_host* host, const mc_params* params, mc_instance** out);
    void (*destroy)(mc_instance* self);
    /* Compresses one block: every linear of the block gets a commit_result(). */
    mc_status (*process_block)(mc_instance* self, const mc_block_info* info,
                               const mc_block_services* services);
};

MC_END_DECLS

#endif /* MCOMP_BLOCK_H */
