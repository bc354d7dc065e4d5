/* log.h: log levels a plugin uses with mc_host.log(). The host routes every line into a
 * spdlog logger named "plugin.<id>". */
#ifndef MCOMP_LOG_H
#define MCOMP_LOG_H

#include "mcomp/abi.h"

MC_BEGIN_DECLS

typedef int32_t mc_log_level;

enum { MC_LOG_TRACE = 1, MC_LOG_DEBUG = 2, MC_LOG_INFO = 3, MC_LOG_WARN = 4, MC_LOG_ERROR = 5 };

MC_END_DECLS

#endif /* MCOMP_LOG_H */
