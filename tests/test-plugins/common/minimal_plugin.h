/* minimal_plugin.h: the body of a small C plugin with one layer technique that copies the
 * weight through unchanged. Each misbehaving test plugin defines what it gets wrong and then
 * includes this file:
 *
 *   TP_PLUGIN_ID      plugin id (required)
 *   TP_PLUGIN_VERSION "1.0.0"
 *   TP_MIN_HOST_ABI   MC_ABI_MAKE(1, 0)
 *   TP_TECHNIQUE_ID   the technique's id (default: the plugin id)
 *   TP_KIND           MC_KIND_PRUNER
 *   TP_ENTRY_NAME     mc_plugin_entry_v1 (another name: "no entry symbol")
 *   TP_INIT_FAILS     defined: init() refuses with a message */
#ifndef TP_MINIMAL_PLUGIN_H
#define TP_MINIMAL_PLUGIN_H

#include <stdlib.h>
#include <string.h>

#include "mcomp/mcomp.h"

#ifndef TP_PLUGIN_VERSION
#define TP_PLUGIN_VERSION "1.0.0"
#endif
#ifndef TP_MIN_HOST_ABI
#define TP_MIN_HOST_ABI MC_ABI_MAKE(1, 0)
#endif
#ifndef TP_TECHNIQUE_ID
#define TP_TECHNIQUE_ID TP_PLUGIN_ID
#endif
#ifndef TP_KIND
#define TP_KIND MC_KIND_PRUNER
#endif
#ifndef TP_ENTRY_NAME
#define TP_ENTRY_NAME mc_plugin_entry_v1
#endif
#ifndef TP_EXPORT
#define TP_EXPORT MC_PLUGIN_EXPORT
#endif

struct mc_instance {
    const float* weight; /* borrowed from begin_layer until finish_layer */
    int64_t num_values;
};

static mc_status tp_create(const mc_host* host, const mc_params* params, mc_instance** out) {
    (void)host;
    (void)params;
    *out = (mc_instance*)calloc(1, sizeof(mc_instance));
    return *out != NULL ? MC_OK : MC_ERR_OUT_OF_MEMORY;
}

static void tp_destroy(mc_instance* self) {
    free(self);
}

static mc_status tp_begin_layer(mc_instance* self, const mc_layer_info* info,
                                const mc_tensor_view* weight) {
    (void)info;
    self->weight = (const float*)weight->data;
    self->num_values = mc_tensor_numel(weight);
    return MC_OK;
}

static mc_status tp_observe(mc_instance* self, const mc_tensor_view* src) {
    (void)self;
    (void)src;
    return MC_OK;
}

static mc_status tp_plan_result(mc_instance* self, mc_layer_result_plan* plan) {
    (void)self;
    plan->outputs = 0;
    return MC_OK;
}

static mc_status tp_finish_layer(mc_instance* self, mc_layer_result* dst) {
    memcpy(dst->weight.data, self->weight, (size_t)self->num_values * sizeof(float));
    return MC_OK;
}

static const mc_layer_technique tp_layer = {sizeof(mc_layer_technique),
                                            0,
                                            tp_create,
                                            tp_destroy,
                                            tp_begin_layer,
                                            tp_observe,
                                            tp_plan_result,
                                            tp_finish_layer};

static const mc_technique_descriptor tp_techniques[1] = {
    {sizeof(mc_technique_descriptor), TP_TECHNIQUE_ID, "copies the weight", TP_KIND,
     MC_GRANULARITY_LAYER, &tp_layer, NULL, NULL}};

static mc_status tp_init(const mc_host* host) {
#ifdef TP_INIT_FAILS
    return host->fail(host, MC_ERR_UNSUPPORTED, "this test plugin always refuses to start");
#else
    (void)host;
    return MC_OK;
#endif
}

static void tp_deinit(void) {}

static uint32_t tp_technique_count(void) {
    return 1;
}

static const mc_technique_descriptor* tp_get_technique(uint32_t index) {
    return index == 0 ? &tp_techniques[0] : NULL;
}

TP_EXPORT const mc_plugin_entry TP_ENTRY_NAME = {sizeof(mc_plugin_entry),
                                                 TP_MIN_HOST_ABI,
                                                 TP_PLUGIN_ID,
                                                 TP_PLUGIN_VERSION,
                                                 MC_DEVICE_CPU,
                                                 tp_init,
                                                 tp_deinit,
                                                 tp_technique_count,
                                                 tp_get_technique,
                                                 NULL};

#endif /* TP_MINIMAL_PLUGIN_H */
