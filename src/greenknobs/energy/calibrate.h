// `greenknobs calibrate`: fits the CPU model to this machine's RAPL package counters. A load
// generator holds every logical CPU at a series of duty cycles (idle to full), the packages' power
// is read from RAPL at each level, and W per CPU = idle + dynamic × u^exponent is fitted and stored
// per CPU model (cpu_model.h), so later runs on machines with the same CPU but without readable
// RAPL (VMs, containers) use a measured curve instead of TDP shares.
#pragma once

#include <string>
#include <vector>

#include "greenknobs/energy/cpu_model.h"

namespace gk::energy {

struct CalibrateOptions {
    std::string powercap_root = "/sys/class/powercap";
    std::string proc_root = "/proc";
    std::vector<double> levels = {0.0, 0.1, 0.25, 0.5, 0.75, 1.0};  // target duty cycles
    double seconds_per_level = 3.0;
    int threads = 0;  // load threads; 0 = one per logical CPU
};

struct CalibrationPoint {
    double target_u = 0;
    double measured_u = 0;  // machine utilisation from /proc/stat over the level
    double power_w = 0;     // sum of the RAPL package counters' power
    double w_per_cpu = 0;   // power_w / logical CPUs
};

struct CalibrationRun {
    CpuCalibration fit;
    std::vector<CalibrationPoint> points;
};

// Throws UnsupportedError when no RAPL package counter is readable (with discover_rapl's reason).
CalibrationRun run_cpu_calibration(const CalibrateOptions& opts);

}  // namespace gk::energy
