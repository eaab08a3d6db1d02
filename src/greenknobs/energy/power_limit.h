// Power limits (the V5 knob's mechanism): GPUs through NVML (set, verify with the enforced limit,
// restore), or CPU packages through a writable RAPL constraint_0_power_limit_uw. The previous
// limits are restored by restore(), by the destructor, and on SIGINT/SIGTERM (then the signal goes
// on to its previous handler).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace gk::energy {

class NvmlLibrary;

struct PowerLimitOptions {
    std::string nvml_library = "libnvidia-ml.so.1";
    std::string powercap_root = "/sys/class/powercap";
    bool restore_on_signal = true;
};

struct PowerLimitSupport {
    bool supported = false;
    std::string mechanism;  // "nvml" or "rapl" when supported
    std::string reason;     // why not (or what would be used)
};

struct AppliedLimit {
    std::string device;  // "gpu-0", "package-0"
    double previous_w = 0;
    double requested_w = 0;
    double enforced_w = 0;  // read back after setting
};

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
    // For the signal handler only: no locks, no allocation on the RAPL path.
    void restore_from_signal() noexcept;

  private:
    struct GpuSaved {
        void* device;
        unsigned previous_mw;
    };
    struct RaplSaved {
        std::string path;
        std::string previous_text;  // written back verbatim
    };

    PowerLimitOptions opts_;
    PowerLimitSupport support_;
    std::shared_ptr<NvmlLibrary> nvml_;
    std::vector<void*> gpus_;
    std::vector<std::pair<std::string, std::string>> rapl_zones_;  // (label, limit file)
    std::vector<GpuSaved> gpu_saved_;
    std::vector<RaplSaved> rapl_saved_;
    bool applied_ = false;
};

}  // namespace gk::energy
