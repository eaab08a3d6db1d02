// What this machine can do for the knobs that depend on hardware: CUDA (given by the caller, since
// only model/ may ask LibTorch) and whether a power limit can be set (NVML loadable with root for
// the GPU; a RAPL package zone with writable limits for the CPU, found by the power-limit code of
// the energy module itself).
#pragma once

#include <string>

#include "greenknobs/knobs/knob.h"

namespace gk::knobs {

struct ProbePaths {
    std::string powercap_root = "/sys/class/powercap";  // tests pass a fake tree
    std::string nvml_library = "libnvidia-ml.so.1";
};

// device: the configured device ("cpu" | "cuda"); cuda: whether LibTorch here can run CUDA.
Capabilities detect_capabilities(const std::string& device, bool cuda,
                                 const ProbePaths& paths = ProbePaths{});

}  // namespace gk::knobs
