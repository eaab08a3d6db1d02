// `greenknobs calibrate`: fit the CPU model to this machine's RAPL counters and store the curve for
// its CPU model; later runs on the same CPU model without RAPL use it (docs/measurement.md).
#ifdef GK_HAVE_ENERGY

#include <cstdio>
#include <string>

#include "greenknobs/energy/calibrate.h"
#include "greenknobs/energy/cpu_model.h"
#include "greenknobs/util/error.h"

#include "command.h"

namespace {

struct CalibrateCliOptions {
    gk::energy::CalibrateOptions run;
    std::string output;
    bool dry_run = false;
};

int run_calibrate(const CalibrateCliOptions& opt) {
    if (opt.run.seconds_per_level <= 0) {
        throw gk::InputError("calibrate", "--seconds-per-level",
                             std::to_string(opt.run.seconds_per_level) + ": must be > 0");
    }
    auto r = gk::energy::run_cpu_calibration(opt.run);
    std::printf("%-10s %12s %10s %12s\n", "target_u", "measured_u", "power_W", "W_per_cpu");
    for (const auto& p : r.points) {
        std::printf("%-10.2f %12.3f %10.2f %12.3f\n", p.target_u, p.measured_u, p.power_w,
                    p.w_per_cpu);
    }
    const auto& f = r.fit;
    std::printf(
        "fit for '%s' (%d logical CPUs, %s): W per CPU = %.4f + %.4f × u^%.2f "
        "(largest residual %.1f %%)\n",
        f.cpu_model.c_str(), f.logical_cpus, f.source.c_str(), f.idle_w_per_cpu,
        f.dynamic_w_per_cpu, f.exponent, 100 * f.max_rel_residual);
    if (opt.dry_run) {
        return 0;
    }
    std::string path = opt.output.empty() ? gk::energy::default_calibration_path() : opt.output;
    gk::energy::store_calibration(path, f);
    std::printf("stored in %s\n", path.c_str());
    return 0;
}

gk::app::Registrar reg("calibrate", 82, [](CLI::App& app) -> gk::app::RunFn {
    auto opt = std::make_shared<CalibrateCliOptions>();
    auto* sub = app.add_subcommand(
        "calibrate",
        "Fit the CPU power model to this machine's RAPL counters and store it for its CPU model");
    sub->add_option("--seconds-per-level", opt->run.seconds_per_level,
                    "measuring time per load level (default 3)");
    sub->add_option("--output", opt->output,
                    "calibration file (default ~/.config/greenknobs/cpu-calibration.json)");
    sub->add_flag("--dry-run", opt->dry_run, "fit and print, do not store");
    sub->add_option("--powercap-root", opt->run.powercap_root, "powercap sysfs root")->group("");
    return [opt]() { return run_calibrate(*opt); };
});

}  // namespace

#endif  // GK_HAVE_ENERGY
