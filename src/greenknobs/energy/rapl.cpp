// RAPL powercap reader and zone discovery.
#include "greenknobs/energy/rapl.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"

namespace gk::energy {

namespace {

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

RaplSource::RaplSource(const std::string& zone_dir, const std::string& label, Component component,
                       Clock clock)
    : zone_dir_(zone_dir), clock_(clock ? std::move(clock) : steady_clock_s()) {
    name_ = label;
    component_ = component;
    provenance_ = Provenance::kCounter;
    // RAPL updates its energy status about every 1 ms (Intel SDM vol. 3B, 14.10.3).
    update_period_s_ = 0.001;
    int err_no = 0;
    std::string text;
    fs::read_sysfs_value(zone_dir + "/name", &domain_, &err_no);
    std::string range_path = zone_dir + "/max_energy_range_uj";
    if (!fs::read_sysfs_value(range_path, &text, &err_no)) {
        available_ = false;
        why_unavailable_ = describe_errno(range_path, err_no);
        return;
    }
    max_range_uj_ = std::strtoull(text.c_str(), nullptr, 10);
    if (fs::read_sysfs_value(zone_dir + "/constraint_0_max_power_uw", &text, &err_no)) {
        double max_w = std::strtod(text.c_str(), nullptr) * 1e-6;
        if (max_w > 0) {
            max_plausible_w_ = std::min(max_plausible_w_, 4 * max_w);
        }
    }
    open_counter(zone_dir + "/energy_uj");
    if (available_) {
        note_ = "powercap " + zone_dir + ", wraps at " + std::to_string(max_range_uj_) + " uJ";
    }
}

RaplSource::RaplSource(const std::string& energy_path, uint64_t max_range_uj,
                       const std::string& label, Component component, Clock clock,
                       const std::string& note)
    : clock_(clock ? std::move(clock) : steady_clock_s()), max_range_uj_(max_range_uj) {
    name_ = label;
    component_ = component;
    provenance_ = Provenance::kCounter;
    update_period_s_ = 0.001;
    zone_dir_ = energy_path.substr(0, energy_path.rfind('/'));
    open_counter(energy_path);
    if (available_) {
        note_ = note;
    }
}

void RaplSource::open_counter(const std::string& energy_path) {
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
    first_raw_uj_ = last_raw_uj_;
    last_t_s_ = clock_();
    available_ = true;
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
    double t = clock_();
    double dt = t - last_t_s_;
    if (raw >= last_raw_uj_) {
        total_uj_ += static_cast<double>(raw - last_raw_uj_);
    } else {
        // Below the last reading: one wrap if the range allows it and the energy it implies is
        // plausible for the time since the last read (the sampler reads far more often than a
        // counter can wrap: a 2^32 uJ range lasts about 60 s at 70 W; the usual 2^38 uJ range,
        // hours); otherwise the counter was reset (CPU hotplug, driver reload): counted from the
        // new value, with a warning, never as a wrap.
        double wrap_uj =
            max_range_uj_ > last_raw_uj_
                ? static_cast<double>(max_range_uj_ - last_raw_uj_) + static_cast<double>(raw)
                : -1;
        bool plausible = wrap_uj >= 0 && wrap_uj * 1e-6 <= max_plausible_w_ * std::max(dt, 0.0);
        if (plausible) {
            total_uj_ += wrap_uj;
        } else {
            char buf[256];
            std::snprintf(buf, sizeof buf,
                          "counter went backwards (%llu uJ -> %llu uJ in %.3f s): too much energy "
                          "for a wrap, taken as a reset; energy between the last read and the "
                          "reset is missing",
                          static_cast<unsigned long long>(last_raw_uj_),
                          static_cast<unsigned long long>(raw), dt);
            add_warning(buf);
            total_uj_ += static_cast<double>(raw);
        }
    }
    last_raw_uj_ = raw;
    last_t_s_ = t;
    return total_uj_ * 1e-6;
}

std::vector<std::shared_ptr<Source>> discover_rapl(const std::string& root, Clock clock) {
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
        // AMD Zen registers its RAPL domains under intel-rapl as well.
        if (n.rfind("intel-rapl:", 0) == 0 || n.rfind("intel-rapl-mmio:", 0) == 0) {
            zones.push_back(n);
        }
    }
    ::closedir(dir);
    std::sort(zones.begin(), zones.end());
    if (zones.empty()) {
        out.push_back(std::make_shared<MissingSource>(
            "rapl", Component::kCpu, Provenance::kCounter,
            "powercap tree at " + root + " has no intel-rapl zones"));
        return out;
    }

    struct Zone {
        std::string id;      // intel-rapl:0:1
        std::string parent;  // intel-rapl:0 for a subzone, "" for a top-level zone
        bool mmio;
        std::string domain;  // package-0, package-0-die-1, core, dram, psys
        std::string base;    // package, core, uncore, dram, psys
        std::string where;   // 0, 0-die-1 (the package or die the zone belongs to); "" for psys
        std::string key;     // base-where: package-0, core-0-die-1, dram-1, psys
        std::shared_ptr<RaplSource> source;
    };
    std::vector<Zone> all;
    std::map<std::string, std::string> top_where;  // top-level zone id -> its package/die
    for (const auto& id : zones) {
        Zone z;
        z.id = id;
        size_t colon = id.find(':');
        z.mmio = id.compare(0, colon, "intel-rapl-mmio") == 0;
        size_t second = id.find(':', colon + 1);
        z.parent = second == std::string::npos ? "" : id.substr(0, second);
        int err_no = 0;
        fs::read_sysfs_value(root + "/" + id + "/name", &z.domain, &err_no);
        if (z.domain.rfind("package-", 0) == 0) {
            z.base = "package";
            z.where = z.domain.substr(8);  // "0" or "0-die-1"
        } else {
            z.base = z.domain;
        }
        all.push_back(z);
        if (z.parent.empty()) {
            top_where[id] = z.where;
        }
    }
    for (auto& z : all) {
        if (!z.parent.empty()) {
            // A subzone belongs to its parent's package or die (not to the index in its id, which
            // counts dies on multi-die parts).
            auto it = top_where.find(z.parent);
            z.where = it != top_where.end() ? it->second : z.parent.substr(z.parent.find(':') + 1);
        }
        z.key = z.where.empty() || z.base == "psys" ? z.base : z.base + "-" + z.where;
        Component c = z.base == "dram" ? Component::kRam : Component::kCpu;
        std::string label = (z.mmio ? "rapl-mmio:" : "rapl:") + z.key;
        z.source = std::make_shared<RaplSource>(root + "/" + z.id, label, c, clock);
    }

    // One copy per domain key: the MSR zone preferred, the MMIO copy used only if the MSR one is
    // not readable.
    std::map<std::string, std::string> chosen;  // key -> zone id
    for (auto& z : all) {
        if (!z.source->available()) {
            continue;
        }
        auto it = chosen.find(z.key);
        if (it == chosen.end() || (it->second.rfind("intel-rapl-mmio:", 0) == 0 && !z.mmio)) {
            chosen[z.key] = z.id;
        }
    }
    // Per-die copies: on some multi-die parts every die zone reports the one package counter.
    // Two zones of the same kind in the same package that read exactly the same microjoules (and
    // wrap at the same range) are one counter.
    std::map<std::string, std::string> copy_of;  // zone id -> the zone it copies
    auto package_of = [](const std::string& where) { return where.substr(0, where.find('-')); };
    for (size_t i = 0; i < all.size(); ++i) {
        const Zone& a = all[i];
        if (!a.source->available() || chosen[a.key] != a.id || copy_of.count(a.id) != 0) {
            continue;
        }
        for (size_t k = i + 1; k < all.size(); ++k) {
            const Zone& b = all[k];
            if (b.source->available() && chosen[b.key] == b.id && b.base == a.base &&
                b.key != a.key && !a.where.empty() && package_of(b.where) == package_of(a.where) &&
                b.source->first_raw_uj() == a.source->first_raw_uj() &&
                b.source->max_range_uj() == a.source->max_range_uj() &&
                a.source->first_raw_uj() != 0) {
                copy_of[b.id] = a.id;
            }
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
        if (chosen[z.key] != z.id) {
            z.source->set_excluded_reason("duplicate of " + chosen[z.key] + " (" + z.key +
                                          "), counted once");
        } else if (copy_of.count(z.id) != 0) {
            z.source->set_excluded_reason("reads the same counter as " + copy_of[z.id] +
                                          " (a per-die copy of the package counter), counted once");
        } else if ((z.base == "core" || z.base == "uncore") &&
                   chosen.count("package-" + z.where) != 0) {
            z.source->set_excluded_reason("contained in package-" + z.where);
        } else if (z.base == "psys" && any_package) {
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

std::vector<std::shared_ptr<Source>> discover_hwmon_energy(const std::string& hwmon_root,
                                                           Clock clock) {
    std::vector<std::shared_ptr<Source>> out;
    DIR* dir = ::opendir(hwmon_root.c_str());
    if (dir == nullptr) {
        return out;
    }
    std::vector<std::string> hwmons;
    while (dirent* e = ::readdir(dir)) {
        if (std::string(e->d_name).rfind("hwmon", 0) == 0) {
            hwmons.push_back(e->d_name);
        }
    }
    ::closedir(dir);
    std::sort(hwmons.begin(), hwmons.end());
    for (const auto& h : hwmons) {
        std::string hdir = hwmon_root + "/" + h;
        std::string driver;
        int err_no = 0;
        if (!fs::read_sysfs_value(hdir + "/name", &driver, &err_no) ||
            (driver != "amd_energy" && driver != "zenergy")) {
            continue;
        }
        std::vector<std::shared_ptr<RaplSource>> sockets, cores;
        for (int i = 1; i < 4096; ++i) {
            std::string input = hdir + "/energy" + std::to_string(i) + "_input";
            if (::access(input.c_str(), F_OK) != 0) {
                if (i > 1) {
                    break;
                }
                continue;
            }
            std::string label;
            fs::read_sysfs_value(hdir + "/energy" + std::to_string(i) + "_label", &label, &err_no);
            // Labels: "Esocket0", "Ecore012". The driver accumulates the 32-bit hardware counter
            // into 64 bits: no wrap to correct.
            bool socket = label.rfind("Esocket", 0) == 0;
            std::string idx = label.substr(std::min(label.size(), socket ? size_t{7} : size_t{5}));
            std::string name = "hwmon:" + driver + ":" + (socket ? "socket-" : "core-") + idx;
            auto src = std::make_shared<RaplSource>(
                input, 0, name, Component::kCpu, clock,
                "hwmon " + driver + " " + input + " (" + label + "), uJ");
            (socket ? sockets : cores).push_back(src);
        }
        for (auto& c : cores) {
            if (c->available() && !sockets.empty()) {
                c->set_excluded_reason("contained in its socket counter");
            }
            out.push_back(c);
        }
        for (auto& s : sockets) {
            out.insert(out.begin(), s);
        }
    }
    return out;
}

}  // namespace gk::energy
