/* tp_bad_abi: its library needs host ABI 2.0 (the manifest claims 1.0); the loader must refuse
 * it when it reads the entry. */
#define TP_PLUGIN_ID "tp_bad_abi"
#define TP_MIN_HOST_ABI MC_ABI_MAKE(2, 0)
#include "../common/minimal_plugin.h"
