// Power limits (the V5 knob's mechanism): the visible GPUs through NVML (set, verify with the
// enforced limit, restore), or CPU packages through writable RAPL constraints (long and short
// term). The previous limits are restored by restore(), by the destructor, and on SIGINT/SIGTERM:
// the handler only records the signal and wakes a restore thread (NVML is not async-signal-safe
// and may hold locks of the interrupted thread), which restores and then lets the signal go on to
// its default action.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gk::energy {

class NvmlLibrary;

struct PowerLimitOptions {
    std::string nvml_library = "libnvidia-ml.so.1";
    std::string powercap_root = "/sys/class/powercap";
    bool restore_on_signal = true;
    // The GPUs this process may use (CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES); only those are
    // capped. Empty = read the environment.
    bool visible_from_env = true;
    std::string cuda_visible_devices;    // used when visible_from_env is false ("" = unset)
    std::string nvidia_visible_devices;  // idem
};

struct PowerLimitSupport {
    bool supported = false;
    std::string mechanism;  // "nvml" or "rapl" when supported
    std::string reason;     // why not (or what would be used)
};

struct AppliedLimit {
    std::string device;  // "gpu-0", "package-0", "package-0/short_term"
    double previous_w = 0;
    double requested_w = 0;
    double enforced_w = 0;  // read back after setting
    // The enforced limit is below the request because of a cap we may not lift (the constraint's
    // max_power_uw, a platform or administrator limit): the run goes on at the lower limit.
    bool capped = false;
    std::string note;  // why capped
};

// A CPU package whose power limit can be set: a RAPL package zone and its writable constraints.
struct RaplLimitZone {
    std::string label;  // package-0
    std::string dir;    // <powercap_root>/intel-rapl:0
    std::vector<int>
        constraints;  // N of each writable constraint_N_power_limit_uw (0 long, 1 short term)
};

// The RAPL package zones under powercap_root whose limits this process may set (access(2) only:
// nothing is written). Empty, with why_not saying why, when there is none or one is read-only. The
// one probe behind both the knob's capability check and PowerLimiter.
std::vector<RaplLimitZone> find_rapl_limit_zones(const std::string& powercap_root,
                                                 std::string* why_not);

class PowerLimiter {
  public:
    explicit PowerLimiter(PowerLimitOptions opts = {});
    ~PowerLimiter();
    PowerLimiter(const PowerLimiter&) = delete;
    PowerLimiter& operator=(const PowerLimiter&) = delete;

    PowerLimitSupport supported() const { return support_; }
    // Sets every GPU (NVML) or else every CPU package (RAPL) to limit_w. Throws UnsupportedError
    // with the reason when neither works, InputError when limit_w is outside a GPU's allowed range.
    std::vector<AppliedLimit> apply(double limit_w);
    // Puts back the limits that were in force before apply(); idempotent.
    void restore();
    // restore() that reports nothing (the restore thread, destructors).
    void restore_quietly() noexcept;

  private:
    struct GpuSaved {
        void* device;
        unsigned previous_mw;
    };
    struct RaplSaved {
        std::string path;
        std::string previous_text;  // written back verbatim
    };
    std::vector<AppliedLimit> apply_gpus(double limit_w);
    std::vector<AppliedLimit> apply_rapl(double limit_w);
    void restore_locked(std::string* errors);

    PowerLimitOptions opts_;
    PowerLimitSupport support_;
    std::shared_ptr<NvmlLibrary> nvml_;
    std::vector<void*> gpus_;
    std::vector<unsigned> gpu_index_;  // NVML index of each entry of gpus_
    std::vector<RaplLimitZone> rapl_zones_;
    std::mutex mu_;  // the saved state: the restore thread and the owner both restore
    std::vector<GpuSaved> gpu_saved_;
    std::vector<RaplSaved> rapl_saved_;
    bool applied_ = false;
};

}  // namespace gk::energy
