// cli.cpp: see cli.hpp.
#include "cli.hpp"

#include <cstdio>

#include "core/discovery.hpp"

namespace mcomp::cli {

int exit_code_for(const Error& error) {
    switch (error.kind) {
        case ErrorKind::bad_input:
        case ErrorKind::not_found:
        case ErrorKind::io:
            return kExitBadInput;
        case ErrorKind::cancelled:
            return kExitCancelled;
        case ErrorKind::unsupported:
        case ErrorKind::internal:
            return kExitInternal;
    }
    return kExitInternal;
}

int report(const Error& error) {
    std::fprintf(stderr, "mcomp: error: %s\n", error.message.c_str());
    return exit_code_for(error);
}

Registry& Context::registry() {
    if (!registry_) {
        registry_ = std::make_unique<Registry>(default_plugin_search_path());
    }
    return *registry_;
}

}  // namespace mcomp::cli
