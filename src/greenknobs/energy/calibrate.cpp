// The calibration run: duty-cycled spin threads, RAPL package energy per level, a fit.
#include "greenknobs/energy/calibrate.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <thread>

#include "greenknobs/energy/proc.h"
#include "greenknobs/energy/rapl.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/utc_time.h"

namespace gk::energy {

namespace {

// Spins for `duty` of every 10 ms period until told to stop: a machine-wide utilisation of about
// `duty` when there is one thread per logical CPU.
void duty_cycle(double duty, const std::atomic<bool>* stop) {
    using clock = std::chrono::steady_clock;
    const auto period = std::chrono::milliseconds(10);
    volatile unsigned long sink = 0;
    while (!stop->load(std::memory_order_relaxed)) {
        auto start = clock::now();
        auto busy_until = start + std::chrono::duration_cast<clock::duration>(period * duty);
        while (clock::now() < busy_until) {
            for (int i = 0; i < 1000; ++i) {
                sink = sink + static_cast<unsigned long>(i);
            }
        }
        std::this_thread::sleep_until(start + period);
    }
}

}  // namespace

CalibrationRun run_cpu_calibration(const CalibrateOptions& opts) {
    std::vector<std::shared_ptr<Source>> packages;
    std::string zones, why;
    for (const auto& s : discover_rapl(opts.powercap_root)) {
        if (!s->available()) {
            why += (why.empty() ? "" : "; ") + s->name() + ": " + s->why_unavailable();
        } else if (s->excluded_reason().empty() && s->component() == Component::kCpu) {
            packages.push_back(s);
            zones += (zones.empty() ? "" : "+") + s->name();
        }
    }
    if (packages.empty()) {
        throw UnsupportedError("calibrate: no readable RAPL package counter (" +
                               (why.empty() ? std::string("no package zone") : why) +
                               "); calibrate on a machine (or as a user) that can read RAPL");
    }
    CpuInfo cpu = read_cpuinfo(opts.proc_root);
    int logical = std::max(1, cpu.logical_cpus);
    int threads = opts.threads > 0 ? opts.threads : logical;
    auto clock = steady_clock_s();
    auto energy = [&] {
        double e = 0;
        for (auto& s : packages) {
            e += s->read_energy_j();
        }
        return e;
    };
    CalibrationRun run;
    std::vector<std::pair<double, double>> fit_points;
    for (double level : opts.levels) {
        std::atomic<bool> stop{false};
        std::vector<std::thread> load;
        if (level > 0) {
            for (int i = 0; i < threads; ++i) {
                load.emplace_back(duty_cycle, std::min(1.0, level), &stop);
            }
        }
        // Let the load settle (frequency ramps, the first scheduler decisions), then measure.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        MachineCpuTicks t0, t1;
        std::string err;
        read_machine_cpu_ticks(opts.proc_root, &t0, &err);
        double e0 = energy(), s0 = clock();
        std::this_thread::sleep_for(std::chrono::duration<double>(opts.seconds_per_level));
        double e1 = energy(), s1 = clock();
        read_machine_cpu_ticks(opts.proc_root, &t1, &err);
        stop = true;
        for (auto& t : load) {
            t.join();
        }
        CalibrationPoint p;
        p.target_u = level;
        uint64_t dtotal = t1.total - t0.total;
        p.measured_u = dtotal > 0
                           ? static_cast<double>(t1.busy - t0.busy) / static_cast<double>(dtotal)
                           : level;
        p.power_w = s1 > s0 ? (e1 - e0) / (s1 - s0) : 0;
        p.w_per_cpu = p.power_w / logical;
        run.points.push_back(p);
        fit_points.push_back({p.measured_u, p.w_per_cpu});
    }
    run.fit = fit_cpu_calibration(fit_points);
    run.fit.cpu_model = cpu.model_name;
    run.fit.logical_cpus = logical;
    run.fit.date = utc_now("%Y-%m-%d");
    run.fit.source = zones;
    return run;
}

}  // namespace gk::energy
