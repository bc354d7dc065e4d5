/* tp_shadow: offers a technique id that tp_good already has; discovery keeps the first (tp_good
 * sorts before it) and lists this plugin as broken. */
#define TP_PLUGIN_ID "tp_shadow"
#define TP_TECHNIQUE_ID "tp_scale"
#include "../common/minimal_plugin.h"
