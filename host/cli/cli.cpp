// cli.cpp: see cli.hpp.
#include "cli.hpp"

#include <cstdio>

#include "core/discovery.hpp"
#include "core/host_services.hpp"
#include "model/hub.hpp"

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

Expected<CommandLineModel> open_command_line_model(const std::string& name) {
    HubOptions hub = HubOptions::from_env();
    hub.is_cancelled = [] { return cancel_requested(); };
    Expected<std::string> dir = resolve_model(name, hub);
    if (!dir) {
        return dir.error();
    }
    Expected<compress::OpenedModel> opened = compress::open_model(*dir);
    if (!opened) {
        return opened.error();
    }
    Expected<Tokenizer> tokenizer = Tokenizer::load(*dir);
    if (!tokenizer) {
        return tokenizer.error();
    }
    return CommandLineModel{*dir, std::move(*opened), std::move(*tokenizer)};
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
