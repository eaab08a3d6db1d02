// Bar drawn with '\r' at most ~10 times a second; ETA from the mean rate since start.
#include "greenknobs/util/progress.h"

#include <cmath>
#include <cstdio>

#include <unistd.h>

namespace gk {

std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) {
        return "?";
    }
    long t = std::lround(s);
    char buf[32];
    if (t >= 3600) {
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    } else if (t >= 60) {
        std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%lds", t);
    }
    return buf;
}

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, double plain_every_s)
    : label_(std::move(label)),
      total_(total),
      plain_every_s_(plain_every_s),
      tty_(stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
    if (!finished_ && tty_) {
        std::fputc('\n', stderr);
    }
}

void Progress::update(int64_t done, const std::string& status) {
    done_ = done;
    status_ = status;
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_draw_).count();
    if ((tty_ && since >= 0.1) || (!tty_ && since >= plain_every_s_)) {
        last_draw_ = now;
        draw(false);
    }
}

void Progress::finish(const std::string& status) {
    if (finished_) {
        return;
    }
    if (!status.empty()) {
        status_ = status;
    }
    if (total_ > 0) {
        done_ = total_;
    }
    draw(true);
    finished_ = true;
}

void Progress::draw(bool final_line) {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string eta = "?";
    if (total_ > 0 && done_ > 0) {
        eta = format_duration(elapsed / static_cast<double>(done_) *
                              static_cast<double>(total_ - done_));
    }
    if (tty_) {
        const int width = 24;
        int fill = total_ > 0 ? static_cast<int>(width * done_ / std::max<int64_t>(total_, 1)) : 0;
        std::string bar(static_cast<size_t>(fill), '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s elapsed %s eta %s", label_.c_str(),
                     bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
                     status_.c_str(), format_duration(elapsed).c_str(),
                     final_line ? "0s" : eta.c_str());
        if (final_line) {
            std::fputc('\n', stderr);
        }
    } else {
        std::fprintf(stderr, "%s %lld/%lld %s elapsed %s eta %s\n", label_.c_str(),
                     static_cast<long long>(done_), static_cast<long long>(total_), status_.c_str(),
                     format_duration(elapsed).c_str(), final_line ? "0s" : eta.c_str());
    }
    std::fflush(stderr);
}

}  // namespace gk
