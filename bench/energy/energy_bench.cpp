// Energy benches: the cost of a stage begin/end pair (goal ≤ 20 µs) and the sampler thread's CPU
// cost at 10 Hz and 100 Hz over 10 s (goal ≤ 0.2 % of one core at 10 Hz). Results:
// docs/perf/energy.md.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "greenknobs/energy/rapl.h"
#include "greenknobs/energy/tracker.h"

namespace {

using gk::energy::Tracker;
using gk::energy::TrackerOptions;

double process_cpu_s() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// A fake powercap tree (2 packages + 2 dram) so boundaries read counters the way they would on a
// RAPL machine (pread of a kept descriptor; on real sysfs each read also costs an MSR read in the
// kernel).
std::string fake_powercap() {
    static std::string root;
    if (root.empty()) {
        char tmpl[] = "/tmp/gk_energy_bench_XXXXXX";
        root = ::mkdtemp(tmpl);
        for (const char* z : {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1", "intel-rapl:1:0"}) {
            std::string d = root + "/" + z;
            std::filesystem::create_directories(d);
            std::string id = z;
            std::ofstream(d + "/name")
                << (id.size() > 12 ? "dram" : "package-" + id.substr(11, 1)) << "\n";
            std::ofstream(d + "/energy_uj") << "123456789\n";
            std::ofstream(d + "/max_energy_range_uj") << "262143328850\n";
        }
    }
    return root;
}

// Stage begin/end pairs on this machine's sources (here: the CPU and RAM models, no counters).
void BM_StagePair_MachineSources(benchmark::State& state) {
    TrackerOptions o;
    o.sample_period_s = 0.1;
    Tracker tracker(o);
    tracker.start();
    for (auto _ : state) {
        auto s = tracker.stage("step");
        benchmark::DoNotOptimize(&s);
    }
    tracker.stop();
}
BENCHMARK(BM_StagePair_MachineSources)->Iterations(200000)->Unit(benchmark::kMicrosecond);

// Stage pairs reading four RAPL-style counters at each boundary.
void BM_StagePair_FourCounters(benchmark::State& state) {
    TrackerOptions o;
    o.sample_period_s = 0.1;
    o.sources = gk::energy::discover_rapl(fake_powercap());
    Tracker tracker(o);
    tracker.start();
    for (auto _ : state) {
        auto s = tracker.stage("step");
        benchmark::DoNotOptimize(&s);
    }
    tracker.stop();
}
BENCHMARK(BM_StagePair_FourCounters)->Iterations(200000)->Unit(benchmark::kMicrosecond);

// The sampler thread's CPU time over 10 s of an otherwise idle process, as % of one core.
// Arg 0: period in ms; arg 1: 0 = whole machine, 1 = process-tree mode (this process).
void BM_SamplerCpuCost(benchmark::State& state) {
    for (auto _ : state) {
        TrackerOptions o;
        o.sample_period_s = state.range(0) / 1000.0;
        o.pid = state.range(1) != 0 ? static_cast<int>(::getpid()) : 0;
        Tracker tracker(o);
        double cpu_start0 = process_cpu_s();
        tracker.start();  // discovery (cpuinfo, the dlopen search for NVML, powercap) is a one-off
        double cpu0 = process_cpu_s();
        auto t0 = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(std::chrono::seconds(10));
        double wall_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double cpu_s = process_cpu_s() - cpu0;
        tracker.stop();
        state.counters["core_pct"] = 100.0 * cpu_s / wall_s;
        state.counters["start_ms"] = 1000.0 * (cpu0 - cpu_start0);
        state.counters["samples"] =
            static_cast<double>(tracker.report_json()["timeseries"][0]["t_s"].size());
        state.SetIterationTime(wall_s);
    }
}
BENCHMARK(BM_SamplerCpuCost)
    ->Args({100, 0})
    ->Args({10, 0})
    ->Args({100, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
