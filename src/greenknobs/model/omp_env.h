// The OpenMP environment and thread budget greenknobs runs with: how many CPUs this process may
// really use (affinity mask, cgroup v2 cpu.max), and the bounded-spin wait policy it re-executes
// itself with when the user set none. Header-only and torch-free: the CLI's main() (built also
// without LibTorch) and the benchmarks use it before LibTorch starts. Measurements behind the
// policy: docs/perf/threads.md.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <sched.h>
#include <time.h>
#include <unistd.h>

namespace gk::model {

// libgomp's spin count (iterations of its busy-wait loop before a waiting thread sleeps on a
// futex) that greenknobs sets when the user chose no wait policy and the machine is quiet.
// libgomp's default is 300,000 (milliseconds of spinning per wait: 4-25x slower steps on a busy
// machine); `passive` (0) makes every one of the thousands of small parallel regions per step pay
// a futex wake-up (25-36 % slower on a quiet machine). ~0.25 ms of spinning bridges the serial
// gaps between a step's parallel regions. Measured in docs/perf/threads.md.
constexpr long kDefaultGompSpinCount = 10000;

// Other runnable threads per usable CPU at which greenknobs starts passive instead: a competing
// thread on one of our CPUs makes every spin wait for a descheduled partner (docs/perf/threads.md:
// any bounded spin was 1.8-4x slower than passive at load ~10 per CPU).
constexpr double kBusyOthersPerCpu = 0.5;

// Set in the environment when greenknobs itself chose the OpenMP variables, so that run.json (and
// child processes) can tell ours from the user's.
constexpr const char* kOmpEnvMarker = "GREENKNOBS_OMP_ENV";

// CPUs of the cgroup v2 cpu.max quota on this process's cgroup path and its ancestors (the
// smallest), rounded up; 0 = no quota. proc_cgroup: the content of /proc/self/cgroup;
// cgroup_root: where cgroup2 is mounted (parameters so tests can use a fake tree).
inline double cgroup_cpu_quota(const std::string& proc_cgroup, const std::string& cgroup_root) {
    std::string path;
    std::istringstream lines(proc_cgroup);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("0::", 0) == 0) {  // the unified (v2) hierarchy
            path = line.substr(3);
        }
    }
    if (path.empty()) {
        return 0;
    }
    double best = 0;
    while (true) {
        std::ifstream f(cgroup_root + (path == "/" ? "" : path) + "/cpu.max");
        std::string quota;
        double period = 0;
        if (f >> quota >> period && quota != "max" && period > 0) {
            const double cpus = std::stod(quota) / period;
            if (cpus > 0 && (best == 0 || cpus < best)) {
                best = cpus;
            }
        }
        if (path == "/" || path.empty()) {
            break;
        }
        const size_t slash = path.rfind('/');
        path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
    return best;
}

struct CpuBudget {
    int affinity_cpus = 0;  // CPUs in this process's affinity mask
    double quota_cpus = 0;  // cgroup v2 cpu.max quota / period (0 = none)
    int usable = 1;         // min(affinity, ceil(quota)), at least 1
};

inline CpuBudget cpu_budget() {
    CpuBudget b;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        b.affinity_cpus = CPU_COUNT(&set);
    }
    if (b.affinity_cpus <= 0) {
        b.affinity_cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    }
    std::ifstream f("/proc/self/cgroup");
    std::stringstream content;
    content << f.rdbuf();
    b.quota_cpus = cgroup_cpu_quota(content.str(), "/sys/fs/cgroup");
    b.usable = b.affinity_cpus > 0 ? b.affinity_cpus : 1;
    if (b.quota_cpus > 0) {
        b.usable = std::max(1, std::min(b.usable, static_cast<int>(std::ceil(b.quota_cpus))));
    }
    return b;
}

inline bool env_set(const char* name) { return std::getenv(name) != nullptr; }

// Runnable threads of other processes, averaged over `samples` reads of /proc/stat's procs_running
// (which counts this thread too) `interval_ms` apart; -1 when unreadable.
inline double others_runnable(int samples = 10, int interval_ms = 5) {
    double sum = 0;
    int got = 0;
    for (int i = 0; i < samples; ++i) {
        std::ifstream f("/proc/stat");
        std::string key;
        long value = 0;
        while (f >> key) {
            if (key == "procs_running" && f >> value) {
                sum += static_cast<double>(std::max(0L, value - 1));
                ++got;
                break;
            }
            f.ignore(1 << 20, '\n');
        }
        if (i + 1 < samples) {
            timespec ts{0, static_cast<long>(interval_ms) * 1000000L};
            nanosleep(&ts, nullptr);
        }
    }
    return got > 0 ? sum / got : -1.0;
}

// The OpenMP wait setting for this machine now: passive when other processes already keep
// kBusyOthersPerCpu of our usable CPUs busy, else the bounded spin. Returns {variable, value,
// reason}.
struct OmpWaitChoice {
    std::string variable;  // OMP_WAIT_POLICY or GOMP_SPINCOUNT
    std::string value;
    std::string reason;
};

inline OmpWaitChoice choose_omp_wait(double others, int usable_cpus) {
    char buf[160];
    const double per_cpu = others < 0 ? 0.0 : others / std::max(1, usable_cpus);
    std::snprintf(buf, sizeof buf, "%.2f other runnable threads per usable CPU (%d) at start",
                  per_cpu, usable_cpus);
    if (per_cpu >= kBusyOthersPerCpu) {
        return {"OMP_WAIT_POLICY", "passive", std::string(buf) + ": busy machine"};
    }
    return {"GOMP_SPINCOUNT", std::to_string(kDefaultGompSpinCount),
            std::string(buf) + (others < 0 ? " (unknown: no /proc/stat)" : ": quiet machine")};
}

// Whether the user chose the OpenMP wait behaviour themselves (then greenknobs leaves it alone).
inline bool user_set_omp_wait() {
    return (env_set("OMP_WAIT_POLICY") || env_set("GOMP_SPINCOUNT")) && !env_set(kOmpEnvMarker);
}

// libgomp reads its environment once, before main(): to run with greenknobs' choice
// (choose_omp_wait: passive on a busy machine, else a bounded spin) the process re-executes itself
// once with that variable and the marker (holding the reason) set, unless the user set
// OMP_WAIT_POLICY or GOMP_SPINCOUNT. Child processes (study runs) inherit the choice. Returns only
// when no re-exec happened (already set, or exec failed: then libgomp's default applies).
inline void reexec_with_default_omp_env(int /*argc*/, char** argv) {
    if (env_set("OMP_WAIT_POLICY") || env_set("GOMP_SPINCOUNT") || env_set(kOmpEnvMarker)) {
        return;
    }
    const OmpWaitChoice c = choose_omp_wait(others_runnable(), cpu_budget().usable);
    ::setenv(c.variable.c_str(), c.value.c_str(), 1);
    ::setenv(kOmpEnvMarker, (c.variable + "=" + c.value + ": " + c.reason).c_str(), 1);
    ::execv("/proc/self/exe", argv);
    ::unsetenv(c.variable.c_str());
    ::unsetenv(kOmpEnvMarker);
}

}  // namespace gk::model
