// The stage tracker: RAII scopes around pipeline stages, nestable ("train/validate"), with energy
// per component from counter differences at the boundaries or from the sampler's power series
// integrated over exactly [start, end]. An idle baseline splits energy into static and dynamic.
// Stages are opened and closed from one thread; the sampler runs on its own.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/energy/sampler.h"
#include "greenknobs/energy/source.h"
#include "greenknobs/energy/sources.h"

namespace gk::energy {

// The machine as CodeCarbon describes it (for emissions.csv) plus what utilisation is a share of.
struct MachineInfo {
    std::string os;                // "Linux-<release>-<machine>"
    std::string cpu_model;         // /proc/cpuinfo model name
    int cpu_count = 0;             // logical CPUs the OS sees
    double cpu_capacity = 0;       // CPUs this process may use (affinity, cgroup cpu.max)
    int gpu_count = 0;             // GPUs measured
    std::string gpu_model;         // "N x NAME", as CodeCarbon
    double ram_total_size_gb = 0;  // MemTotal in GiB (CodeCarbon's GB = 2^30 bytes)
};
MachineInfo detect_machine(const std::string& proc_root, const std::string& cgroup_root,
                           const std::vector<std::shared_ptr<Source>>& used);
nlohmann::json machine_json(const MachineInfo& m);

struct TrackerOptions {
    double sample_period_s = 0.1;  // <= 0: no sampler thread; call Tracker::sample_now() (tests)
    std::string powercap_root = "/sys/class/powercap";
    std::string hwmon_root = "/sys/class/hwmon";
    std::string nvml_library = "libnvidia-ml.so.1";
    std::string proc_root = "/proc";
    double cpu_tdp_w = 0;          // 0 = TDP table, else this
    double idle_baseline_s = 0;    // idle power measured for this long in start() (0 = none)
    std::string country_iso_code;  // ISO 3166 alpha-3; empty = world average
    double carbon_g_per_kwh = 0;   // > 0 overrides the country
    double pue = 1.0;
    double wue_l_per_kwh = 0;   // water usage effectiveness (CodeCarbon's wue), L per kWh
    std::string experiment_id;  // CodeCarbon's experiment_id column; empty = none
    std::string cgroup_root = "/sys/fs/cgroup";
    std::string cpu_calibration_path;  // stored CPU-model calibrations; empty = the default path
    bool machine_given = false;        // true: `machine` below instead of detecting it
    MachineInfo machine;
    int pid = 0;  // 0 = whole machine; else the models follow this process tree
    // Non-empty: these sources instead of discovering the machine's (the selection rules still
    // apply).
    std::vector<std::shared_ptr<Source>> sources;
    // Determinism for tests and golden files.
    Clock clock;                        // empty = steady_clock
    std::function<void(double)> sleep;  // the idle baseline's wait; empty = this_thread::sleep_for
    double started_at_unix_s = -1;      // < 0 = the wall clock at start()
    std::string project_name = "greenknobs";
    std::string run_id;  // empty = random
};

class Tracker;

// An open stage; ends when destroyed (or at end()). Movable, not copyable.
class Stage {
  public:
    Stage(Stage&& other) noexcept;
    Stage& operator=(Stage&&) = delete;
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;
    ~Stage();
    // Adds `amount` of a work unit (samples, tokens, batches...) to this stage.
    void add_work(const std::string& unit, double amount);
    void end();

  private:
    friend class Tracker;
    Stage(Tracker* tracker, size_t index) : tracker_(tracker), index_(index) {}
    Tracker* tracker_;
    size_t index_;
};

class Tracker {
  public:
    explicit Tracker(TrackerOptions opts);
    ~Tracker();
    Tracker(const Tracker&) = delete;
    Tracker& operator=(const Tracker&) = delete;

    // Discovers and selects sources, starts the sampler, takes the idle baseline if asked.
    void start();
    // Closes open stages (flagged), takes the final sample, stops the sampler; rethrows its error.
    void stop();
    // A stage nested in the innermost open one: path "parent/name".
    Stage stage(const std::string& name);
    // Called at every stage boundary (e.g. cudaDeviceSynchronize) so queued work lands in its
    // stage.
    void set_sync(std::function<void()> fn) { sync_ = std::move(fn); }
    // One sampler reading now (tests with sample_period_s <= 0; `measure` before its last
    // boundary, so the command's final CPU time lands in its stage).
    void sample_now();
    // After stop(), in process-tree mode: the tree's CPU seconds from wait4()'s rusage (the root
    // and every descendant that was waited for). CPU time that sampling missed is added to the
    // stage that ended last, its ancestors and the total (cpu_time_s, and the modelled CPU energy
    // at the model's marginal power), with a warning.
    void reconcile_cpu_time(double rusage_cpu_s);

    // The energy report (schema greenknobs.energy/1 in docs/design.md); after stop().
    nlohmann::json report_json() const;
    void write_json(const std::string& path) const;
    void write_emissions_csv(const std::string& path) const;
    void write_power_csv(const std::string& path) const;

    const std::vector<SourceEntry>& sources() const { return entries_; }
    bool started() const { return started_; }
    bool stopped() const { return stopped_; }

  private:
    friend class Stage;
    struct Record {
        std::string name, path, parent;
        double t0 = 0, t1 = 0;
        bool open = true;
        bool closed_by_stop = false;
        std::vector<double> e0, e1;  // counter readings at the boundaries (one per used counter)
        std::map<std::string, double> work;
    };
    size_t begin_record(const std::string& name, const std::string& path,
                        const std::string& parent);
    void end_record(size_t index);
    void end_stage(size_t index);
    void read_counters(std::vector<double>* out);
    nlohmann::json record_json(const Record& r, const std::vector<Series>& series,
                               const std::vector<TimedWarning>& warnings, const double* idle_w,
                               bool is_total) const;

    TrackerOptions opts_;
    Clock clock_;
    std::function<void()> sync_;
    std::vector<SourceEntry> entries_;
    std::vector<std::shared_ptr<Source>> used_;
    std::vector<size_t> counter_idx_;  // indices into used_ of counter sources
    // The sampler's sources: used_, then (if unused) the CPU model, sampled only for cpu_time_s.
    std::vector<std::shared_ptr<Source>> sampled_;
    long cpu_time_idx_ = -1;  // index into sampled_ of the CPU-time source, -1 = none
    double rusage_cpu_s_ = -1;
    double added_cpu_s_ = 0;
    size_t last_ended_ = static_cast<size_t>(-1);
    std::unique_ptr<Sampler> sampler_;
    double origin_s_ = 0;
    double started_at_unix_s_ = 0;
    std::string run_id_;
    MachineInfo machine_;
    bool started_ = false;
    bool stopped_ = false;
    bool has_baseline_ = false;
    Record baseline_;
    Record total_;
    std::vector<Record> stages_;
    std::vector<size_t> open_;  // stack of open stage indices
};

// Human table: stage, time, energy by component with provenance, mean power, CO2e; n/a for absent.
std::string format_summary(const nlohmann::json& report);
// emissions.csv: one row per stage, then the total. First every CodeCarbon column in CodeCarbon's
// order and meaning (energies in kWh × PUE, emissions in kg), then ours; see docs/measurement.md.
std::string emissions_csv(const nlohmann::json& report);
// CodeCarbon's emissions.csv columns (3.3.0), in order.
const std::vector<std::string>& codecarbon_columns();
// power.csv: t_s,source,component,power_w.
std::string power_csv(const nlohmann::json& report);

}  // namespace gk::energy
