// Energy sources: one reader per (device, component) behind a small interface. A source either
// exposes a cumulative energy counter (RAPL, NVML total energy) or a power reading (NVML power, the
// CPU/RAM models). Missing hardware is not an error: a source says available() == false and
// why_unavailable().
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gk::energy {

enum class Component { kCpu = 0, kRam = 1, kGpu = 2 };
constexpr int kNumComponents = 3;
const char* to_string(Component c);

// How a number was obtained, weakest last: a hardware energy counter, power samples integrated over
// time, or a model estimated from utilisation.
enum class Provenance { kCounter = 0, kIntegrated = 1, kModelled = 2 };
const char* to_string(Provenance p);

// Seconds on a monotonic clock with an arbitrary origin (steady_clock by default; tests inject a
// fake).
using Clock = std::function<double()>;
Clock steady_clock_s();

class Source {
  public:
    virtual ~Source() = default;

    const std::string& name() const { return name_; }
    Component component() const { return component_; }
    Provenance provenance() const { return provenance_; }
    bool available() const { return available_; }
    const std::string& why_unavailable() const { return why_unavailable_; }
    // Why an available source must not be summed (e.g. "contained in package-0"); empty = may be
    // used.
    const std::string& excluded_reason() const { return excluded_reason_; }
    void set_excluded_reason(const std::string& why) { excluded_reason_ = why; }
    // How often the underlying value changes; a stage shorter than this is flagged.
    double update_period_s() const { return update_period_s_; }
    // Free text for reports: the TDP used and where it came from, the counter's wrap range, ...
    const std::string& note() const { return note_; }
    bool is_counter() const { return provenance_ == Provenance::kCounter; }
    // What the number covers: "machine" (whole packages, all GPUs, installed DRAM), "process-tree"
    // (a process and its descendants), "cgroup" (this process's cgroup v2), "gpu-set" (the GPUs
    // visible to this process, each measured as a whole device).
    const std::string& scope() const { return scope_; }
    void set_scope(const std::string& scope) { scope_ = scope; }
    void append_note(const std::string& text) { note_ += (note_.empty() ? "" : "; ") + text; }
    // A warning found while setting up (e.g. about the visible-device list): reported with the
    // first readings.
    void add_setup_warning(const std::string& w) { add_warning(w); }
    // The device's model name where known (GPUs): "NVIDIA H100 80GB HBM3".
    const std::string& device_name() const { return device_name_; }

    // Called once by the sampler before the first reading (models take their utilisation baseline
    // here).
    virtual void prime(double t_s) { (void)t_s; }
    // Counter sources: energy in J since the source was opened, corrected for wraparound and
    // resets. Thread-safe (the sampler and stage boundaries both read). On a failed read, the last
    // good value.
    virtual double read_energy_j();
    // Power sources: power in W at t_s; for interval models, the mean since the previous call. NaN
    // on a failed read (the sample is skipped). Called only from the sampler.
    virtual double read_power_w(double t_s);
    // True when read_power_w() is a mean over the interval since the previous reading (step
    // integration); false for an instantaneous reading (linear interpolation between samples).
    virtual bool power_is_interval_mean() const { return true; }
    // CPU-time sources (the CPU model): busy CPU seconds of what the source covers (the machine, a
    // process tree) since prime(), read right after read_power_w(); NaN for other sources.
    virtual double cpu_time_s() const;

    // Stated uncertainty of a modelled source as relative bounds: the energy may be as low as
    // E × (1 - low) and as high as E × (1 + high). 0 for measured sources (their own error is
    // not modelled). Not a confidence interval: the spread of the published inputs (see
    // docs/measurement.md).
    virtual double uncertainty_low() const { return 0; }
    virtual double uncertainty_high() const { return 0; }

    // Warnings raised while reading (counter reset, read errors); drained by the sampler.
    std::vector<std::string> take_warnings();

  protected:
    void add_warning(const std::string& w);

    std::string name_;
    Component component_ = Component::kCpu;
    Provenance provenance_ = Provenance::kModelled;
    bool available_ = false;
    std::string why_unavailable_;
    std::string excluded_reason_;
    double update_period_s_ = 0.1;
    std::string note_;
    std::string device_name_;
    std::string scope_ = "machine";

  private:
    std::mutex warn_mu_;
    std::vector<std::string> warnings_;
};

// A source that does not exist on this machine (no powercap tree, no NVML library): listed, never
// used.
class MissingSource : public Source {
  public:
    MissingSource(std::string name, Component component, Provenance provenance, std::string why);
};

// Scripted source for tests and benches: counter values or power values given by a function of
// time.
class ScriptedSource : public Source {
  public:
    // Counter source: energy_j(t) cumulative. Power source: power_w(t) (interval mean ending at t).
    static std::shared_ptr<ScriptedSource> counter(std::string name, Component c,
                                                   std::function<double(double)> energy_j_at,
                                                   Clock clock, double update_period_s = 0.001);
    static std::shared_ptr<ScriptedSource> power(std::string name, Component c, Provenance p,
                                                 std::function<double(double)> power_w_at,
                                                 double update_period_s = 0.1);
    double read_energy_j() override;
    double read_power_w(double t_s) override;
    void set_interval_mean(bool v) { interval_mean_ = v; }
    bool power_is_interval_mean() const override { return interval_mean_; }
    void set_available(bool ok, const std::string& why) {
        available_ = ok;
        why_unavailable_ = why;
    }
    // A stated range, as a modelled source has (relative bounds).
    void set_uncertainty(double low, double high) {
        low_ = low;
        high_ = high;
    }
    double uncertainty_low() const override { return low_; }
    double uncertainty_high() const override { return high_; }

  private:
    double low_ = 0, high_ = 0;
    std::function<double(double)> fn_;
    Clock clock_;
    bool interval_mean_ = true;
};

}  // namespace gk::energy
