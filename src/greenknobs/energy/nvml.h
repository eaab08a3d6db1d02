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
};

// One GPU: the total-energy counter (mJ since driver load, Volta+) when supported → `counter`;
// otherwise nvmlDeviceGetPowerUsage polled by the sampler (≥ 10 Hz) and integrated → `integrated`.
class NvmlGpuSource : public Source {
  public:
    NvmlGpuSource(std::shared_ptr<NvmlLibrary> lib, unsigned index);
    double read_energy_j() override;
    double read_power_w(double t_s) override;
    // nvmlDeviceGetPowerUsage is itself an average (1 s on Ampere+ except GA100): interpolate
    // linearly.
    bool power_is_interval_mean() const override { return false; }

  private:
    std::shared_ptr<NvmlLibrary> lib_;
    NvmlLibrary::Device dev_ = nullptr;
    std::mutex mu_;
    unsigned long long last_raw_mj_ = 0;
    double total_mj_ = 0;
    int last_error_ = 0;
};

// Every GPU NVML reports; without the library (or without GPUs): one MissingSource that says why.
std::vector<std::shared_ptr<Source>> discover_nvml(const std::string& library_path,
                                                   double sample_period_s);

}  // namespace gk::energy
