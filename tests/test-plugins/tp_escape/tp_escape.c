/* tp_escape: a valid library, but the manifest points its backend outside the plugin's folder;
 * discovery refuses the manifest before anything is loaded. */
#define TP_PLUGIN_ID "tp_escape"
#include "../common/minimal_plugin.h"
