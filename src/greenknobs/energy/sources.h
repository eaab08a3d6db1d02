// Discovering every source on this machine and choosing which to use: counters first, a model only
// for a component no counter covers, never two sources for the same energy.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/energy/source.h"

namespace gk::energy {

struct SourceOptions {
    std::string powercap_root = "/sys/class/powercap";
    std::string hwmon_root = "/sys/class/hwmon";
    std::string nvml_library = "libnvidia-ml.so.1";
    std::string proc_root = "/proc";
    std::string cgroup_root = "/sys/fs/cgroup";
    std::string cpu_calibration_path;  // "" = default_calibration_path(); "none" = ignore
    double cpu_tdp_w = 0;              // 0 = look up the table
    int pid = 0;                       // 0 = whole machine
    double sample_period_s = 0.1;
};

struct SourceEntry {
    std::shared_ptr<Source> source;
    bool used = false;
    std::string why_not_used;  // for available sources that are not used
};

// RAPL zones, NVML GPUs, the CPU model and the RAM model, available or not.
std::vector<std::shared_ptr<Source>> discover_sources(const SourceOptions& opts);
// Per component: every available, non-excluded measured source (counter or integrated); the models
// only where no measured source covers the component.
std::vector<SourceEntry> select_sources(const std::vector<std::shared_ptr<Source>>& sources);
// The report's "sources" list.
nlohmann::json sources_json(const std::vector<SourceEntry>& entries);
// Plain-language lines for `greenknobs sources`.
std::string describe_sources(const std::vector<SourceEntry>& entries);

}  // namespace gk::energy
