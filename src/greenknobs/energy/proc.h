// Readers for /proc (root injectable for tests): machine CPU time (/proc/stat), per-process CPU
// time and RSS summed over a process tree (/proc/<pid>/stat), memory size (/proc/meminfo), CPU
// model (/proc/cpuinfo).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gk::energy {

struct MachineCpuTicks {
    uint64_t busy = 0;   // user+nice+system+irq+softirq (steal is not ours)
    uint64_t total = 0;  // busy + idle + iowait + steal
};
// Aggregate "cpu" line of <proc_root>/stat; false (and *err) when unreadable.
bool read_machine_cpu_ticks(const std::string& proc_root, MachineCpuTicks* out, std::string* err);

struct ProcessStat {
    int pid = 0;
    int ppid = 0;
    uint64_t start_ticks = 0;  // field 22: identifies the process across pid reuse
    uint64_t cpu_ticks = 0;    // utime + stime (own threads; children's time is not included)
    // cutime + cstime: CPU time of the children this process has waited for (and of their
    // waited-for descendants), added by the kernel when a child is reaped.
    uint64_t reaped_cpu_ticks = 0;
    uint64_t rss_pages = 0;
};
// Parses one /proc/<pid>/stat line (the comm may contain spaces and parentheses).
bool parse_process_stat(const std::string& line, ProcessStat* out);
// Every process under <proc_root> (those that vanish while reading are skipped).
std::vector<ProcessStat> read_all_processes(const std::string& proc_root);
// The process `root_pid` and all its descendants, from a full list.
std::vector<ProcessStat> process_tree(const std::vector<ProcessStat>& all, int root_pid);
// The same, reading only the tree: walks /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN, on
// in Debian kernels) and falls back to a scan of every process when that file does not exist.
std::vector<ProcessStat> read_process_tree(const std::string& proc_root, int root_pid);

struct CpuInfo {
    std::string model_name;  // first "model name" line; "" when absent
    int logical_cpus = 0;    // "processor" entries
    int sockets = 1;         // distinct "physical id" values (1 when absent, e.g. in many VMs)
};
CpuInfo read_cpuinfo(const std::string& proc_root);
// Number of CPUs in a kernel CPU list ("0-3,8,10-11" -> 7); 0 when malformed.
int count_cpu_list(const std::string& list);

// The cgroup v2 a process belongs to (the "0::<path>" line of /proc/<pid>/cgroup under the
// unified hierarchy at cgroup_root) and the limits on it and its ancestors.
struct CgroupInfo {
    bool found = false;           // a cgroup v2 directory exists for the process
    bool is_root = true;          // the hierarchy's root (no cpu.max there): the whole machine
    std::string dir;              // <cgroup_root>/<path>
    double quota_cpus = 0;        // min over the cgroup and its ancestors of cpu.max; 0 = no quota
    double memory_max_bytes = 0;  // min of memory.max; 0 = no limit
};
// pid 0 = the calling process ("self").
CgroupInfo read_cgroup(const std::string& proc_root, const std::string& cgroup_root, int pid);
// cpu.stat usage_usec of a cgroup directory; false when unreadable.
bool read_cgroup_usage_us(const std::string& dir, uint64_t* usage_us);
// memory.current of a cgroup directory in bytes; 0 when unreadable.
double read_cgroup_memory_bytes(const std::string& dir);

// What utilisation is a share of: the logical CPUs this process may use.
struct CpuCapacity {
    int online = 0;         // logical CPUs the OS sees (/proc/cpuinfo)
    int affinity = 0;       // Cpus_allowed_list of the process; 0 = unknown
    double quota_cpus = 0;  // cgroup v2 cpu.max quota / period; 0 = none
    double cpus = 1;        // the smallest of those that are known
    std::string origin;     // e.g. "2 logical CPUs; affinity 2; cgroup cpu.max 1.5 CPUs"
};
CpuCapacity read_cpu_capacity(const std::string& proc_root, const CgroupInfo& cgroup, int pid);

// MemTotal in bytes; 0 when unreadable.
double read_mem_total_bytes(const std::string& proc_root);
long clock_ticks_per_s();
long page_size_bytes();

// CPU time of a process tree between successive calls, children that lived between two samples
// included. Live processes contribute their utime + stime deltas (per pid and start time, so
// processes that start, exit or reuse a pid never make the sum jump); reaped children come back
// through their reaper's cutime + cstime, from which the part already counted while the child was
// seen alive is subtracted (a per-process credit that flows up to the nearest live ancestor).
// What is still lost: a process re-parented out of the tree (double fork) after its last sighting,
// and children of a parent that ignores SIGCHLD (auto-reaped, no cutime); `measure` reconciles
// against wait4()'s rusage at exit.
class ProcessTreeMeter {
  public:
    ProcessTreeMeter(std::string proc_root, int root_pid);
    // CPU ticks used by the tree since the previous call (0 on the first call), and its current
    // RSS.
    struct Delta {
        uint64_t cpu_ticks = 0;
        double rss_bytes = 0;
        int processes = 0;
        int vanished = 0;  // processes gone since the previous call (reaped or re-parented away)
    };
    Delta sample();
    // Ticks counted since the first call.
    uint64_t total_cpu_ticks() const { return total_ticks_; }

  private:
    struct Seen {
        int ppid = 0;
        uint64_t start_ticks = 0;
        uint64_t cpu_ticks = 0;
        uint64_t reaped_cpu_ticks = 0;
        // Ticks already counted for descendants that are gone but have not (yet) shown up in this
        // process's cutime + cstime.
        uint64_t credit_ticks = 0;
    };
    std::string proc_root_;
    int root_pid_;
    bool first_ = true;
    uint64_t total_ticks_ = 0;
    std::map<int, Seen> prev_;
};

}  // namespace gk::energy
