// Capability probes for the knobs' supported() checks. Probing never changes anything: it checks
// that a RAPL package limit is writable (access(2), energy's own probe) and that NVML can be
// loaded.
#include "greenknobs/knobs/capabilities.h"

#include <dlfcn.h>
#include <unistd.h>

#include "greenknobs/energy/power_limit.h"

namespace gk::knobs {

Capabilities detect_capabilities(const std::string& device, bool cuda, const ProbePaths& paths) {
    Capabilities caps;
    caps.device = device;
    caps.cuda = cuda;

    std::string cpu_why;  // the same probe the power-limit mechanism uses (energy/power_limit.h)
    caps.cpu_power_limit = !energy::find_rapl_limit_zones(paths.powercap_root, &cpu_why).empty();

    std::string gpu_why;
    if (!cuda) {
        gpu_why = "no CUDA device for an NVML GPU limit";
    } else if (void* h = ::dlopen(paths.nvml_library.c_str(), RTLD_LAZY | RTLD_LOCAL)) {
        ::dlclose(h);
        if (::geteuid() == 0) {
            caps.gpu_power_limit = true;
        } else {
            gpu_why = "setting an NVML power limit needs root";
        }
    } else {
        gpu_why = "cannot load " + paths.nvml_library;
    }
    if (!caps.cpu_power_limit && !caps.gpu_power_limit) {
        caps.power_limit_reason = "no settable power limit here: " + gpu_why + "; " + cpu_why;
    }
    return caps;
}

}  // namespace gk::knobs
