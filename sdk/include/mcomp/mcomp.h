/* mcomp.h: the whole SDK in one include, for plugins that use several technique kinds. */
#ifndef MCOMP_MCOMP_H
#define MCOMP_MCOMP_H

#include "mcomp/abi.h"
#include "mcomp/block.h"
#include "mcomp/distiller.h"
#include "mcomp/extension.h"
#include "mcomp/host.h"
#include "mcomp/layer.h"
#include "mcomp/log.h"
#include "mcomp/params.h"
#include "mcomp/plugin.h"
#include "mcomp/status.h"
#include "mcomp/technique.h"
#include "mcomp/tensor.h"

#endif /* MCOMP_MCOMP_H */
