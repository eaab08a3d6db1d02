// `greenknobs sources`: every energy source on this machine, available or not and why, and which
// are used.
#ifdef GK_HAVE_ENERGY

#include <cstdio>
#include <string>

#include "greenknobs/energy/power_limit.h"
#include "greenknobs/energy/sources.h"

#include "command.h"

namespace {

struct SourcesOptions {
    gk::energy::SourceOptions so;
    bool json = false;
};

int run_sources(const SourcesOptions& opt) {
    auto entries = gk::energy::select_sources(gk::energy::discover_sources(opt.so));
    if (opt.json) {
        std::printf("%s\n", gk::energy::sources_json(entries).dump(2).c_str());
        return 0;
    }
    std::printf("%s", gk::energy::describe_sources(entries).c_str());
    gk::energy::PowerLimitOptions plo;
    plo.nvml_library = opt.so.nvml_library;
    plo.powercap_root = opt.so.powercap_root;
    plo.restore_on_signal = false;
    gk::energy::PowerLimiter limiter(plo);
    auto support = limiter.supported();
    std::printf("power limits: %s\n", support.supported
                                          ? ("supported: " + support.reason).c_str()
                                          : ("unsupported: " + support.reason).c_str());
    return 0;
}

gk::app::Registrar reg("sources", 81, [](CLI::App& app) -> gk::app::RunFn {
    auto opt = std::make_shared<SourcesOptions>();
    auto* sub = app.add_subcommand(
        "sources", "List energy sources: available or not, why, and which are used");
    sub->add_flag("--json", opt->json, "print the sources as JSON");
    sub->add_option("--tdp-w", opt->so.cpu_tdp_w, "CPU TDP override in W");
    sub->add_option("--powercap-root", opt->so.powercap_root,
                    "powercap sysfs root (default /sys/class/powercap)");
    sub->add_option("--cpu-calibration", opt->so.cpu_calibration_path,
                    "stored CPU-model calibrations (default ~/.config/greenknobs/"
                    "cpu-calibration.json; 'none' = ignore)");
    sub->add_option("--hwmon-root", opt->so.hwmon_root, "hwmon sysfs root")->group("");
    sub->add_option("--cgroup-root", opt->so.cgroup_root, "cgroup v2 mount")->group("");
    sub->add_option("--nvml-library", opt->so.nvml_library,
                    "NVML library (default libnvidia-ml.so.1)");
    return [opt]() { return run_sources(*opt); };
});

}  // namespace

#endif  // GK_HAVE_ENERGY
