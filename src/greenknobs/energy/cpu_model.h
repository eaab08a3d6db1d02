// Modelled CPU power for machines without energy counters:
//   power_w = tdp_w × (idle_share + dynamic_share × utilisation)
// with utilisation from /proc/stat (whole machine) or a process tree's CPU time. Provenance
// `modelled`. The TDP comes from an override, a small table matched against /proc/cpuinfo, or a
// per-thread default; see docs/measurement.md for the numbers and their sources.
#pragma once

#include <memory>
#include <string>

#include "greenknobs/energy/proc.h"
#include "greenknobs/energy/source.h"

namespace gk::energy {

// Shares of TDP: the linear fit's ends of the Teads/Boavizta server curve (idle ≈ 12 % of TDP, full
// load ≈ 102 %); see docs/measurement.md.
constexpr double kCpuIdleShare = 0.12;
constexpr double kCpuDynamicShare = 0.90;
// CodeCarbon's fallback for an unknown CPU (core/cpu.py DEFAULT_POWER_PER_CORE), per logical CPU.
constexpr double kDefaultTdpPerThreadW = 4.0;

struct TdpEntry {
    const char* pattern;  // matched case-insensitively as a substring of the model name
    double tdp_w;         // per socket, vendor specification
    int threads;          // hardware threads per socket
};
// The table (longest pattern first wins); exposed for docs and tests.
const std::vector<TdpEntry>& tdp_table();

// The TDP this machine is modelled with, and where it came from.
struct TdpChoice {
    double tdp_w = 0;    // for the logical CPUs this OS sees
    std::string origin;  // "override", "table: <pattern> (...)", "default: ..."
};
// A table TDP is scaled to the logical CPUs this OS sees (a 2-vCPU VM on a 128-thread EPYC gets
// 2/128 of the socket's TDP), capped at sockets × TDP.
TdpChoice choose_tdp(const CpuInfo& cpu, double override_tdp_w);

struct CpuModelOptions {
    std::string proc_root = "/proc";
    double tdp_override_w = 0;
    int pid = 0;  // 0 = whole machine; else that process and its descendants
    double idle_share = kCpuIdleShare;
    double dynamic_share = kCpuDynamicShare;
    double update_period_s = 0.1;
};

class CpuModelSource : public Source {
  public:
    explicit CpuModelSource(const CpuModelOptions& opts);
    void prime(double t_s) override;
    double read_power_w(double t_s) override;
    double tdp_w() const { return tdp_.tdp_w; }
    const TdpChoice& tdp() const { return tdp_; }
    // Utilisation (0..1) of the last interval, for tests.
    double last_utilisation() const { return last_util_; }

  private:
    double utilisation(double t_s);

    CpuModelOptions opts_;
    CpuInfo cpu_;
    TdpChoice tdp_;
    MachineCpuTicks prev_ticks_;
    std::unique_ptr<ProcessTreeMeter> tree_;
    double prev_t_s_ = 0;
    double last_util_ = 0;
};

// Modelled DRAM power, used only where no DRAM counter exists: W per GB of installed memory (whole
// machine) or of the tree's resident set (process mode). Provenance `modelled`.
constexpr double kRamWPerGb = 3.0 / 8.0;  // CodeCarbon ≤ 2.x and eco2AI: 3 W per 8 GB

struct RamModelOptions {
    std::string proc_root = "/proc";
    int pid = 0;
    double w_per_gb = kRamWPerGb;
    double update_period_s = 0.1;
};

class RamModelSource : public Source {
  public:
    explicit RamModelSource(const RamModelOptions& opts);
    double read_power_w(double t_s) override;

  private:
    RamModelOptions opts_;
    double mem_total_gb_ = 0;
    std::unique_ptr<ProcessTreeMeter> tree_;
};

}  // namespace gk::energy
