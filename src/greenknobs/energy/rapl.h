// RAPL energy counters through the powercap sysfs tree (root injectable; default
// /sys/class/powercap). Zones: intel-rapl:N (package-N, package-N-die-M on multi-die parts, or
// psys), intel-rapl:N:M (core, uncore, dram), intel-rapl-mmio:N (MMIO copies of a package); AMD Zen
// registers under intel-rapl too. AMD's hwmon energy counters (amd_energy, zenergy: energyN_input
// in uJ) are read where present. Counters are read with pread on a kept file descriptor, corrected
// for wraparound with max_energy_range_uj, and a decrease too large to be a wrap in the elapsed
// time is taken as a reset. Provenance `counter`.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "greenknobs/energy/source.h"

namespace gk::energy {

// A wrap implying more than this mean power over the elapsed time is a reset instead (no CPU
// package or DRAM domain draws 2 kW); a zone's constraint_0_max_power_uw × 4 is used when lower.
constexpr double kMaxPlausibleCounterW = 2000.0;

class RaplSource : public Source {
  public:
    // zone_dir: e.g. <root>/intel-rapl:0; label: e.g. "rapl:package-0". The clock times reads for
    // reset detection (empty = steady_clock).
    RaplSource(const std::string& zone_dir, const std::string& label, Component component,
               Clock clock = {});
    // A bare microjoule counter file (hwmon energyN_input); max_range_uj 0 = it does not wrap.
    RaplSource(const std::string& energy_path, uint64_t max_range_uj, const std::string& label,
               Component component, Clock clock, const std::string& note);
    ~RaplSource() override;
    double read_energy_j() override;
    const std::string& zone_dir() const { return zone_dir_; }
    const std::string& domain() const { return domain_; }
    // The raw counter as read at discovery (for de-duplicating identical copies).
    uint64_t first_raw_uj() const { return first_raw_uj_; }
    uint64_t max_range_uj() const { return max_range_uj_; }

  private:
    bool read_raw_uj(uint64_t* out);
    void open_counter(const std::string& energy_path);

    std::string zone_dir_;
    std::string domain_;
    Clock clock_;
    int fd_ = -1;
    uint64_t max_range_uj_ = 0;
    double max_plausible_w_ = kMaxPlausibleCounterW;
    std::mutex mu_;
    uint64_t first_raw_uj_ = 0;
    uint64_t last_raw_uj_ = 0;
    double last_t_s_ = 0;
    double total_uj_ = 0;
    bool failed_once_ = false;
};

// Every RAPL zone under `root`, with duplicates and contained domains marked excluded:
// psys ⊇ package (or die) ⊇ core/uncore; an intel-rapl-mmio zone duplicating a package, and
// per-die zones that are identical copies of one package counter, counted once.
// Without a powercap tree: one MissingSource that says why.
std::vector<std::shared_ptr<Source>> discover_rapl(const std::string& root, Clock clock = {});
// AMD hwmon energy counters (drivers amd_energy, zenergy) under hwmon_root (default
// /sys/class/hwmon): socket counters as CPU sources, core counters excluded as contained in their
// socket. None found: an empty list (RAPL usually covers the same sockets).
std::vector<std::shared_ptr<Source>> discover_hwmon_energy(const std::string& hwmon_root,
                                                           Clock clock = {});

}  // namespace gk::energy
