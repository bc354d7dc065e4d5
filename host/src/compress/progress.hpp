// progress.hpp: progress of long work (blocks, layers, eval windows) for people: a bar
// redrawn in place when stderr is a terminal, plain log lines (at most one per few seconds,
// plus the end of each task) otherwise, nothing with --quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcomp::compress {

enum class ProgressMode {
    bar = 1,  // stderr is a terminal
    lines,    // logs, CI
    quiet,
};

// bar when stderr is a terminal, else lines; quiet wins.
ProgressMode detect_progress_mode(bool quiet);

class Progress {
  public:
    explicit Progress(ProgressMode mode = ProgressMode::quiet) : mode_(mode) {}
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    ProgressMode mode() const { return mode_; }

    // A new task of `total` steps ("compress", 32 blocks).
    void start(std::string task, std::int64_t total);
    // `done` steps finished; `detail` says where ("block 3, q/k/v"). Rate-limited.
    void update(std::int64_t done, std::string_view detail = "");
    // The task ended; `summary` closes it ("2 blocks in 1.3 s").
    void finish(std::string_view summary);
    // A line of its own (info level), printed above the bar.
    void note(std::string_view line);

  private:
    void clear_bar();
    void draw(std::string_view detail);

    ProgressMode mode_ = ProgressMode::quiet;
    std::string task_;
    std::int64_t total_ = 0;
    std::int64_t done_ = 0;
    bool bar_open_ = false;
    std::chrono::steady_clock::time_point started_{};
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace mcomp::compress
