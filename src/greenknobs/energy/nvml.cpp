// NVML through dlopen; energy counter first, power polling as the fallback.
#include "greenknobs/energy/nvml.h"

#include <cmath>
#include <limits>

#include <dlfcn.h>

namespace gk::energy {

template <typename F>
bool NvmlLibrary::load(F* fn, const char* symbol) {
    *fn = reinterpret_cast<F>(::dlsym(handle_, symbol));
    return *fn != nullptr;
}

std::shared_ptr<NvmlLibrary> NvmlLibrary::open(const std::string& path) {
    std::shared_ptr<NvmlLibrary> lib(new NvmlLibrary());
    lib->path_ = path;
    lib->handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib->handle_ == nullptr) {
        const char* e = ::dlerror();
        lib->why_ = "cannot load NVML (" + std::string(e != nullptr ? e : path) +
                    "): no NVIDIA driver on this machine";
        return lib;
    }
    bool all = lib->load(&lib->init_, "nvmlInit_v2") &&
               lib->load(&lib->shutdown_, "nvmlShutdown") &&
               lib->load(&lib->error_string_, "nvmlErrorString") &&
               lib->load(&lib->count_, "nvmlDeviceGetCount_v2") &&
               lib->load(&lib->handle_by_index_, "nvmlDeviceGetHandleByIndex_v2") &&
               lib->load(&lib->name_, "nvmlDeviceGetName") &&
               lib->load(&lib->energy_, "nvmlDeviceGetTotalEnergyConsumption") &&
               lib->load(&lib->power_, "nvmlDeviceGetPowerUsage");
    if (!all) {
        lib->why_ = path + " lacks a required NVML entry point (driver too old?)";
        return lib;
    }
    // Power-limit entry points are optional: power_limit.cpp reports their absence.
    lib->load(&lib->constraints_, "nvmlDeviceGetPowerManagementLimitConstraints");
    lib->load(&lib->limit_, "nvmlDeviceGetPowerManagementLimit");
    lib->load(&lib->enforced_, "nvmlDeviceGetEnforcedPowerLimit");
    lib->load(&lib->set_limit_, "nvmlDeviceSetPowerManagementLimit");
    int rc = lib->init_();
    if (rc != kSuccess) {
        lib->why_ = "nvmlInit_v2 failed: " + lib->error_string(rc);
        return lib;
    }
    lib->initialised_ = true;
    lib->ok_ = true;
    return lib;
}

NvmlLibrary::~NvmlLibrary() {
    if (initialised_ && shutdown_ != nullptr) {
        shutdown_();
    }
    // The library stays loaded: NVML may keep threads alive after nvmlShutdown, so dlclose is
    // unsafe.
}

std::string NvmlLibrary::error_string(int code) const {
    const char* s = error_string_ != nullptr ? error_string_(code) : nullptr;
    return (s != nullptr ? std::string(s) : std::string("NVML error")) + " (" +
           std::to_string(code) + ")";
}

int NvmlLibrary::device_count(unsigned* count) const { return count_(count); }
int NvmlLibrary::device_handle(unsigned index, Device* dev) const {
    return handle_by_index_(index, dev);
}
int NvmlLibrary::device_name(Device dev, std::string* name) const {
    char buf[96] = {0};
    int rc = name_(dev, buf, sizeof buf);
    *name = buf;
    return rc;
}
int NvmlLibrary::total_energy_mj(Device dev, unsigned long long* mj) const {
    return energy_(dev, mj);
}
int NvmlLibrary::power_mw(Device dev, unsigned* mw) const { return power_(dev, mw); }
int NvmlLibrary::power_limit_constraints_mw(Device dev, unsigned* min_mw, unsigned* max_mw) const {
    return constraints_ != nullptr ? constraints_(dev, min_mw, max_mw) : kErrorNotSupported;
}
int NvmlLibrary::power_limit_mw(Device dev, unsigned* mw) const {
    return limit_ != nullptr ? limit_(dev, mw) : kErrorNotSupported;
}
int NvmlLibrary::enforced_power_limit_mw(Device dev, unsigned* mw) const {
    return enforced_ != nullptr ? enforced_(dev, mw) : kErrorNotSupported;
}
int NvmlLibrary::set_power_limit_mw(Device dev, unsigned mw) const {
    return set_limit_ != nullptr ? set_limit_(dev, mw) : kErrorNotSupported;
}

NvmlGpuSource::NvmlGpuSource(std::shared_ptr<NvmlLibrary> lib, unsigned index)
    : lib_(std::move(lib)) {
    name_ = "nvml:gpu-" + std::to_string(index);
    component_ = Component::kGpu;
    int rc = lib_->device_handle(index, &dev_);
    if (rc != NvmlLibrary::kSuccess) {
        available_ = false;
        provenance_ = Provenance::kCounter;
        why_unavailable_ = "nvmlDeviceGetHandleByIndex_v2: " + lib_->error_string(rc);
        return;
    }
    std::string gpu_name;
    lib_->device_name(dev_, &gpu_name);
    rc = lib_->total_energy_mj(dev_, &last_raw_mj_);
    if (rc == NvmlLibrary::kSuccess) {
        available_ = true;
        provenance_ = Provenance::kCounter;
        // The NVML energy counter updates every ~20-100 ms.
        update_period_s_ = 0.1;
        note_ = gpu_name + ": nvmlDeviceGetTotalEnergyConsumption (mJ since driver load)";
        return;
    }
    std::string energy_err = lib_->error_string(rc);
    unsigned mw = 0;
    int prc = lib_->power_mw(dev_, &mw);
    if (prc == NvmlLibrary::kSuccess) {
        available_ = true;
        provenance_ = Provenance::kIntegrated;
        update_period_s_ = 0.1;
        note_ = gpu_name + ": no energy counter (" + energy_err +
                "); nvmlDeviceGetPowerUsage polled and integrated (on Ampere+ except GA100 each "
                "reading is a 1 s average)";
        return;
    }
    available_ = false;
    provenance_ = Provenance::kIntegrated;
    why_unavailable_ = "no energy counter (" + energy_err + ") and no power reading (" +
                       lib_->error_string(prc) + ")";
}

double NvmlGpuSource::read_energy_j() {
    std::lock_guard<std::mutex> lock(mu_);
    unsigned long long raw = 0;
    int rc = lib_->total_energy_mj(dev_, &raw);
    if (rc != NvmlLibrary::kSuccess) {
        if (rc != last_error_) {
            add_warning(
                "nvmlDeviceGetTotalEnergyConsumption failed: " + lib_->error_string(rc) +
                "; the counter is cumulative, so energy is recovered at the next good read");
        }
        last_error_ = rc;
        return total_mj_ * 1e-3;
    }
    last_error_ = 0;
    if (raw >= last_raw_mj_) {
        total_mj_ += static_cast<double>(raw - last_raw_mj_);
    } else {
        // The counter restarts at 0 when the driver reloads: count what it holds now; the energy
        // between the last read and the reset is lost.
        add_warning("energy counter went backwards (" + std::to_string(last_raw_mj_) + " mJ -> " +
                    std::to_string(raw) +
                    " mJ): driver reload or reset; energy between the last read and the reset is "
                    "missing");
        total_mj_ += static_cast<double>(raw);
    }
    last_raw_mj_ = raw;
    return total_mj_ * 1e-3;
}

double NvmlGpuSource::read_power_w(double t_s) {
    (void)t_s;
    unsigned mw = 0;
    int rc = lib_->power_mw(dev_, &mw);
    if (rc != NvmlLibrary::kSuccess) {
        if (rc != last_error_) {
            add_warning("nvmlDeviceGetPowerUsage failed: " + lib_->error_string(rc) +
                        "; the gap is interpolated from the neighbouring samples");
        }
        last_error_ = rc;
        return std::numeric_limits<double>::quiet_NaN();
    }
    last_error_ = 0;
    return mw * 1e-3;
}

std::vector<std::shared_ptr<Source>> discover_nvml(const std::string& library_path,
                                                   double sample_period_s) {
    std::vector<std::shared_ptr<Source>> out;
    auto lib = NvmlLibrary::open(library_path);
    if (!lib->ok()) {
        out.push_back(std::make_shared<MissingSource>("nvml", Component::kGpu, Provenance::kCounter,
                                                      lib->why()));
        return out;
    }
    unsigned count = 0;
    int rc = lib->device_count(&count);
    if (rc != NvmlLibrary::kSuccess || count == 0) {
        out.push_back(std::make_shared<MissingSource>(
            "nvml", Component::kGpu, Provenance::kCounter,
            rc != NvmlLibrary::kSuccess ? "nvmlDeviceGetCount_v2: " + lib->error_string(rc)
                                        : "NVML reports no GPUs"));
        return out;
    }
    for (unsigned i = 0; i < count; ++i) {
        auto s = std::make_shared<NvmlGpuSource>(lib, i);
        out.push_back(s);
    }
    (void)sample_period_s;
    return out;
}

}  // namespace gk::energy
