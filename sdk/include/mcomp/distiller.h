/* distiller.h: techniques that train a smaller student from a teacher (MiniLM-style KD).
 *
 * The host builds the student from the teacher as the pipeline manifest says (fewer layers
 * and/or narrower) and initialises its weights; the distiller asks for the teacher
 * activations it needs (taps), receives batches, trains the student with its own
 * forward/backward kernels, and leaves the trained weights in the student's tensors.
 *
 * Call order: create, get_taps (once), train (once), destroy. */
#ifndef MCOMP_DISTILLER_H
#define MCOMP_DISTILLER_H

#include "mcomp/abi.h"
#include "mcomp/host.h"
#include "mcomp/params.h"
#include "mcomp/status.h"
#include "mcomp/technique.h"
#include "mcomp/tensor.h"

MC_BEGIN_DECLS

/* The shape of a Llama-family decoder. */
typedef struct mc_model_shape {
    uint32_t struct_size;
    int32_t num_layers;
    int64_t hidden_size;
    int64_t intermediate_size;
    int32_t num_heads;
    int32_t num_kv_heads;
    int64_t head_dim;
    int64_t vocab_size;
    double rms_norm_eps;
    double rope_theta;
} mc_model_shape;

typedef int32_t mc_tap_kind;
enum {
    MC_TAP_ATTN_QUERY = 1, /* [batch, heads, seq, head_dim], after RoPE */
    MC_TAP_ATTN_KEY = 2,   /* [batch, kv_heads, seq, head_dim], after RoPE */
    MC_TAP_ATTN_VALUE = 3, /* [batch, kv_heads, seq, head_dim] */
    MC_TAP_ATTN_PROBS = 4, /* [batch, heads, seq, seq], causal softmax */
    MC_TAP_HIDDEN = 5,     /* [batch, seq, hidden], output of the layer */
    MC_TAP_LOGITS = 6      /* [batch, seq, vocab]; layer ignored */
};

typedef struct mc_tap {
    uint32_t struct_size;
    mc_tap_kind kind;
    int32_t layer; /* teacher layer index; -1 = the last */
} mc_tap;

/* Services for train(); `ctx` goes back as the first argument. Views stay valid until the
 * next call of the same service or until train() returns, whichever comes first. */
typedef struct mc_distill_services {
    uint32_t struct_size;
    void* ctx;
    mc_model_shape teacher;
    mc_model_shape student;
    int64_t num_batches;

    /* Token ids of batch `index`: [batch, seq] i32. */
    mc_status (*get_batch)(void* ctx, int64_t index, mc_tensor_view* dst);

    /* The teacher activation for tap `tap_index` (as returned by get_taps) on batch `index`. */
    mc_status (*teacher_tap)(void* ctx, int64_t index, uint32_t tap_index, mc_tensor_view* dst);

    /* A teacher weight by Hugging Face name, read-only. */
    mc_status (*teacher_weight)(void* ctx, const char* name, mc_tensor_view* dst);

    /* The student's weights: count, name by index, and a writable view by name. What the
     * plugin leaves in these views when train() returns is the student checkpoint. */
    uint32_t (*num_student_weights)(void* ctx);
    const char* (*student_weight_name)(void* ctx, uint32_t index);
    mc_status (*student_weight)(void* ctx, const char* name, mc_tensor_view* dst);
} mc_distill_services;

struct mc_distiller {
    uint32_t struct_size;
    uint32_t flags; /* reserved, 0 */
    mc_status (*create)(const mc_host* host, const mc_params* params, mc_instance** out);
    void (*destroy)(mc_instance* self);
    /* The taps the distiller needs; the array is owned by the instance. */
    mc_status (*get_taps)(mc_instance* self, uint32_t* count, const mc_tap** taps);
    /* Trains the student in place. */
    mc_status (*train)(mc_instance* self, const mc_distill_services* services);
};

MC_END_DECLS

#endif /* MCOMP_DISTILLER_H */
