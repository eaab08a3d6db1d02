// Capability probes for the knobs' supported() checks. Probing never changes anything: it checks
// that a power-limit file is writable (access(2)) and that NVML can be loaded, nothing more.
#include "greenknobs/knobs/capabilities.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <dlfcn.h>
#include <unistd.h>

namespace gk::knobs {

std::string find_writable_rapl_limit(const std::string& powercap_root, std::string* why_not) {
    namespace stdfs = std::filesystem;
    std::error_code ec;
    if (!stdfs::is_directory(powercap_root, ec)) {
        *why_not = powercap_root + " does not exist (no RAPL powercap interface)";
        return "";
    }
    std::vector<std::string> zones;
    for (const auto& entry : stdfs::directory_iterator(powercap_root, ec)) {
        zones.push_back(entry.path().string());
    }
    std::sort(zones.begin(), zones.end());
    bool any_limit = false;
    for (const auto& zone : zones) {
        const std::string limit = zone + "/constraint_0_power_limit_uw";
        if (!stdfs::exists(limit, ec)) {
            continue;
        }
        any_limit = true;
        if (::access(limit.c_str(), W_OK) == 0) {
            return limit;
        }
    }
    *why_not = any_limit ? "the RAPL power limits under " + powercap_root +
                               " are not writable (needs root and a writable /sys)"
                         : "no RAPL power-limit constraint under " + powercap_root;
    return "";
}

Capabilities detect_capabilities(const std::string& device, bool cuda, const ProbePaths& paths) {
    Capabilities caps;
    caps.device = device;
    caps.cuda = cuda;

    std::string cpu_why;
    caps.cpu_power_limit = !find_writable_rapl_limit(paths.powercap_root, &cpu_why).empty();

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
