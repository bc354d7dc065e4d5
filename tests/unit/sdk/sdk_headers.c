/* sdk_headers.c: every SDK header, included in C (built as C11 and C17, -pedantic). */
#include "mcomp/abi.h"
#include "mcomp/block.h"
#include "mcomp/distiller.h"
#include "mcomp/extension.h"
#include "mcomp/host.h"
#include "mcomp/layer.h"
#include "mcomp/log.h"
#include "mcomp/mcomp.h"
#include "mcomp/params.h"
#include "mcomp/plugin.h"
#include "mcomp/status.h"
#include "mcomp/technique.h"
#include "mcomp/tensor.h"

int mc_sdk_headers_c_probe(void);
int mc_sdk_headers_c_probe(void) {
    mc_tensor_view view = {
        sizeof(mc_tensor_view), MC_DTYPE_F32, {MC_DEVICE_CPU, 0}, 0, {0}, {0}, NULL};
    return (int)mc_dtype_size(view.dtype) + (int)MC_ABI_COMPATIBLE(MC_ABI_VERSION, MC_ABI_VERSION);
}
