// cli.hpp: what the commands of the `mcomp` program share: exit codes, error reporting, and
// the plugin registry (discovered on first use).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "compress/model_reader.hpp"
#include "core/pipeline.hpp"
#include "core/registry.hpp"
#include "tokenizer/tokenizer.hpp"
#include "util/expected.hpp"

namespace CLI {
class App;
}

namespace mcomp::cli {

// Documented in `mcomp --help`.
enum ExitCode : int {
    kExitOk = 0,
    kExitUsage = 2,        // the command line is wrong
    kExitBadInput = 3,     // a manifest, model or file is wrong or missing
    kExitInternal = 4,     // a bug, a plugin failure, or something this build cannot do yet
    kExitCancelled = 130,  // Ctrl-C (128 + SIGINT)
};

int exit_code_for(const Error& error);

// Prints "mcomp: error: <message>" on stderr and returns exit_code_for(error).
int report(const Error& error);

class Context {
  public:
    // What the chosen command does; set by its CLI11 callback, run by main().
    std::function<int()> action;

    // The plugins on the default search path; discovered once, on first use.
    Registry& registry();

  private:
    std::unique_ptr<Registry> registry_;
};

// Reads and validates a pipeline against the registry's plugins, and checks that the files it
// reads exist (cmd_validate.cpp; `run` uses it too).
Expected<Pipeline> load_pipeline(Context& context, const std::string& path);

// A model named on the command line (a folder, or a Hugging Face id fetched into the cache
// when needed), opened dense or packed, with its tokenizer (eval, generate).
struct CommandLineModel {
    std::string dir;
    compress::OpenedModel opened;
    Tokenizer tokenizer;
};
Expected<CommandLineModel> open_command_line_model(const std::string& name);

// One line per stage: "rtn (bits=4, group_size=128) on auto".
std::string describe_stages(const Pipeline& pipeline);

// Every command file defines one of these; main.cpp lists them.
using RegisterCommand = void (*)(CLI::App& app, Context& context);

}  // namespace mcomp::cli
