// The sampler: one thread that reads every used source each period (default 100 ms) and keeps a
// power time series per source. Counters are read too, so wraparound is caught and their power
// (ΔE/Δt) is kept. The thread never throws: it keeps the first error, stops sampling, and stop()
// rethrows it.
#pragma once

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "greenknobs/energy/source.h"

namespace gk::energy {

struct Series {
    std::string source;
    Component component = Component::kCpu;
    Provenance provenance = Provenance::kModelled;
    // true: power_w[i] is the mean over (t_s[i-1], t_s[i]] (power_w[0] copies power_w[1]);
    // false: power_w[i] is a reading at t_s[i], interpolated linearly in between.
    bool interval_mean = true;
    std::vector<double> t_s;  // sampler clock
    std::vector<double> power_w;
    std::vector<double> energy_j;    // counters only: cumulative energy at t_s
    std::vector<double> cpu_time_s;  // CPU-time sources only: cumulative busy CPU seconds at t_s
};

// Cumulative value of `v` (sampled at s.t_s) at time t_s, interpolated linearly, held beyond the
// ends; NaN when v is empty.
double interpolate_at(const Series& s, const std::vector<double>& v, double t_s);

// Energy in J of a power series over [a_s, b_s], interpolating at the edges; beyond the series'
// ends the nearest value is held.
double integrate_j(const Series& s, double a_s, double b_s);

struct TimedWarning {
    double t_s;
    std::string text;
};

class Sampler {
  public:
    // period_s <= 0: no thread; the owner calls tick() (deterministic tests).
    Sampler(std::vector<std::shared_ptr<Source>> sources, double period_s, Clock clock);
    ~Sampler();
    Sampler(const Sampler&) = delete;
    Sampler& operator=(const Sampler&) = delete;

    void start();
    // One reading of every source now.
    void tick();
    // A final reading, then joins the thread; rethrows the thread's error if it had one.
    void stop();

    std::vector<Series> series() const;
    std::vector<TimedWarning> warnings() const;
    size_t ticks() const;

  private:
    void run();
    void tick_locked(double t);

    std::vector<std::shared_ptr<Source>> sources_;
    double period_s_;
    Clock clock_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_requested_ = false;
    bool started_ = false;
    bool stopped_ = false;
    std::thread thread_;
    std::exception_ptr error_;
    std::vector<Series> series_;
    std::vector<TimedWarning> warnings_;
    size_t ticks_ = 0;
};

}  // namespace gk::energy
