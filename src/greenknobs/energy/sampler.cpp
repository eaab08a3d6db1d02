// Sampler thread and power-series integration.
#include "greenknobs/energy/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "greenknobs/util/error.h"

namespace gk::energy {

double integrate_j(const Series& s, double a_s, double b_s) {
    size_t n = s.t_s.size();
    if (n == 0 || b_s <= a_s) {
        return 0;
    }
    const auto& t = s.t_s;
    const auto& p = s.power_w;
    if (n == 1) {
        return p[0] * (b_s - a_s);
    }
    double e = 0;
    // Held ends.
    if (a_s < t[0]) {
        e += p[0] * (std::min(b_s, t[0]) - a_s);
    }
    if (b_s > t[n - 1]) {
        e += p[n - 1] * (b_s - std::max(a_s, t[n - 1]));
    }
    // First interval that can overlap [a, b].
    size_t i = static_cast<size_t>(std::upper_bound(t.begin(), t.end(), a_s) - t.begin());
    if (i == 0) {
        i = 1;
    }
    for (; i < n && t[i - 1] < b_s; ++i) {
        double lo = std::max(a_s, t[i - 1]);
        double hi = std::min(b_s, t[i]);
        if (hi <= lo) {
            continue;
        }
        if (s.interval_mean) {
            e += p[i] * (hi - lo);
        } else {
            double span = t[i] - t[i - 1];
            auto at = [&](double x) {
                return span > 0 ? p[i - 1] + (p[i] - p[i - 1]) * (x - t[i - 1]) / span : p[i];
            };
            e += 0.5 * (at(lo) + at(hi)) * (hi - lo);
        }
    }
    return e;
}

double interpolate_at(const Series& s, const std::vector<double>& v, double t_s) {
    size_t n = std::min(s.t_s.size(), v.size());
    if (n == 0) {
        return std::nan("");
    }
    const auto& t = s.t_s;
    if (t_s <= t[0]) {
        return v[0];
    }
    if (t_s >= t[n - 1]) {
        return v[n - 1];
    }
    size_t i = static_cast<size_t>(
        std::upper_bound(t.begin(), t.begin() + static_cast<long>(n), t_s) - t.begin());
    double span = t[i] - t[i - 1];
    return span > 0 ? v[i - 1] + (v[i] - v[i - 1]) * (t_s - t[i - 1]) / span : v[i];
}

Sampler::Sampler(std::vector<std::shared_ptr<Source>> sources, double period_s, Clock clock)
    : sources_(std::move(sources)), period_s_(period_s), clock_(std::move(clock)) {
    if (!clock_) {
        clock_ = steady_clock_s();
    }
    for (const auto& src : sources_) {
        Series s;
        s.source = src->name();
        s.component = src->component();
        s.provenance = src->provenance();
        s.interval_mean = src->is_counter() || src->power_is_interval_mean();
        series_.push_back(s);
    }
}

Sampler::~Sampler() {
    try {
        stop();
    } catch (...) {
        // Destructors do not throw; call stop() to see the error.
    }
}

void Sampler::start() {
    std::lock_guard<std::mutex> lock(mu_);
    GK_CHECK(!started_, "Sampler::start() called twice");
    started_ = true;
    double t = clock_();
    for (size_t i = 0; i < sources_.size(); ++i) {
        sources_[i]->prime(t);
        Series& s = series_[i];
        s.t_s.push_back(t);
        if (sources_[i]->is_counter()) {
            s.energy_j.push_back(sources_[i]->read_energy_j());
            s.power_w.push_back(std::nan(""));  // set by the first interval
        } else if (s.interval_mean) {
            s.power_w.push_back(std::nan(""));
        } else {
            double p = sources_[i]->read_power_w(t);
            s.power_w.push_back(p);
            if (std::isnan(p)) {
                s.t_s.pop_back();
                s.power_w.pop_back();
            }
        }
        double cpu = sources_[i]->cpu_time_s();
        if (!std::isnan(cpu) && s.t_s.size() > s.cpu_time_s.size()) {
            s.cpu_time_s.push_back(cpu);
        }
    }
    ++ticks_;
    if (period_s_ > 0) {
        thread_ = std::thread([this] { run(); });
    }
}

void Sampler::tick() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopped_) {
        return;
    }
    tick_locked(clock_());
}

void Sampler::tick_locked(double t) {
    for (size_t i = 0; i < sources_.size(); ++i) {
        Source& src = *sources_[i];
        Series& s = series_[i];
        double p = 0;
        if (src.is_counter()) {
            double e = src.read_energy_j();
            double dt = s.t_s.empty() ? 0 : t - s.t_s.back();
            if (dt <= 0) {
                continue;
            }
            p = (e - s.energy_j.back()) / dt;
            s.energy_j.push_back(e);
        } else {
            p = src.read_power_w(t);
            if (std::isnan(p)) {
                continue;  // a failed read: the gap is bridged by the neighbours
            }
            if (!s.t_s.empty() && t <= s.t_s.back()) {
                continue;
            }
        }
        s.t_s.push_back(t);
        s.power_w.push_back(p);
        double cpu = src.cpu_time_s();
        if (!std::isnan(cpu) && s.cpu_time_s.size() + 1 == s.t_s.size()) {
            s.cpu_time_s.push_back(cpu);
        }
        if (std::isnan(s.power_w[0])) {
            s.power_w[0] = p;  // the anchor takes the first interval's power
        }
    }
    for (auto& src : sources_) {
        for (auto& w : src->take_warnings()) {
            warnings_.push_back({t, w});
        }
    }
    ++ticks_;
}

void Sampler::run() {
    using steady = std::chrono::steady_clock;
    auto period =
        std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(period_s_));
    auto next = steady::now() + period;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_requested_) {
        if (cv_.wait_until(lock, next, [this] { return stop_requested_; })) {
            break;
        }
        try {
            tick_locked(clock_());
        } catch (...) {
            error_ = std::current_exception();
            return;
        }
        next += period;
        auto now = steady::now();
        if (next < now) {
            next = now + period;  // fell behind (a slow read): skip rather than burst
        }
    }
}

void Sampler::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!started_ || stopped_) {
            return;
        }
        stop_requested_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    if (error_) {
        std::rethrow_exception(error_);
    }
    tick_locked(clock_());
}

std::vector<Series> Sampler::series() const {
    std::lock_guard<std::mutex> lock(mu_);
    return series_;
}

std::vector<TimedWarning> Sampler::warnings() const {
    std::lock_guard<std::mutex> lock(mu_);
    return warnings_;
}

size_t Sampler::ticks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ticks_;
}

}  // namespace gk::energy
