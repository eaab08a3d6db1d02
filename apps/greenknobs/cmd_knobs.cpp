// `greenknobs knobs`: every knob with its phase, parameters (defaults, ranges), targets, whether it
// runs on this machine (or why not) and notes. Also defines detect_here(), which `variants` shares.
#ifdef GK_HAVE_KNOBS

#include <cstdio>
#include <memory>
#include <string>

#include "greenknobs/knobs/capabilities.h"
#include "greenknobs/knobs/listing.h"
#include "greenknobs/util/error.h"

#include "command.h"
#ifdef GK_HAVE_ENERGY
#include "greenknobs/energy/power_limit.h"
#endif
#ifdef GK_HAVE_MODEL
#include "greenknobs/model/runtime.h"
#endif

namespace gk::app {

// What this machine can do for the knobs: CUDA from LibTorch (when the model module is built),
// power limits from the energy module's PowerLimiter probe (else the knobs module's own probe).
gk::knobs::Capabilities detect_here(const std::string& device) {
    if (device != "cpu" && device != "cuda") {
        throw InputError("--device", device, "expected cpu or cuda");
    }
    bool cuda = false;
#ifdef GK_HAVE_MODEL
    cuda = gk::model::cuda_available();
#endif
#ifdef GK_HAVE_ENERGY
    gk::knobs::Capabilities caps;
    caps.device = device;
    caps.cuda = cuda;
    gk::energy::PowerLimitOptions plo;
    plo.restore_on_signal = false;  // a probe: it never applies a limit
    gk::energy::PowerLimiter limiter(plo);
    auto support = limiter.supported();
    if (support.supported) {
        caps.gpu_power_limit = support.mechanism == "nvml";
        caps.cpu_power_limit = support.mechanism == "rapl";
    } else {
        caps.power_limit_reason = "no settable power limit here: " + support.reason;
    }
    return caps;
#else
    return gk::knobs::detect_capabilities(device, cuda);
#endif
}

}  // namespace gk::app

namespace {

struct KnobsOptions {
    bool json = false;
    std::string device = "cpu";
};

gk::app::Registrar reg("knobs", 20, [](CLI::App& app) -> gk::app::RunFn {
    auto opt = std::make_shared<KnobsOptions>();
    auto* sub = app.add_subcommand(
        "knobs", "List the knobs: phase, parameters, targets, supported here or why not");
    sub->add_flag("--json", opt->json, "print the registry as JSON");
    sub->add_option("--device", opt->device,
                    "device to check support for: cpu | cuda (default cpu)");
    return [opt]() {
        auto caps = gk::app::detect_here(opt->device);
        if (opt->json) {
            std::printf("%s\n", gk::knobs::knobs_json(caps).dump(2).c_str());
        } else {
            std::printf("%s", gk::knobs::knobs_table(caps).c_str());
        }
        return 0;
    };
});

}  // namespace

#endif  // GK_HAVE_KNOBS
