/* status.h: status codes returned by every fallible ABI function.
 *
 * MC_OK is 0; every other value says which kind of failure happened. The human-readable
 * detail travels separately through mc_host.fail() (host.h), which copies the message. */
#ifndef MCOMP_STATUS_H
#define MCOMP_STATUS_H

#include "mcomp/abi.h"

MC_BEGIN_DECLS

typedef int32_t mc_status;

enum {
    MC_OK = 0,
    MC_ERR_INVALID_ARGUMENT = 1, /* a parameter or tensor the caller passed is unusable */
    MC_ERR_UNSUPPORTED = 2,      /* valid, but this technique/backend cannot do it */
    MC_ERR_OUT_OF_MEMORY = 3,    /* an allocation failed */
    MC_ERR_NUMERICAL = 4,        /* e.g. a factorization that failed even after retries */
    MC_ERR_DEVICE = 5,           /* the device (CUDA) reported an error */
    MC_ERR_CANCELLED = 6,        /* the plugin saw is_cancelled() and stopped */
    MC_ERR_INTERNAL = 7,         /* a bug: an invariant did not hold, an exception escaped */
    MC_ERR_ABI = 8               /* version or struct mismatch between host and plugin */
};

MC_END_DECLS

#endif /* MCOMP_STATUS_H */
