// Modelled CPU power for machines without energy counters:
//   power_w = tdp_w × share(utilisation)   (the concave Teads curve), or, once calibrated against
//   RAPL on this CPU model, capacity × (idle + dynamic × utilisation^exponent) W
// with utilisation from /proc/stat (whole machine), the cgroup's cpu.stat, or a process tree's CPU
// time, as a share of the CPUs this process may use. Provenance `modelled`, with a stated
// uncertainty range. See docs/measurement.md for the numbers and their sources.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "greenknobs/energy/proc.h"
#include "greenknobs/energy/source.h"

namespace gk::energy {

// Shares of TDP at 0 % and 100 % load (the ends of the Teads curve below); kept for callers that
// build a linear model explicitly.
constexpr double kCpuIdleShare = 0.12;
constexpr double kCpuDynamicShare = 0.90;
// CodeCarbon's fallback for an unknown CPU (core/cpu.py DEFAULT_POWER_PER_CORE), per logical CPU.
constexpr double kDefaultTdpPerThreadW = 4.0;

// The default load curve: share of TDP at utilisation u (Teads Engineering, "Building an AWS EC2
// Carbon Emissions Dataset", 2021: 12/32/75/102 % of TDP at 0/10/50/100 % load), interpolated
// linearly between the published points. Concave: each segment is flatter than the last.
const std::vector<std::pair<double, double>>& teads_curve();
// Piecewise-linear share at u (clamped to [0, 1]).
double curve_share(const std::vector<std::pair<double, double>>& points, double u);
// Its slope d(share)/du at u (the right-hand slope at a knot).
double curve_slope(const std::vector<std::pair<double, double>>& points, double u);

struct TdpEntry {
    const char* pattern;  // matched case-insensitively as a substring of the model name
    double tdp_w;         // per socket, vendor specification
    int threads;          // hardware threads per socket
    bool family = false;  // a family fallback (a representative part), not the exact part
};
// The table (longest pattern first wins); exposed for docs and tests.
const std::vector<TdpEntry>& tdp_table();

// The TDP this machine is modelled with, and where it came from.
struct TdpChoice {
    enum class Kind { kOverride, kTable, kFamily, kDefault };
    double tdp_w = 0;    // for the CPUs this process may use
    std::string origin;  // "override", "table: <pattern> (...)", "default: ..."
    Kind kind = Kind::kDefault;
};
// A table TDP is scaled to the CPUs this process may use (a 2-vCPU VM on a 128-thread EPYC gets
// 2/128 of the socket's TDP), capped at sockets × TDP. capacity_cpus <= 0: the logical CPUs.
TdpChoice choose_tdp(const CpuInfo& cpu, double override_tdp_w, double capacity_cpus = 0);

// A CPU-model calibration against RAPL (`greenknobs calibrate`), stored per CPU model:
//   W per CPU = idle_w_per_cpu + dynamic_w_per_cpu × u^exponent   (0 < exponent <= 1: concave)
struct CpuCalibration {
    std::string cpu_model;
    int logical_cpus = 0;  // at calibration
    double idle_w_per_cpu = 0;
    double dynamic_w_per_cpu = 0;
    double exponent = 1;
    double max_rel_residual = 0;  // largest |model - RAPL| / RAPL over the calibration points
    int points = 0;
    std::string date;    // UTC, YYYY-MM-DD
    std::string source;  // the RAPL zones used
    double w_per_cpu(double u) const;
};
// Least-squares fit of the form above to (utilisation, W per CPU) points, exponent on a grid in
// [0.2, 1]. Needs at least 3 points spanning some load.
CpuCalibration fit_cpu_calibration(const std::vector<std::pair<double, double>>& u_w_per_cpu);
// $GK_CPU_CALIBRATION, else $XDG_CONFIG_HOME/greenknobs/cpu-calibration.json, else
// ~/.config/greenknobs/cpu-calibration.json.
std::string default_calibration_path();
// Every stored calibration; a missing file = none; a malformed one throws InputError.
std::vector<CpuCalibration> load_calibrations(const std::string& path);
// Adds or replaces the entry for c.cpu_model.
void store_calibration(const std::string& path, const CpuCalibration& c);

struct CpuModelOptions {
    std::string proc_root = "/proc";
    std::string cgroup_root = "/sys/fs/cgroup";
    double tdp_override_w = 0;
    int pid = 0;  // 0 = this process's cgroup v2 if it has one, else the whole machine; else that
                  // process and its descendants
    // Stored calibrations ("" = default_calibration_path(); "none" = do not use any).
    std::string calibration_path = "none";
    double update_period_s = 0.1;
};

class CpuModelSource : public Source {
  public:
    explicit CpuModelSource(const CpuModelOptions& opts);
    void prime(double t_s) override;
    double read_power_w(double t_s) override;
    double tdp_w() const { return tdp_.tdp_w; }
    const TdpChoice& tdp() const { return tdp_; }
    bool calibrated() const { return calibrated_; }
    // Utilisation (0..1) of the last interval, for tests.
    double last_utilisation() const { return last_util_; }
    double cpu_time_s() const override { return cpu_time_s_; }
    // CPUs the utilisation is a share of (affinity mask, cgroup cpu.max, logical CPUs).
    double capacity_cpus() const { return capacity_.cpus; }
    int logical_cpus() const { return std::max(1, cpu_.logical_cpus); }
    // Modelled power at utilisation u of the capacity.
    double power_at(double u) const;
    // The model's extra power for one more busy CPU at utilisation `util` (W per busy CPU, i.e. J
    // per CPU-second): used for CPU time that sampling missed.
    double marginal_w_per_cpu_s(double util) const;
    double uncertainty_low() const override { return rel_low_; }
    double uncertainty_high() const override { return rel_high_; }

  private:
    double utilisation(double t_s);

    CpuModelOptions opts_;
    CpuInfo cpu_;
    CpuCapacity capacity_;
    CgroupInfo cgroup_;
    bool cgroup_scope_ = false;
    TdpChoice tdp_;
    bool calibrated_ = false;
    CpuCalibration calibration_;
    double rel_low_ = 0, rel_high_ = 0;
    MachineCpuTicks prev_ticks_;
    uint64_t prev_usage_us_ = 0;
    std::unique_ptr<ProcessTreeMeter> tree_;
    double prev_t_s_ = 0;
    double last_util_ = 0;
    double cpu_time_s_ = 0;  // busy CPU seconds since prime()
};

// Modelled DRAM power, used only where no DRAM counter exists: W per GB of installed memory (whole
// machine), of the cgroup's memory.max (else its memory.current), or of the tree's resident set
// (process mode). Provenance `modelled`.
constexpr double kRamWPerGb = 3.0 / 8.0;  // CodeCarbon <= 2.x and eco2AI: 3 W per 8 GB

struct RamModelOptions {
    std::string proc_root = "/proc";
    std::string cgroup_root = "/sys/fs/cgroup";
    int pid = 0;
    double w_per_gb = kRamWPerGb;
    double update_period_s = 0.1;
};

class RamModelSource : public Source {
  public:
    explicit RamModelSource(const RamModelOptions& opts);
    double read_power_w(double t_s) override;
    // An order of magnitude: published per-GB figures span about 0.1-0.75 W/GB.
    double uncertainty_low() const override { return 0.5; }
    double uncertainty_high() const override { return 1.0; }

  private:
    RamModelOptions opts_;
    double mem_total_gb_ = 0;
    std::string cgroup_dir_;  // non-empty: memory.current of this cgroup
    double fixed_gb_ = 0;     // > 0: this many GB (MemTotal, or the cgroup's memory.max)
    std::unique_ptr<ProcessTreeMeter> tree_;
};

}  // namespace gk::energy
