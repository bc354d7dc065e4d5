// main.cpp: the `mcomp` command line. Global options and logging are set up here; each command
// lives in its own file cmd_<name>.cpp and is listed once in MCOMP_COMMANDS below.
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cli.hpp"
#include "core/host_services.hpp"
#include "mcomp/abi.h"

// The commands, in the order --help lists them. Adding one: a line here and a cmd_<name>.cpp
// that defines register_command_<name>().
#define MCOMP_COMMANDS(X) \
    X(plugins)            \
    X(validate)           \
    X(run)                \
    X(eval)               \
    X(generate)           \
    X(synth)

#define MCOMP_DECLARE_COMMAND(name) \
    void register_command_##name(CLI::App& app, mcomp::cli::Context& context);
namespace mcomp::cli {
MCOMP_COMMANDS(MCOMP_DECLARE_COMMAND)
}

namespace {

using namespace mcomp::cli;

constexpr const char* kFooter = R"(Exit codes:
  0    success
  2    usage error (the command line is wrong)
  3    bad input (a manifest, model or file is wrong or missing)
  4    internal failure (a bug, a plugin failure, or not supported by this build yet)
  130  cancelled (Ctrl-C; a second Ctrl-C stops at once)

Environment:
  MCOMP_PLUGIN_PATH  colon-separated folders searched for plugins before the install prefix
  MCOMP_TEST_DATA    folder of the shared test material, for ${MCOMP_TEST_DATA} in pipelines)";

struct GlobalOptions {
    int verbose = 0;
    bool quiet = false;
    std::string log_level;
};

void setup_logging(const GlobalOptions& options) {
    auto logger = spdlog::stderr_color_mt("mcomp");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%n] %^%l%$: %v");
    spdlog::level::level_enum level = spdlog::level::info;
    if (options.quiet) {
        level = spdlog::level::warn;
    }
    if (options.verbose == 1) {
        level = spdlog::level::debug;
    } else if (options.verbose > 1) {
        level = spdlog::level::trace;
    }
    if (!options.log_level.empty()) {
        level = spdlog::level::from_str(options.log_level);
    }
    spdlog::set_level(level);
}

int run_cli(int argc, char** argv) {
    CLI::App app(
        "mcomp: compress decoder-only LLMs with plugin techniques (quantizers, "
        "pruners, distillers)",
        "mcomp");
    app.footer(kFooter);
    app.set_version_flag("--version", std::string("mcomp ") + MCOMP_VERSION_STRING +
                                          " (plugin ABI " + std::to_string(MC_ABI_VERSION_MAJOR) +
                                          "." + std::to_string(MC_ABI_VERSION_MINOR) + ")");
    app.require_subcommand(1);

    GlobalOptions options;
    app.add_flag("-v,--verbose", options.verbose, "More log output (-vv: trace)");
    app.add_flag("-q,--quiet", options.quiet, "Only warnings and errors");
    app.add_option("--log-level", options.log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

    Context context;
#define MCOMP_REGISTER_COMMAND(name) register_command_##name(app, context);
    MCOMP_COMMANDS(MCOMP_REGISTER_COMMAND)

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, version, or the usage error
        return code == 0 ? kExitOk : kExitUsage;
    }
    setup_logging(options);
    mcomp::install_sigint_handler();
    if (!context.action) {
        std::fputs(app.help().c_str(), stderr);
        return kExitUsage;
    }
    const int code = context.action();
    if (mcomp::cancel_requested() && code != kExitOk) {
        return kExitCancelled;
    }
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    // Two settings read by libraries when they are loaded, before main, so they take effect by
    // running this program again with them; a user's own values win.
    //  - OMP_WAIT_POLICY=passive: OpenMP threads sleep while waiting instead of spinning; on
    //    shared or busy cores a spinning team runs several times slower (measured: a GPTQ
    //    pipeline 30-43 s against 6 s on a loaded 2-core machine).
    //  - glibc.malloc.hugetlb=1: large buffers on transparent huge pages, 512x fewer page
    //    faults for the GiB-sized buffers of a 7B run (measured: a 1.1B-parameter RTN run
    //    15.0 s -> 11.3 s, same peak resident set).
    bool again = false;
    if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
        ::setenv("OMP_WAIT_POLICY", "passive", 1);
        again = true;
    }
    if (std::getenv("GLIBC_TUNABLES") == nullptr) {
        ::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
        again = true;
    }
    if (again) {
        ::execv("/proc/self/exe", argv);  // returns only on failure: go on as we are
    }
    try {
        return run_cli(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mcomp: internal error: %s\n", e.what());
        return kExitInternal;
    }
}
