// process_util.hpp: running the `mcomp` program from tests — with the test plugins on its
// search path, its output captured, its peak memory measured (wait4), or left running to be
// killed.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mcomp::test {

inline std::string mcomp_binary() {
    return std::string(MCOMP_BUILD_DIR) + "/bin/mcomp";
}

struct ProcessResult {
    int exit_code = -1;  // 128 + signal when killed
    std::string output;  // stdout and stderr
    long max_rss_kib = 0;
};

// Starts `mcomp args...` with MCOMP_PLUGIN_PATH set to the test plugin folders, stdout and
// stderr into `log`. Returns the pid.
inline pid_t spawn_mcomp(const std::vector<std::string>& args, const std::filesystem::path& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setenv("MCOMP_PLUGIN_PATH", MCOMP_TEST_PLUGIN_DIRS, 1);
        FILE* out = std::fopen(log.c_str(), "w");
        if (out != nullptr) {
            ::dup2(::fileno(out), STDOUT_FILENO);
            ::dup2(::fileno(out), STDERR_FILENO);
        }
        std::vector<char*> argv;
        const std::string binary = mcomp_binary();
        argv.push_back(const_cast<char*>(binary.c_str()));
        for (const std::string& arg : args) {
            argv.push_back(const_cast<char*>(arg.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        std::_Exit(127);
    }
    return pid;
}

inline ProcessResult wait_mcomp(pid_t pid, const std::filesystem::path& log) {
    ProcessResult result;
    int status = 0;
    rusage usage = {};
    ::wait4(pid, &status, 0, &usage);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.max_rss_kib = usage.ru_maxrss;
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    result.output = text.str();
    return result;
}

inline ProcessResult run_mcomp(const std::vector<std::string>& args,
                               const std::filesystem::path& log) {
    return wait_mcomp(spawn_mcomp(args, log), log);
}

// Polls `condition` every 10 ms for up to `timeout`; true when it held.
inline bool wait_for(const std::function<bool()>& condition, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

}  // namespace mcomp::test
