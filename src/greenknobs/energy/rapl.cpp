// RAPL powercap reader and zone discovery.
#include "greenknobs/energy/rapl.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gk::energy {

namespace {

bool read_small(const std::string& path, std::string* out, int* err_no) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err_no = errno;
        return false;
    }
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    *err_no = n < 0 ? errno : 0;
    ::close(fd);
    if (n < 0) {
        return false;
    }
    buf[n] = '\0';
    out->assign(buf);
    while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) {
        out->pop_back();
    }
    return true;
}

std::string describe_errno(const std::string& path, int err_no) {
    std::string why = "cannot read " + path + ": " + std::strerror(err_no);
    if (err_no == EACCES || err_no == EPERM) {
        why +=
            " (energy_uj is root-only since Linux 5.10, CVE-2020-8694; run as root or grant read "
            "access to the file)";
    }
    return why;
}

}  // namespace

RaplSource::RaplSource(const std::string& zone_dir, const std::string& label, Component component)
    : zone_dir_(zone_dir) {
    name_ = label;
    component_ = component;
    provenance_ = Provenance::kCounter;
    // RAPL updates its energy status about every 1 ms (Intel SDM vol. 3B, 14.10.3).
    update_period_s_ = 0.001;
    int err_no = 0;
    std::string text;
    read_small(zone_dir + "/name", &domain_, &err_no);
    std::string range_path = zone_dir + "/max_energy_range_uj";
    if (!read_small(range_path, &text, &err_no)) {
        available_ = false;
        why_unavailable_ = describe_errno(range_path, err_no);
        return;
    }
    max_range_uj_ = std::strtoull(text.c_str(), nullptr, 10);
    std::string energy_path = zone_dir + "/energy_uj";
    fd_ = ::open(energy_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        available_ = false;
        why_unavailable_ = describe_errno(energy_path, errno);
        return;
    }
    if (!read_raw_uj(&last_raw_uj_)) {
        available_ = false;
        why_unavailable_ = describe_errno(energy_path, errno);
        ::close(fd_);
        fd_ = -1;
        return;
    }
    available_ = true;
    note_ = "powercap " + zone_dir + ", wraps at " + std::to_string(max_range_uj_) + " uJ";
}

RaplSource::~RaplSource() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool RaplSource::read_raw_uj(uint64_t* out) {
    char buf[32];
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        if (n == 0) {
            errno = EIO;
        }
        return false;
    }
    buf[n] = '\0';
    char* end = nullptr;
    *out = std::strtoull(buf, &end, 10);
    return end != buf;
}

double RaplSource::read_energy_j() {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t raw = 0;
    if (!read_raw_uj(&raw)) {
        if (!failed_once_) {
            add_warning("read failed: " + std::string(std::strerror(errno)) +
                        "; keeping the last value until it reads again");
            failed_once_ = true;
        }
        return total_uj_ * 1e-6;
    }
    if (raw >= last_raw_uj_) {
        total_uj_ += static_cast<double>(raw - last_raw_uj_);
    } else if (max_range_uj_ > 0) {
        // One wrap since the last read: the sampler reads far more often than the counter can wrap
        // (a 2^32 uJ range lasts about 60 s at 70 W; the usual 2^38 uJ range, hours).
        total_uj_ += static_cast<double>(max_range_uj_ - last_raw_uj_) + static_cast<double>(raw);
    }
    last_raw_uj_ = raw;
    return total_uj_ * 1e-6;
}

std::vector<std::shared_ptr<Source>> discover_rapl(const std::string& root) {
    std::vector<std::shared_ptr<Source>> out;
    DIR* dir = ::opendir(root.c_str());
    if (dir == nullptr) {
        out.push_back(std::make_shared<MissingSource>(
            "rapl", Component::kCpu, Provenance::kCounter,
            "no powercap tree at " + root + " (" + std::strerror(errno) +
                "): the kernel has no intel_rapl/powercap driver, or this is a VM or container "
                "that does not expose it"));
        return out;
    }
    std::vector<std::string> zones;
    while (dirent* e = ::readdir(dir)) {
        std::string n = e->d_name;
        bool rapl = n.rfind("intel-rapl:", 0) == 0 || n.rfind("intel-rapl-mmio:", 0) == 0 ||
                    n.rfind("amd-rapl:", 0) == 0;
        if (rapl) {
            zones.push_back(n);
        }
    }
    ::closedir(dir);
    std::sort(zones.begin(), zones.end());
    if (zones.empty()) {
        out.push_back(std::make_shared<MissingSource>(
            "rapl", Component::kCpu, Provenance::kCounter,
            "powercap tree at " + root + " has no intel-rapl/amd-rapl zones"));
        return out;
    }

    struct Zone {
        std::string id;      // intel-rapl:0:1
        std::string prefix;  // intel-rapl, intel-rapl-mmio, amd-rapl
        std::string domain;  // package-0, core, dram, psys
        std::string key;     // domain with its package: package-0, dram-0, core-0, psys
        bool mmio;
        std::shared_ptr<RaplSource> source;
    };
    std::vector<Zone> all;
    for (const auto& id : zones) {
        Zone z;
        z.id = id;
        size_t colon = id.find(':');
        z.prefix = id.substr(0, colon);
        z.mmio = z.prefix == "intel-rapl-mmio";
        std::string dir_path = root + "/" + id;
        int err_no = 0;
        read_small(dir_path + "/name", &z.domain, &err_no);
        // The package index: from "package-N" itself, else from the parent zone "prefix:N".
        std::string pkg;
        if (z.domain.rfind("package-", 0) == 0) {
            pkg = z.domain.substr(8);
        } else {
            size_t second = id.find(':', colon + 1);
            if (second != std::string::npos) {
                pkg = id.substr(colon + 1, second - colon - 1);
            }
        }
        std::string base = z.domain.rfind("package-", 0) == 0 ? "package" : z.domain;
        z.key = pkg.empty() || base == "psys" ? base : base + "-" + pkg;
        Component c = base == "dram" ? Component::kRam : Component::kCpu;
        std::string label =
            (z.mmio ? "rapl-mmio:" : (z.prefix == "amd-rapl" ? "amd-rapl:" : "rapl:")) + z.key;
        z.source = std::make_shared<RaplSource>(dir_path, label, c);
        all.push_back(z);
    }

    // Exclusions: one copy per domain key (MSR zone preferred, MMIO copy used only if the MSR one
    // is not readable); core/uncore inside an available package; psys when any package is
    // available.
    std::map<std::string, std::string> chosen;  // key -> zone id
    for (auto& z : all) {
        if (!z.source->available()) {
            continue;
        }
        auto it = chosen.find(z.key);
        if (it == chosen.end()) {
            chosen[z.key] = z.id;
        }
    }
    // Prefer the non-MMIO copy when both are readable.
    for (auto& z : all) {
        if (z.source->available() && !z.mmio) {
            chosen[z.key] = z.id;
        }
    }
    bool any_package = false;
    for (auto& kv : chosen) {
        if (kv.first.rfind("package", 0) == 0) {
            any_package = true;
        }
    }
    for (auto& z : all) {
        if (!z.source->available()) {
            continue;
        }
        std::string base = z.key.substr(0, z.key.find('-'));
        if (chosen[z.key] != z.id) {
            z.source->set_excluded_reason("duplicate of " + chosen[z.key] + " (" + z.key +
                                          "), counted once");
        } else if ((base == "core" || base == "uncore") && any_package) {
            std::string pkg = "package-" + z.key.substr(z.key.find('-') + 1);
            if (chosen.count(pkg) != 0) {
                z.source->set_excluded_reason("contained in " + pkg);
            }
        } else if (base == "psys" && any_package) {
            z.source->set_excluded_reason(
                "psys covers the packages (and more of the SoC); packages + dram are used instead");
        }
        out.push_back(z.source);
    }
    for (auto& z : all) {
        if (!z.source->available()) {
            out.push_back(z.source);
        }
    }
    return out;
}

}  // namespace gk::energy
