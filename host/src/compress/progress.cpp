// progress.cpp: see progress.hpp.
#include "compress/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <cstdio>

namespace mcomp::compress {

namespace {

constexpr auto kBarInterval = std::chrono::milliseconds(100);
constexpr auto kLineInterval = std::chrono::seconds(5);
constexpr int kBarWidth = 30;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ProgressMode detect_progress_mode(bool quiet) {
    if (quiet) {
        return ProgressMode::quiet;
    }
    return ::isatty(STDERR_FILENO) != 0 ? ProgressMode::bar : ProgressMode::lines;
}

Progress::~Progress() {
    clear_bar();
}

void Progress::start(std::string task, std::int64_t total) {
    clear_bar();
    task_ = std::move(task);
    total_ = total;
    done_ = 0;
    started_ = std::chrono::steady_clock::now();
    last_draw_ = started_;
    if (mode_ == ProgressMode::bar) {
        draw("");
    }
}

void Progress::update(std::int64_t done, std::string_view detail) {
    done_ = done;
    const auto now = std::chrono::steady_clock::now();
    if (mode_ == ProgressMode::bar && (now - last_draw_ >= kBarInterval || done_ == total_)) {
        last_draw_ = now;
        draw(detail);
    } else if (mode_ == ProgressMode::lines && now - last_draw_ >= kLineInterval) {
        last_draw_ = now;
        spdlog::info(
            "{}: {}/{} ({:.0f}%) {} [{:.1f} s]", task_, done_, total_,
            total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0,
            detail, seconds_since(started_));
    }
}

void Progress::finish(std::string_view summary) {
    clear_bar();
    if (mode_ != ProgressMode::quiet) {
        spdlog::info("{}: {}", task_, summary);
    }
}

void Progress::note(std::string_view line) {
    clear_bar();
    if (mode_ != ProgressMode::quiet) {
        spdlog::info("{}", line);
    }
}

void Progress::clear_bar() {
    if (bar_open_) {
        std::fputs("\r\033[2K", stderr);
        std::fflush(stderr);
        bar_open_ = false;
    }
}

void Progress::draw(std::string_view detail) {
    const double fraction =
        total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 0.0;
    const int filled = static_cast<int>(fraction * kBarWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(kBarWidth - filled), '.');
    std::fputs(fmt::format("\r\033[2K{} [{}] {}/{} {} {:.1f}s", task_, bar, done_, total_, detail,
                           seconds_since(started_))
                   .c_str(),
               stderr);
    std::fflush(stderr);
    bar_open_ = true;
}

}  // namespace mcomp::compress
