/* tp_malformed: a valid library whose manifest is not valid TOML (line 4). */
#define TP_PLUGIN_ID "tp_malformed"
#include "../common/minimal_plugin.h"
