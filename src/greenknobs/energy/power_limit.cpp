// Power-limit mechanism and its restore paths.
#include "greenknobs/energy/power_limit.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "greenknobs/energy/nvml.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::energy {

namespace {

// Active limiters and the restore thread. The signal handler only writes the signal number into a
// pipe (write(2) is async-signal-safe); the thread restores with ordinary locks and NVML calls, so
// a signal that interrupts a thread inside NVML (the sampler) cannot deadlock against it.
constexpr int kMaxLimiters = 8;
std::atomic<PowerLimiter*> g_active[kMaxLimiters];
std::mutex g_registry_mu;  // held while the thread restores; unregister waits on it
struct sigaction g_old_int, g_old_term;
std::mutex g_install_mu;
pid_t g_installed_pid = 0;  // a forked child has no restore thread: installs its own
int g_pipe[2] = {-1, -1};

void on_signal(int sig) {
    int saved_errno = errno;
    unsigned char b = static_cast<unsigned char>(sig);
    ssize_t ignored = ::write(g_pipe[1], &b, 1);
    (void)ignored;
    // A previous handler of the program's own runs now, as before we were installed (it must be
    // async-signal-safe itself); the default action waits for the restore (see restore_thread).
    const struct sigaction& old = sig == SIGINT ? g_old_int : g_old_term;
    if ((old.sa_flags & SA_SIGINFO) == 0 && old.sa_handler != SIG_DFL &&
        old.sa_handler != SIG_IGN) {
        old.sa_handler(sig);
    }
    errno = saved_errno;
}

void restore_thread(int read_fd) {
    for (;;) {
        unsigned char b = 0;
        ssize_t n = ::read(read_fd, &b, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        int sig = b;
        {
            std::lock_guard<std::mutex> lock(g_registry_mu);
            for (auto& slot : g_active) {
                PowerLimiter* p = slot.exchange(nullptr);
                if (p != nullptr) {
                    p->restore_quietly();
                }
            }
        }
        const struct sigaction& old = sig == SIGINT ? g_old_int : g_old_term;
        if ((old.sa_flags & SA_SIGINFO) == 0 && old.sa_handler == SIG_DFL) {
            // The default action (terminate), now that the limits are back.
            ::sigaction(sig, &old, nullptr);
            ::kill(::getpid(), sig);
        }
    }
}

void install_handlers() {
    std::lock_guard<std::mutex> lock(g_install_mu);
    if (g_installed_pid == ::getpid()) {
        return;
    }
    if (g_pipe[0] >= 0) {  // inherited from the parent across fork(): the thread did not come along
        ::close(g_pipe[0]);
        ::close(g_pipe[1]);
    }
    if (::pipe2(g_pipe, O_CLOEXEC) != 0) {
        throw UnsupportedError(std::string("power limit: pipe2: ") + std::strerror(errno));
    }
    std::thread(restore_thread, g_pipe[0]).detach();
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int, old_term;
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
    if (old_int.sa_handler != on_signal) {
        g_old_int = old_int;
    }
    if (old_term.sa_handler != on_signal) {
        g_old_term = old_term;
    }
    g_installed_pid = ::getpid();
}

void register_active(PowerLimiter* p) {
    for (auto& slot : g_active) {
        if (slot.load() == p) {
            return;
        }
    }
    for (auto& slot : g_active) {
        PowerLimiter* expected = nullptr;
        if (slot.compare_exchange_strong(expected, p)) {
            return;
        }
    }
}

void unregister_active(PowerLimiter* p) {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    for (auto& slot : g_active) {
        PowerLimiter* expected = p;
        slot.compare_exchange_strong(expected, nullptr);
    }
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

std::vector<RaplLimitZone> find_rapl_limit_zones(const std::string& powercap_root,
                                                 std::string* why_not) {
    std::vector<RaplLimitZone> zones;
    std::string cpu_why;
    DIR* dir = ::opendir(powercap_root.c_str());
    if (dir == nullptr) {
        cpu_why = "no powercap tree at " + powercap_root;
    } else {
        std::vector<std::string> ids;
        while (dirent* e = ::readdir(dir)) {
            std::string id = e->d_name;
            if (id.rfind("intel-rapl:", 0) == 0 && id.find(':', 11) == std::string::npos) {
                ids.push_back(id);  // packages only: intel-rapl:N (MMIO copies share the limit)
            }
        }
        ::closedir(dir);
        std::sort(ids.begin(), ids.end());
        int packages = 0;
        for (const auto& id : ids) {
            RaplLimitZone z;
            z.dir = powercap_root + "/" + id;
            if (!fs::read_sysfs_value(z.dir + "/name", &z.label) ||
                z.label.rfind("package-", 0) != 0) {
                continue;  // psys has limits too, but they are the platform's
            }
            ++packages;
            for (int c = 0; c < 2; ++c) {
                std::string file = z.dir + "/constraint_" + std::to_string(c) + "_power_limit_uw";
                if (::access(file.c_str(), F_OK) != 0) {
                    continue;  // a package with only the long-term constraint
                }
                if (::access(file.c_str(), W_OK) != 0) {
                    cpu_why = file + " is not writable (" + std::strerror(errno) + "; needs root)";
                    break;
                }
                z.constraints.push_back(c);
            }
            if (!cpu_why.empty()) {
                zones.clear();
                break;
            }
            if (!z.constraints.empty()) {
                zones.push_back(z);
            }
        }
        if (zones.empty() && cpu_why.empty()) {
            cpu_why = packages == 0 ? "no RAPL package zone in " + powercap_root
                                    : "no RAPL power-limit constraint in the package zones of " +
                                          powercap_root;
        }
    }
    *why_not = cpu_why;
    return zones;
}

PowerLimiter::PowerLimiter(PowerLimitOptions opts) : opts_(std::move(opts)) {
    std::string gpu_why;
    nvml_ = NvmlLibrary::open(opts_.nvml_library);
    if (!nvml_->ok()) {
        gpu_why = nvml_->why();
    } else {
        VisibleGpus vis = opts_.visible_from_env
                              ? visible_gpus_from_env(*nvml_)
                              : resolve_visible_gpus(*nvml_, opts_.cuda_visible_devices,
                                                     opts_.nvidia_visible_devices);
        if (!vis.error.empty()) {
            gpu_why = vis.error;
        } else if (vis.has_mig) {
            // A MIG instance shares its GPU's power budget with the other instances: capping the
            // GPU would throttle their users too.
            gpu_why = "the visible devices are MIG instances (" + vis.origin +
                      "); a power limit applies to the whole GPU and would cap other instances";
        } else if (vis.indices.empty()) {
            gpu_why = "no visible GPU (" + vis.origin + ")";
        } else {
            for (unsigned i : vis.indices) {
                void* dev = nullptr;
                unsigned lo = 0, hi = 0;
                if (nvml_->device_handle(i, &dev) != NvmlLibrary::kSuccess) {
                    continue;
                }
                int rc = nvml_->power_limit_constraints_mw(dev, &lo, &hi);
                if (rc != NvmlLibrary::kSuccess) {
                    gpu_why = "gpu-" + std::to_string(i) +
                              ": nvmlDeviceGetPowerManagementLimitConstraints: " +
                              nvml_->error_string(rc);
                    gpus_.clear();
                    gpu_index_.clear();
                    break;
                }
                gpus_.push_back(dev);
                gpu_index_.push_back(i);
            }
            if (gpus_.empty() && gpu_why.empty()) {
                gpu_why = "no visible GPU could be opened (" + vis.origin + ")";
            }
        }
        if (!gpus_.empty()) {
            support_ = {true, "nvml",
                        std::to_string(gpus_.size()) + " GPU(s) through NVML (" + vis.origin + ")"};
            return;
        }
    }
    std::string cpu_why;
    rapl_zones_ = find_rapl_limit_zones(opts_.powercap_root, &cpu_why);
    if (!rapl_zones_.empty()) {
        support_ = {true, "rapl",
                    std::to_string(rapl_zones_.size()) + " CPU package(s) through RAPL"};
        return;
    }
    support_ = {false, "", "GPU: " + gpu_why + "; CPU: " + cpu_why};
}

PowerLimiter::~PowerLimiter() {
    restore_quietly();
    unregister_active(this);
}

std::vector<AppliedLimit> PowerLimiter::apply(double limit_w) {
    if (!support_.supported) {
        throw UnsupportedError("power limit: " + support_.reason);
    }
    if (opts_.restore_on_signal) {
        install_handlers();
    }
    // Registered before anything is changed (and outside mu_: the restore thread takes the
    // registry lock first, then mu_).
    register_active(this);
    std::vector<AppliedLimit> out;
    {
        std::lock_guard<std::mutex> lock(mu_);
        GK_CHECK(!applied_, "PowerLimiter::apply() twice without restore()");
    }
    try {
        out = support_.mechanism == "nvml" ? apply_gpus(limit_w) : apply_rapl(limit_w);
    } catch (...) {
        restore_quietly();
        throw;
    }
    return out;
}

std::vector<AppliedLimit> PowerLimiter::apply_gpus(double limit_w) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AppliedLimit> out;
    unsigned want_mw = static_cast<unsigned>(limit_w * 1000.0 + 0.5);
    for (size_t i = 0; i < gpus_.size(); ++i) {
        unsigned lo = 0, hi = 0;
        nvml_->power_limit_constraints_mw(gpus_[i], &lo, &hi);
        if (want_mw < lo || want_mw > hi) {
            throw InputError("system.power_limit_w", watts(limit_w),
                             "gpu-" + std::to_string(gpu_index_[i]) + " accepts " +
                                 watts(lo / 1000.0) + " to " + watts(hi / 1000.0));
        }
    }
    for (size_t i = 0; i < gpus_.size(); ++i) {
        AppliedLimit a;
        a.device = "gpu-" + std::to_string(gpu_index_[i]);
        a.requested_w = limit_w;
        unsigned prev = 0;
        int rc = nvml_->power_limit_mw(gpus_[i], &prev);
        if (rc != NvmlLibrary::kSuccess) {
            throw UnsupportedError(
                a.device + ": nvmlDeviceGetPowerManagementLimit: " + nvml_->error_string(rc));
        }
        rc = nvml_->set_power_limit_mw(gpus_[i], want_mw);
        if (rc != NvmlLibrary::kSuccess) {
            throw UnsupportedError(a.device + ": nvmlDeviceSetPowerManagementLimit: " +
                                   nvml_->error_string(rc) + " (setting limits needs root)");
        }
        gpu_saved_.push_back({gpus_[i], prev});
        applied_ = true;
        unsigned enforced = 0;
        rc = nvml_->enforced_power_limit_mw(gpus_[i], &enforced);
        a.previous_w = prev / 1000.0;
        a.enforced_w = rc == NvmlLibrary::kSuccess ? enforced / 1000.0 : 0;
        if (rc != NvmlLibrary::kSuccess) {
            throw UnsupportedError(a.device +
                                   ": nvmlDeviceGetEnforcedPowerLimit: " + nvml_->error_string(rc));
        }
        // The enforced limit is the lowest of every limit in force (ours, an administrator's
        // through nvidia-smi or the in-band/out-of-band controller): below ours it is a cap we may
        // not lift, and the run goes on at it; above ours our write did not take.
        if (enforced < want_mw) {
            a.capped = true;
            a.note = "enforced " + watts(a.enforced_w) + " < requested " + watts(limit_w) +
                     ": a lower limit set outside greenknobs is in force";
        } else if (enforced > want_mw) {
            throw UnsupportedError(a.device + ": enforced limit " + watts(a.enforced_w) +
                                   " is above the requested " + watts(limit_w) +
                                   " (the write did not take)");
        }
        out.push_back(a);
    }
    return out;
}

std::vector<AppliedLimit> PowerLimiter::apply_rapl(double limit_w) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AppliedLimit> out;
    long long want_uw = static_cast<long long>(limit_w * 1e6 + 0.5);
    for (const auto& z : rapl_zones_) {
        for (int c : z.constraints) {
            std::string prefix = z.dir + "/constraint_" + std::to_string(c);
            std::string file = prefix + "_power_limit_uw";
            std::string cname;
            fs::read_sysfs_value(prefix + "_name", &cname);
            AppliedLimit a;
            a.device = z.label + (cname.empty() ? "/constraint_" + std::to_string(c) : "/" + cname);
            a.requested_w = limit_w;
            long long target = want_uw;
            // The hardware's ceiling for this constraint (max_power_uw, when the driver exposes
            // it): asking above it is capped, not an error.
            std::string max_text;
            if (fs::read_sysfs_value(prefix + "_max_power_uw", &max_text)) {
                long long max_uw = std::strtoll(max_text.c_str(), nullptr, 10);
                if (max_uw > 0 && target > max_uw) {
                    target = max_uw;
                    a.capped = true;
                    a.note = "capped at the constraint's max_power_uw " + watts(max_uw * 1e-6);
                }
            }
            std::string prev;
            if (!fs::read_sysfs_value(file, &prev) || prev.empty()) {
                throw UnsupportedError("cannot read " + file);
            }
            std::string want = std::to_string(target);
            if (!write_text(file.c_str(), want.c_str(), want.size())) {
                throw UnsupportedError("cannot write " + file + ": " + std::strerror(errno));
            }
            rapl_saved_.push_back({file, prev});
            applied_ = true;
            std::string back;
            fs::read_sysfs_value(file, &back);
            double back_uw = std::strtod(back.c_str(), nullptr);
            a.previous_w = std::strtod(prev.c_str(), nullptr) * 1e-6;
            a.enforced_w = back_uw * 1e-6;
            // The register holds the limit in power units (1/8 W on most parts, up to 1 W): the
            // read-back is the written value rounded to the unit, not the text we wrote.
            const double tolerance_uw = std::max(1e6, 0.01 * static_cast<double>(target));
            double diff = back_uw - static_cast<double>(target);
            if (diff > tolerance_uw) {
                throw UnsupportedError(file + " reads back " + back + " uW after writing " + want +
                                       " (the write did not take)");
            }
            if (diff < -tolerance_uw) {
                a.capped = true;
                a.note = "reads back " + watts(a.enforced_w) +
                         ": a lower platform or administrator limit (BIOS, firmware) is in force";
            }
            out.push_back(a);
        }
    }
    return out;
}

void PowerLimiter::restore_locked(std::string* errors) {
    for (auto it = gpu_saved_.rbegin(); it != gpu_saved_.rend(); ++it) {
        int rc = nvml_->set_power_limit_mw(it->device, it->previous_mw);
        if (rc != NvmlLibrary::kSuccess) {
            *errors += "GPU limit not restored: " + nvml_->error_string(rc) + "; ";
        }
    }
    for (auto it = rapl_saved_.rbegin(); it != rapl_saved_.rend(); ++it) {
        if (!write_text(it->path.c_str(), it->previous_text.c_str(), it->previous_text.size())) {
            *errors += it->path + " not restored; ";
        }
    }
    gpu_saved_.clear();
    rapl_saved_.clear();
    applied_ = false;
}

void PowerLimiter::restore() {
    std::string errors;
    {
        std::lock_guard<std::mutex> lock(mu_);
        restore_locked(&errors);
    }
    if (!errors.empty()) {
        throw UnsupportedError("power limit restore: " + errors);
    }
}

void PowerLimiter::restore_quietly() noexcept {
    try {
        std::string errors;
        std::lock_guard<std::mutex> lock(mu_);
        restore_locked(&errors);
    } catch (...) {
    }
}

}  // namespace gk::energy
