// Power-limit mechanism and its restore paths.
#include "greenknobs/energy/power_limit.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "greenknobs/energy/nvml.h"
#include "greenknobs/util/error.h"

namespace gk::energy {

namespace {

// Active limiters, for the signal handler (a fixed table: no allocation in the handler).
constexpr int kMaxLimiters = 8;
std::atomic<PowerLimiter*> g_active[kMaxLimiters];
struct sigaction g_old_int, g_old_term;
std::once_flag g_handlers_once;

void on_signal(int sig) {
    for (auto& slot : g_active) {
        PowerLimiter* p = slot.exchange(nullptr);
        if (p != nullptr) {
            p->restore_from_signal();
        }
    }
    const struct sigaction& old = sig == SIGINT ? g_old_int : g_old_term;
    if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && !(old.sa_flags & SA_SIGINFO)) {
        old.sa_handler(sig);
        return;
    }
    ::sigaction(sig, &old, nullptr);
    ::raise(sig);
}

void install_handlers() {
    std::call_once(g_handlers_once, [] {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGINT, &sa, &g_old_int);
        ::sigaction(SIGTERM, &sa, &g_old_term);
    });
}

void register_active(PowerLimiter* p) {
    for (auto& slot : g_active) {
        PowerLimiter* expected = nullptr;
        if (slot.compare_exchange_strong(expected, p)) {
            return;
        }
    }
}

void unregister_active(PowerLimiter* p) {
    for (auto& slot : g_active) {
        PowerLimiter* expected = p;
        slot.compare_exchange_strong(expected, nullptr);
    }
}

bool read_text(const std::string& path, std::string* out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    out->assign(buf);
    while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) {
        out->pop_back();
    }
    return true;
}

bool write_text(const char* path, const char* text, size_t len) {
    int fd = ::open(
        path, O_WRONLY | O_TRUNC | O_CLOEXEC);  // O_TRUNC: sysfs ignores it; regular files need it
    if (fd < 0) {
        return false;
    }
    bool ok = ::write(fd, text, len) == static_cast<ssize_t>(len);
    ::close(fd);
    return ok;
}

std::string watts(double w) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g W", w);
    return buf;
}

}  // namespace

PowerLimiter::PowerLimiter(PowerLimitOptions opts) : opts_(std::move(opts)) {
    std::string gpu_why;
    nvml_ = NvmlLibrary::open(opts_.nvml_library);
    if (!nvml_->ok()) {
        gpu_why = nvml_->why();
    } else {
        unsigned count = 0;
        int rc = nvml_->device_count(&count);
        if (rc != NvmlLibrary::kSuccess || count == 0) {
            gpu_why =
                rc != NvmlLibrary::kSuccess ? nvml_->error_string(rc) : "NVML reports no GPUs";
        } else {
            for (unsigned i = 0; i < count; ++i) {
                void* dev = nullptr;
                unsigned lo = 0, hi = 0;
                if (nvml_->device_handle(i, &dev) == NvmlLibrary::kSuccess) {
                    rc = nvml_->power_limit_constraints_mw(dev, &lo, &hi);
                    if (rc != NvmlLibrary::kSuccess) {
                        gpu_why = "gpu-" + std::to_string(i) +
                                  ": nvmlDeviceGetPowerManagementLimitConstraints: " +
                                  nvml_->error_string(rc);
                        gpus_.clear();
                        break;
                    }
                    gpus_.push_back(dev);
                }
            }
        }
    }
    if (!gpus_.empty()) {
        support_ = {true, "nvml", std::to_string(gpus_.size()) + " GPU(s) through NVML"};
        return;
    }
    std::string cpu_why;
    DIR* dir = ::opendir(opts_.powercap_root.c_str());
    if (dir == nullptr) {
        cpu_why = "no powercap tree at " + opts_.powercap_root;
    } else {
        while (dirent* e = ::readdir(dir)) {
            std::string id = e->d_name;
            if (id.rfind("intel-rapl:", 0) != 0 || id.find(':', 11) != std::string::npos) {
                continue;  // packages only: intel-rapl:N (MMIO copies share the same limit)
            }
            std::string zone = opts_.powercap_root + "/" + id;
            std::string name;
            if (!read_text(zone + "/name", &name) || name.rfind("package-", 0) != 0) {
                continue;
            }
            std::string file = zone + "/constraint_0_power_limit_uw";
            if (::access(file.c_str(), W_OK) != 0) {
                cpu_why = file + " is not writable (" + std::strerror(errno) + "; needs root)";
                rapl_zones_.clear();
                break;
            }
            rapl_zones_.push_back({name, file});
        }
        ::closedir(dir);
        if (rapl_zones_.empty() && cpu_why.empty()) {
            cpu_why = "no RAPL package zone in " + opts_.powercap_root;
        }
    }
    if (!rapl_zones_.empty()) {
        support_ = {true, "rapl",
                    std::to_string(rapl_zones_.size()) + " CPU package(s) through RAPL"};
        return;
    }
    support_ = {false, "", "GPU: " + gpu_why + "; CPU: " + cpu_why};
}

PowerLimiter::~PowerLimiter() {
    try {
        restore();
    } catch (...) {
    }
    unregister_active(this);
}

std::vector<AppliedLimit> PowerLimiter::apply(double limit_w) {
    if (!support_.supported) {
        throw UnsupportedError("power limit: " + support_.reason);
    }
    GK_CHECK(!applied_, "PowerLimiter::apply() twice without restore()");
    if (opts_.restore_on_signal) {
        install_handlers();
    }
    std::vector<AppliedLimit> out;
    if (support_.mechanism == "nvml") {
        unsigned want_mw = static_cast<unsigned>(limit_w * 1000.0 + 0.5);
        for (size_t i = 0; i < gpus_.size(); ++i) {
            unsigned lo = 0, hi = 0;
            nvml_->power_limit_constraints_mw(gpus_[i], &lo, &hi);
            if (want_mw < lo || want_mw > hi) {
                restore();
                throw InputError("system.power_limit_w", watts(limit_w),
                                 "gpu-" + std::to_string(i) + " accepts " + watts(lo / 1000.0) +
                                     " to " + watts(hi / 1000.0));
            }
        }
        for (size_t i = 0; i < gpus_.size(); ++i) {
            AppliedLimit a;
            a.device = "gpu-" + std::to_string(i);
            a.requested_w = limit_w;
            unsigned prev = 0;
            int rc = nvml_->power_limit_mw(gpus_[i], &prev);
            if (rc != NvmlLibrary::kSuccess) {
                restore();
                throw UnsupportedError(
                    a.device + ": nvmlDeviceGetPowerManagementLimit: " + nvml_->error_string(rc));
            }
            rc = nvml_->set_power_limit_mw(gpus_[i], want_mw);
            if (rc != NvmlLibrary::kSuccess) {
                restore();
                throw UnsupportedError(a.device + ": nvmlDeviceSetPowerManagementLimit: " +
                                       nvml_->error_string(rc) + " (setting limits needs root)");
            }
            gpu_saved_.push_back({gpus_[i], prev});
            applied_ = true;
            register_active(this);
            unsigned enforced = 0;
            rc = nvml_->enforced_power_limit_mw(gpus_[i], &enforced);
            a.previous_w = prev / 1000.0;
            a.enforced_w = rc == NvmlLibrary::kSuccess ? enforced / 1000.0 : 0;
            if (rc != NvmlLibrary::kSuccess || enforced != want_mw) {
                restore();
                throw UnsupportedError(a.device + ": enforced limit " + watts(a.enforced_w) +
                                       " differs from the requested " + watts(limit_w));
            }
            out.push_back(a);
        }
        return out;
    }
    long long want_uw = static_cast<long long>(limit_w * 1e6 + 0.5);
    std::string want = std::to_string(want_uw);
    for (const auto& z : rapl_zones_) {
        AppliedLimit a;
        a.device = z.first;
        a.requested_w = limit_w;
        std::string prev;
        if (!read_text(z.second, &prev)) {
            restore();
            throw UnsupportedError("cannot read " + z.second);
        }
        if (!write_text(z.second.c_str(), want.c_str(), want.size())) {
            restore();
            throw UnsupportedError("cannot write " + z.second + ": " + std::strerror(errno));
        }
        rapl_saved_.push_back({z.second, prev});
        applied_ = true;
        register_active(this);
        std::string back;
        read_text(z.second, &back);
        a.previous_w = std::strtod(prev.c_str(), nullptr) * 1e-6;
        a.enforced_w = std::strtod(back.c_str(), nullptr) * 1e-6;
        if (back != want) {
            restore();
            throw UnsupportedError(z.second + " reads back " + back + " uW after writing " + want);
        }
        out.push_back(a);
    }
    return out;
}

void PowerLimiter::restore() {
    std::string errors;
    for (auto it = gpu_saved_.rbegin(); it != gpu_saved_.rend(); ++it) {
        int rc = nvml_->set_power_limit_mw(it->device, it->previous_mw);
        if (rc != NvmlLibrary::kSuccess) {
            errors += "GPU limit not restored: " + nvml_->error_string(rc) + "; ";
        }
    }
    for (auto it = rapl_saved_.rbegin(); it != rapl_saved_.rend(); ++it) {
        if (!write_text(it->path.c_str(), it->previous_text.c_str(), it->previous_text.size())) {
            errors += it->path + " not restored; ";
        }
    }
    gpu_saved_.clear();
    rapl_saved_.clear();
    applied_ = false;
    unregister_active(this);
    if (!errors.empty()) {
        throw UnsupportedError("power limit restore: " + errors);
    }
}

void PowerLimiter::restore_from_signal() noexcept {
    for (auto it = gpu_saved_.rbegin(); it != gpu_saved_.rend(); ++it) {
        nvml_->set_power_limit_mw(it->device, it->previous_mw);
    }
    for (auto it = rapl_saved_.rbegin(); it != rapl_saved_.rend(); ++it) {
        write_text(it->path.c_str(), it->previous_text.c_str(), it->previous_text.size());
    }
}

}  // namespace gk::energy
