// RAPL energy counters through the powercap sysfs tree (root injectable; default
// /sys/class/powercap). Zones: intel-rapl:N (package-N or psys), intel-rapl:N:M (core, uncore,
// dram), intel-rapl-mmio:N (MMIO copies of a package), amd-rapl:N. Counters are read with pread on
// a kept file descriptor and corrected for wraparound with max_energy_range_uj. Provenance
// `counter`.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "greenknobs/energy/source.h"

namespace gk::energy {

class RaplSource : public Source {
  public:
    // zone_dir: e.g. <root>/intel-rapl:0; label: e.g. "rapl:package-0".
    RaplSource(const std::string& zone_dir, const std::string& label, Component component);
    ~RaplSource() override;
    double read_energy_j() override;
    const std::string& zone_dir() const { return zone_dir_; }
    const std::string& domain() const { return domain_; }

  private:
    bool read_raw_uj(uint64_t* out);

    std::string zone_dir_;
    std::string domain_;
    int fd_ = -1;
    uint64_t max_range_uj_ = 0;
    std::mutex mu_;
    uint64_t last_raw_uj_ = 0;
    double total_uj_ = 0;
    bool failed_once_ = false;
};

// Every RAPL zone under `root`, with duplicates and contained domains marked excluded:
// psys ⊇ package ⊇ core/uncore, and an intel-rapl-mmio zone duplicating a package counted once.
// Without a powercap tree: one MissingSource that says why.
std::vector<std::shared_ptr<Source>> discover_rapl(const std::string& root);

}  // namespace gk::energy
