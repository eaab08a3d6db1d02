// Progress reporting for long work: a redrawn bar with rate and ETA on a terminal, plain periodic
// lines when stderr is piped (logs stay readable). Not thread-safe: one owner updates it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gk {

class Progress {
  public:
    // total: number of units (0 = unknown). label: shown before the bar. plain_every_s: line period
    // when piped.
    Progress(std::string label, int64_t total, double plain_every_s = 10.0);
    ~Progress();
    // Sets the absolute position and a free-form status (e.g. "loss 0.41 · 5.1k tok/s").
    void update(int64_t done, const std::string& status = "");
    // Prints the final state and a newline (idempotent).
    void finish(const std::string& status = "");
    static bool stderr_is_terminal();

  private:
    void draw(bool final_line);
    std::string label_;
    int64_t total_;
    int64_t done_ = 0;
    std::string status_;
    double plain_every_s_;
    bool tty_;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
};

// "1h02m", "3m05s", "12s"
std::string format_duration(double seconds);

}  // namespace gk
