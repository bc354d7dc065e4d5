/* tp_no_entry: exports mc_plugin_entry_v2 instead of mc_plugin_entry_v1, so the host finds no
 * entry symbol. Built with a plain add_library (no version script). */
#define TP_PLUGIN_ID "tp_no_entry"
#define TP_ENTRY_NAME mc_plugin_entry_v2
#include "../common/minimal_plugin.h"
