/* tp_wrong_kind: the library says its technique is a pruner; the manifest says quantizer. */
#define TP_PLUGIN_ID "tp_wrong_kind"
#define TP_KIND MC_KIND_PRUNER
#include "../common/minimal_plugin.h"
