/* tensor.h: borrowed tensor views, the only way tensors cross the ABI.
 *
 * A view is DLPack-like: element type, device, rank, shape and strides (in elements, not
 * bytes) and a data pointer. The party that passes a view owns the memory; the receiver may
 * read (and, where the contract says so, write) it only during the call it was passed to.
 * Outputs are allocated by the host from shapes the plugin declares, then passed as views. */
#ifndef MCOMP_TENSOR_H
#define MCOMP_TENSOR_H

#include "mcomp/abi.h"

MC_BEGIN_DECLS

#define MC_TENSOR_MAX_DIMS 8

typedef int32_t mc_dtype;
enum {
    MC_DTYPE_F32 = 1,
    MC_DTYPE_F16 = 2,
    MC_DTYPE_BF16 = 3,
    MC_DTYPE_I32 = 4,
    MC_DTYPE_I64 = 5,
    MC_DTYPE_I8 = 6,
    MC_DTYPE_U8 = 7
};

typedef int32_t mc_device_type;
enum { MC_DEVICE_CPU = 1, MC_DEVICE_CUDA = 2 };

typedef struct mc_device {
    mc_device_type type;
    int32_t index; /* CUDA ordinal; 0 for the CPU */
} mc_device;

typedef struct mc_tensor_view {
    uint32_t struct_size; /* sizeof(mc_tensor_view) of the party that filled it */
    mc_dtype dtype;
    mc_device device;
    int32_t ndim; /* 0..MC_TENSOR_MAX_DIMS */
    int64_t shape[MC_TENSOR_MAX_DIMS];
    int64_t strides[MC_TENSOR_MAX_DIMS]; /* in elements; row-major contiguous is the norm */
    void* data;                          /* host or device pointer, per `device` */
} mc_tensor_view;

/* Size in bytes of one element of `dtype`, 0 for an unknown dtype. */
static inline size_t mc_dtype_size(mc_dtype dtype) {
    switch (dtype) {
        case MC_DTYPE_F32:
        case MC_DTYPE_I32:
            return 4;
        case MC_DTYPE_F16:
        case MC_DTYPE_BF16:
            return 2;
        case MC_DTYPE_I64:
            return 8;
        case MC_DTYPE_I8:
        case MC_DTYPE_U8:
            return 1;
        default:
            return 0;
    }
}

/* Number of elements of a view. */
static inline int64_t mc_tensor_numel(const mc_tensor_view* view) {
    int64_t n = 1;
    for (int32_t i = 0; i < view->ndim; ++i) {
        n *= view->shape[i];
    }
    return n;
}

/* Non-zero when the view is row-major contiguous. */
static inline int mc_tensor_is_contiguous(const mc_tensor_view* view) {
    int64_t expected = 1;
    for (int32_t i = view->ndim - 1; i >= 0; --i) {
        if (view->shape[i] != 1 && view->strides[i] != expected) {
            return 0;
        }
        expected *= view->shape[i];
    }
    return 1;
}

MC_END_DECLS

#endif /* MCOMP_TENSOR_H */
