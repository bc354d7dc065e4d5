/* tp_init_fails: init() refuses through host->fail(); the host reports the message. */
#define TP_PLUGIN_ID "tp_init_fails"
#define TP_INIT_FAILS 1
#include "../common/minimal_plugin.h"
