/* tp_missing_technique: the manifest lists tp_mt_a and tp_mt_b; the library offers only
 * tp_mt_a. */
#define TP_PLUGIN_ID "tp_missing_technique"
#define TP_TECHNIQUE_ID "tp_mt_a"
#include "../common/minimal_plugin.h"
