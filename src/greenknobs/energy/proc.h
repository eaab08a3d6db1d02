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
    uint64_t busy = 0;   // user+nice+system+irq+softirq+steal
    uint64_t total = 0;  // busy + idle + iowait
};
// Aggregate "cpu" line of <proc_root>/stat; false (and *err) when unreadable.
bool read_machine_cpu_ticks(const std::string& proc_root, MachineCpuTicks* out, std::string* err);

struct ProcessStat {
    int pid = 0;
    int ppid = 0;
    uint64_t start_ticks = 0;  // field 22: identifies the process across pid reuse
    uint64_t cpu_ticks = 0;    // utime + stime (own threads; children's time is not included)
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
// MemTotal in bytes; 0 when unreadable.
double read_mem_total_bytes(const std::string& proc_root);
long clock_ticks_per_s();
long page_size_bytes();

// CPU time of a process tree between successive calls: per-pid deltas, so processes that start or
// exit in between do not make the sum jump. A process that exits between two samples loses its last
// partial interval (its ticks vanish with it); a reaped child's time is not re-added through its
// parent's cutime, which would count it twice.
class ProcessTreeMeter {
  public:
    ProcessTreeMeter(std::string proc_root, int root_pid);
    // CPU ticks used by the tree since the previous call (0 on the first call), and its current
    // RSS.
    struct Delta {
        uint64_t cpu_ticks = 0;
        double rss_bytes = 0;
        int processes = 0;
    };
    Delta sample();

  private:
    std::string proc_root_;
    int root_pid_;
    bool first_ = true;
    std::map<int, std::pair<uint64_t, uint64_t>> prev_;  // pid -> (start_ticks, cpu_ticks)
};

}  // namespace gk::energy
