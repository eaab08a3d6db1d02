// NVIDIA GPUs through NVML loaded with dlopen at run time (no build dependency; library path
// injectable, default libnvidia-ml.so.1). Only the few entry points we call are declared here.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "greenknobs/energy/source.h"

namespace gk::energy {

// The subset of NVML we use. nvmlReturn_t is an int (0 = success); nvmlDevice_t an opaque pointer.
class NvmlLibrary {
  public:
    using Device = void*;
    static constexpr int kSuccess = 0;
    static constexpr int kErrorNotSupported = 3;

    // dlopen + nvmlInit_v2. On failure ok() is false and why() says what failed.
    static std::shared_ptr<NvmlLibrary> open(const std::string& path);
    ~NvmlLibrary();

    bool ok() const { return ok_; }
    const std::string& why() const { return why_; }
    const std::string& path() const { return path_; }
    std::string error_string(int code) const;

    int device_count(unsigned* count) const;
    int device_handle(unsigned index, Device* dev) const;
    int device_name(Device dev, std::string* name) const;
    int total_energy_mj(Device dev, unsigned long long* mj) const;
    int power_mw(Device dev, unsigned* mw) const;
    int power_limit_constraints_mw(Device dev, unsigned* min_mw, unsigned* max_mw) const;
    int power_limit_mw(Device dev, unsigned* mw) const;
    int enforced_power_limit_mw(Device dev, unsigned* mw) const;
    int set_power_limit_mw(Device dev, unsigned mw) const;
    // Optional entry points (kErrorNotSupported when the driver lacks them).
    int device_uuid(Device dev, std::string* uuid) const;
    int max_mig_device_count(Device dev, unsigned* count) const;
    int mig_device_handle(Device dev, unsigned index, Device* mig) const;
    // NVML_FI_DEV_POWER_INSTANT through nvmlDeviceGetFieldValues (drivers R530+): the board's
    // instantaneous power, where nvmlDeviceGetPowerUsage is a 1 s average on Ampere and later.
    int instant_power_mw(Device dev, unsigned* mw) const;

  private:
    NvmlLibrary() = default;
    template <typename F>
    bool load(F* fn, const char* symbol);

    void* handle_ = nullptr;
    bool ok_ = false;
    bool initialised_ = false;
    std::string why_;
    std::string path_;
    // Entry points (C calling convention).
    int (*init_)() = nullptr;
    int (*shutdown_)() = nullptr;
    const char* (*error_string_)(int) = nullptr;
    int (*count_)(unsigned*) = nullptr;
    int (*handle_by_index_)(unsigned, Device*) = nullptr;
    int (*name_)(Device, char*, unsigned) = nullptr;
    int (*energy_)(Device, unsigned long long*) = nullptr;
    int (*power_)(Device, unsigned*) = nullptr;
    int (*constraints_)(Device, unsigned*, unsigned*) = nullptr;
    int (*limit_)(Device, unsigned*) = nullptr;
    int (*enforced_)(Device, unsigned*) = nullptr;
    int (*set_limit_)(Device, unsigned) = nullptr;
    int (*uuid_)(Device, char*, unsigned) = nullptr;
    int (*max_mig_)(Device, unsigned*) = nullptr;
    int (*mig_by_index_)(Device, unsigned, Device*) = nullptr;
    int (*field_values_)(Device, int, void*) = nullptr;
};

// The GPUs this process may use, as NVML indices. CUDA_VISIBLE_DEVICES (indices into what is
// visible, GPU-/MIG- UUIDs or unique UUID prefixes; parsing stops at the first invalid entry, as
// CUDA does; "" or -1 = none) within NVIDIA_VISIBLE_DEVICES (the container runtime's: "all",
// "none", "void", indices or UUIDs). A MIG instance maps to its parent GPU, which is what NVML can
// measure and cap.
struct VisibleGpus {
    bool restricted = false;        // false: every GPU NVML reports
    std::vector<unsigned> indices;  // NVML indices, in the order given
    bool has_mig = false;           // some entries are MIG instances (measured as the whole GPU)
    std::string origin;             // e.g. "CUDA_VISIBLE_DEVICES=1,0 -> NVML 1, 0"
    std::string error;              // non-empty: unusable (an entry names no GPU)
    std::vector<std::string> warnings;
};
// nullptr = the variable is unset.
VisibleGpus resolve_visible_gpus(const NvmlLibrary& lib, const std::string* cuda_visible,
                                 const std::string* nvidia_visible);
// From this process's environment.
VisibleGpus visible_gpus_from_env(const NvmlLibrary& lib);
// For option structs where "" means unset.
inline VisibleGpus resolve_visible_gpus(const NvmlLibrary& lib, const std::string& cuda_visible,
                                        const std::string& nvidia_visible) {
    return resolve_visible_gpus(lib, cuda_visible.empty() ? nullptr : &cuda_visible,
                                nvidia_visible.empty() ? nullptr : &nvidia_visible);
}

// One GPU: the total-energy counter (mJ since driver load, Volta+) when supported → `counter`;
// otherwise nvmlDeviceGetPowerUsage polled by the sampler (≥ 10 Hz) and integrated → `integrated`.
class NvmlGpuSource : public Source {
  public:
    NvmlGpuSource(std::shared_ptr<NvmlLibrary> lib, unsigned index);
    double read_energy_j() override;
    double read_power_w(double t_s) override;
    // Instantaneous readings (the power field, or nvmlDeviceGetPowerUsage where that field is
    // missing, itself a 1 s average on Ampere+ except GA100): interpolate linearly.
    bool power_is_interval_mean() const override { return false; }

  private:
    std::shared_ptr<NvmlLibrary> lib_;
    NvmlLibrary::Device dev_ = nullptr;
    std::mutex mu_;
    unsigned long long last_raw_mj_ = 0;
    double total_mj_ = 0;
    int last_error_ = 0;
    bool instant_ = false;  // polls NVML_FI_DEV_POWER_INSTANT
};

// Every GPU NVML reports that this process may use (visible_gpus_from_env); the others are listed
// as not used. Without the library (or without GPUs): one MissingSource that says why.
std::vector<std::shared_ptr<Source>> discover_nvml(const std::string& library_path,
                                                   double sample_period_s);
// The same with an explicit visible set (tests, options).
std::vector<std::shared_ptr<Source>> discover_nvml(const std::string& library_path,
                                                   double sample_period_s,
                                                   const std::string* cuda_visible,
                                                   const std::string* nvidia_visible);

}  // namespace gk::energy
