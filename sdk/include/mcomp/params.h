/* params.h: the validated parameters a technique instance is created with.
 *
 * The host validates a stage's params against the technique's schema in its manifest (type,
 * range, allowed values, unknown keys) and fills in defaults, so a plugin receives every
 * parameter its schema declares, each with the declared type. Strings and the array are
 * borrowed for the duration of create(); copy what you keep. */
#ifndef MCOMP_PARAMS_H
#define MCOMP_PARAMS_H

#include <string.h>

#include "mcomp/abi.h"

MC_BEGIN_DECLS

typedef int32_t mc_param_type;
enum { MC_PARAM_INT = 1, MC_PARAM_FLOAT = 2, MC_PARAM_BOOL = 3, MC_PARAM_STRING = 4 };

typedef struct mc_param {
    uint32_t struct_size;
    const char* name;
    mc_param_type type;
    int64_t int_value;        /* MC_PARAM_INT; also 0/1 for MC_PARAM_BOOL */
    double float_value;       /* MC_PARAM_FLOAT */
    const char* string_value; /* MC_PARAM_STRING, NUL-terminated UTF-8 */
} mc_param;

typedef struct mc_params {
    uint32_t struct_size;
    uint32_t count;
    const mc_param* items;
} mc_params;

/* The parameter called `name`, or NULL. */
static inline const mc_param* mc_params_find(const mc_params* params, const char* name) {
    if (params == NULL || name == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < params->count; ++i) {
        if (params->items[i].name != NULL && strcmp(params->items[i].name, name) == 0) {
            return &params->items[i];
        }
    }
    return NULL;
}

MC_END_DECLS

#endif /* MCOMP_PARAMS_H */
