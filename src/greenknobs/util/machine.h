// Facts about this machine for run records: host, CPU model, logical CPUs, RAM, OS, peak RSS.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace gk {

struct MachineInfo {
    std::string hostname;
    std::string cpu_model;
    int logical_cpus = 0;
    double ram_gb = 0;
    std::string os;
};

MachineInfo machine_info();
nlohmann::json to_json(const MachineInfo& m);
// Peak resident set size of this process so far (VmHWM), in MB; 0 if unknown.
double peak_rss_mb();

}  // namespace gk
