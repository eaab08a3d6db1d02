// NVML through dlopen; energy counter first, power polling as the fallback.
#include "greenknobs/energy/nvml.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <dlfcn.h>

#include "greenknobs/util/error.h"

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
    lib->load(&lib->uuid_, "nvmlDeviceGetUUID");
    lib->load(&lib->max_mig_, "nvmlDeviceGetMaxMigDeviceCount");
    lib->load(&lib->mig_by_index_, "nvmlDeviceGetMigDeviceHandleByIndex");
    lib->load(&lib->field_values_, "nvmlDeviceGetFieldValues");
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

int NvmlLibrary::device_uuid(Device dev, std::string* uuid) const {
    if (uuid_ == nullptr) {
        return kErrorNotSupported;
    }
    char buf[96] = {0};
    int rc = uuid_(dev, buf, sizeof buf);
    *uuid = buf;
    return rc;
}
int NvmlLibrary::max_mig_device_count(Device dev, unsigned* count) const {
    return max_mig_ != nullptr ? max_mig_(dev, count) : kErrorNotSupported;
}
int NvmlLibrary::mig_device_handle(Device dev, unsigned index, Device* mig) const {
    return mig_by_index_ != nullptr ? mig_by_index_(dev, index, mig) : kErrorNotSupported;
}

namespace {

// nvmlFieldValue_t (nvml.h): the layout of the driver's ABI.
struct NvmlFieldValue {
    unsigned field_id;
    unsigned scope_id;
    long long timestamp;
    long long latency_us;
    int value_type;  // nvmlValueType_t: 0 double, 1 unsigned int, 2 unsigned long, 3 ull, 4 sll
    int nvml_return;
    union {
        double d;
        unsigned ui;
        unsigned long ul;
        unsigned long long ull;
        long long sll;
    } value;
};
constexpr unsigned kFieldPowerInstant = 186;  // NVML_FI_DEV_POWER_INSTANT

}  // namespace

int NvmlLibrary::instant_power_mw(Device dev, unsigned* mw) const {
    if (field_values_ == nullptr) {
        return kErrorNotSupported;
    }
    NvmlFieldValue f;
    std::memset(&f, 0, sizeof f);
    f.field_id = kFieldPowerInstant;
    int rc = field_values_(dev, 1, &f);
    if (rc != kSuccess) {
        return rc;
    }
    if (f.nvml_return != kSuccess) {
        return f.nvml_return;
    }
    switch (f.value_type) {
        case 0:
            *mw = static_cast<unsigned>(f.value.d);
            break;
        case 1:
            *mw = f.value.ui;
            break;
        case 2:
            *mw = static_cast<unsigned>(f.value.ul);
            break;
        case 3:
            *mw = static_cast<unsigned>(f.value.ull);
            break;
        default:
            *mw = static_cast<unsigned>(f.value.sll);
            break;
    }
    return kSuccess;
}

namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s + ",") {
        if (c == ',') {
            size_t b = cur.find_first_not_of(" \t");
            size_t e = cur.find_last_not_of(" \t");
            out.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
            cur.clear();
        } else {
            cur += c;
        }
    }
    return out;
}

bool is_index(const std::string& t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
}

std::string join_indices(const std::vector<unsigned>& v) {
    std::string s;
    for (unsigned i : v) {
        s += (s.empty() ? "" : ", ") + std::to_string(i);
    }
    return s.empty() ? "none" : s;
}

}  // namespace

VisibleGpus resolve_visible_gpus(const NvmlLibrary& lib, const std::string* cuda_visible,
                                 const std::string* nvidia_visible) {
    VisibleGpus v;
    unsigned count = 0;
    if (lib.device_count(&count) != NvmlLibrary::kSuccess) {
        count = 0;
    }
    // Every GPU's UUID and its MIG instances' UUIDs.
    std::vector<std::string> uuid(count), name(count);
    std::vector<std::vector<std::string>> mig(count);
    for (unsigned i = 0; i < count; ++i) {
        NvmlLibrary::Device dev = nullptr;
        if (lib.device_handle(i, &dev) != NvmlLibrary::kSuccess) {
            continue;
        }
        lib.device_uuid(dev, &uuid[i]);
        lib.device_name(dev, &name[i]);
        unsigned n_mig = 0;
        if (lib.max_mig_device_count(dev, &n_mig) == NvmlLibrary::kSuccess) {
            for (unsigned k = 0; k < n_mig; ++k) {
                NvmlLibrary::Device m = nullptr;
                std::string u;
                if (lib.mig_device_handle(dev, k, &m) == NvmlLibrary::kSuccess &&
                    lib.device_uuid(m, &u) == NvmlLibrary::kSuccess && !u.empty()) {
                    mig[i].push_back(u);
                }
            }
        }
    }
    // A UUID (or a unique prefix of one, as CUDA accepts) among `among`: the NVML index, its being
    // a MIG instance, or -1.
    auto by_uuid = [&](const std::string& t, const std::vector<unsigned>& among, bool* is_mig) {
        long found = -1;
        int matches = 0;
        *is_mig = false;
        std::string gpu_part = t;
        if (t.rfind("MIG-GPU-", 0) == 0) {  // MIG-GPU-<gpu uuid>/<gi>/<ci> (drivers before R470)
            gpu_part =
                t.substr(4, t.find('/') == std::string::npos ? std::string::npos : t.find('/') - 4);
        }
        for (unsigned i : among) {
            if (t.rfind("MIG-", 0) == 0 && t.rfind("MIG-GPU-", 0) != 0) {
                for (const auto& m : mig[i]) {
                    if (m.rfind(t, 0) == 0) {
                        found = i;
                        ++matches;
                        *is_mig = true;
                    }
                }
            } else if (!uuid[i].empty() && uuid[i].rfind(gpu_part, 0) == 0) {
                found = i;
                ++matches;
                *is_mig = gpu_part != t;
            }
        }
        return matches == 1 ? found : -1L;
    };
    std::vector<unsigned> base;
    for (unsigned i = 0; i < count; ++i) {
        base.push_back(i);
    }
    std::string origin;
    if (nvidia_visible != nullptr && *nvidia_visible != "all" && !nvidia_visible->empty()) {
        v.restricted = true;
        origin = "NVIDIA_VISIBLE_DEVICES=" + *nvidia_visible;
        if (*nvidia_visible == "none" || *nvidia_visible == "void") {
            base.clear();
        } else {
            auto toks = split_list(*nvidia_visible);
            bool all_indices = true;
            for (const auto& t : toks) {
                all_indices = all_indices && is_index(t);
            }
            if (all_indices && toks.size() == count) {
                // Inside a container the runtime has already exposed only these GPUs to NVML
                // (renumbered from 0): nothing left to filter.
            } else {
                std::vector<unsigned> sel;
                for (const auto& t : toks) {
                    bool m = false;
                    long idx =
                        is_index(t) ? std::strtol(t.c_str(), nullptr, 10) : by_uuid(t, base, &m);
                    if (idx < 0 || static_cast<unsigned long>(idx) >= count) {
                        v.error =
                            "NVIDIA_VISIBLE_DEVICES entry '" + t + "' names no GPU NVML reports";
                        return v;
                    }
                    v.has_mig = v.has_mig || m;
                    if (std::find(sel.begin(), sel.end(), static_cast<unsigned>(idx)) ==
                        sel.end()) {
                        sel.push_back(static_cast<unsigned>(idx));
                    }
                }
                base = sel;
            }
        }
    }
    if (cuda_visible != nullptr) {
        v.restricted = true;
        origin += (origin.empty() ? "" : ", ") + ("CUDA_VISIBLE_DEVICES=" + *cuda_visible);
        std::vector<unsigned> sel;
        bool numeric = false;
        auto toks = split_list(*cuda_visible);
        for (size_t k = 0; k < toks.size(); ++k) {
            const std::string& t = toks[k];
            long idx = -1;
            bool m = false;
            if (is_index(t)) {
                long n = std::strtol(t.c_str(), nullptr, 10);
                idx = n < static_cast<long>(base.size())
                          ? static_cast<long>(base[static_cast<size_t>(n)])
                          : -1;
                numeric = true;
            } else if (t.rfind("GPU-", 0) == 0 || t.rfind("MIG-", 0) == 0) {
                idx = by_uuid(t, base, &m);
            }
            if (idx < 0) {
                // CUDA ignores the rest of the list from the first entry it cannot use.
                if (!(toks.size() == 1 && t.empty())) {
                    v.warnings.push_back("CUDA_VISIBLE_DEVICES: '" + t +
                                         "' is not a visible GPU; it and the entries after it are "
                                         "ignored, as CUDA does");
                }
                break;
            }
            v.has_mig = v.has_mig || m;
            if (std::find(sel.begin(), sel.end(), static_cast<unsigned>(idx)) == sel.end()) {
                sel.push_back(static_cast<unsigned>(idx));
            }
        }
        const char* order = std::getenv("CUDA_DEVICE_ORDER");
        bool mixed = false;
        for (unsigned i : base) {
            mixed = mixed || name[i] != name[base.front()];
        }
        if (numeric && mixed && (order == nullptr || std::string(order) != "PCI_BUS_ID")) {
            v.warnings.push_back(
                "CUDA_VISIBLE_DEVICES indices are taken in NVML (PCI bus) order; with different "
                "GPU "
                "models CUDA orders fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID: set it, or "
                "use UUIDs");
        }
        base = sel;
    }
    v.indices = base;
    v.origin =
        (origin.empty() ? std::string("all GPUs") : origin) + " -> NVML " + join_indices(base);
    return v;
}

VisibleGpus visible_gpus_from_env(const NvmlLibrary& lib) {
    const char* cuda = std::getenv("CUDA_VISIBLE_DEVICES");
    const char* nvidia = std::getenv("NVIDIA_VISIBLE_DEVICES");
    std::string c = cuda != nullptr ? cuda : "";
    std::string n = nvidia != nullptr ? nvidia : "";
    return resolve_visible_gpus(lib, cuda != nullptr ? &c : nullptr,
                                nvidia != nullptr ? &n : nullptr);
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
    device_name_ = gpu_name;
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
    if (lib_->instant_power_mw(dev_, &mw) == NvmlLibrary::kSuccess) {
        available_ = true;
        instant_ = true;
        provenance_ = Provenance::kIntegrated;
        update_period_s_ = 0.1;
        note_ = gpu_name + ": no energy counter (" + energy_err +
                "); NVML_FI_DEV_POWER_INSTANT polled and integrated";
        return;
    }
    int prc = lib_->power_mw(dev_, &mw);
    if (prc == NvmlLibrary::kSuccess) {
        available_ = true;
        provenance_ = Provenance::kIntegrated;
        update_period_s_ = 0.1;
        note_ = gpu_name + ": no energy counter (" + energy_err +
                "); nvmlDeviceGetPowerUsage polled and integrated (no instantaneous power field; "
                "on Ampere+ except GA100 each reading is a 1 s average)";
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
    int rc = instant_ ? lib_->instant_power_mw(dev_, &mw) : lib_->power_mw(dev_, &mw);
    if (rc != NvmlLibrary::kSuccess) {
        if (rc != last_error_) {
            add_warning(
                std::string(instant_ ? "NVML_FI_DEV_POWER_INSTANT" : "nvmlDeviceGetPowerUsage") +
                " failed: " + lib_->error_string(rc) +
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
    const char* cuda = std::getenv("CUDA_VISIBLE_DEVICES");
    const char* nvidia = std::getenv("NVIDIA_VISIBLE_DEVICES");
    std::string c = cuda != nullptr ? cuda : "";
    std::string n = nvidia != nullptr ? nvidia : "";
    return discover_nvml(library_path, sample_period_s, cuda != nullptr ? &c : nullptr,
                         nvidia != nullptr ? &n : nullptr);
}

std::vector<std::shared_ptr<Source>> discover_nvml(const std::string& library_path,
                                                   double sample_period_s,
                                                   const std::string* cuda_visible,
                                                   const std::string* nvidia_visible) {
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
    VisibleGpus vis = resolve_visible_gpus(*lib, cuda_visible, nvidia_visible);
    if (!vis.error.empty()) {
        throw InputError("environment", "NVIDIA_VISIBLE_DEVICES", vis.error);
    }
    for (unsigned i = 0; i < count; ++i) {
        auto s = std::make_shared<NvmlGpuSource>(lib, i);
        bool visible = std::find(vis.indices.begin(), vis.indices.end(), i) != vis.indices.end();
        if (s->available() && !visible) {
            s->set_excluded_reason("not visible to this process (" + vis.origin + ")");
        } else if (s->available() && vis.restricted) {
            s->set_scope("gpu-set");
            s->append_note("visible set: " + vis.origin +
                           (vis.has_mig ? "; MIG instances are measured as their whole GPU" : ""));
        }
        for (const auto& w : vis.warnings) {
            s->add_setup_warning(w);
        }
        out.push_back(s);
    }
    (void)sample_period_s;
    return out;
}

}  // namespace gk::energy
