// See runtime.h. mallopt values measured in docs/perf.md (1.8x per train step on this VM).
#include "greenknobs/model/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>
#include <torch/torch.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"

namespace gk::model {
namespace {

// The BLAS library mapped into this process, from /proc/self/maps.
std::string loaded_blas() {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        auto pos = line.find('/');
        if (pos == std::string::npos) {
            continue;
        }
        std::string path = line.substr(pos);
        if (path.find("libblas") != std::string::npos || path.find("libopenblas") != std::string::npos) {
            return path;
        }
    }
    return "";
}

}  // namespace

bool cuda_available() { return torch::cuda::is_available(); }

RuntimeInfo init_runtime(const std::string& device, int threads) {
    RuntimeInfo info;
    // Keep freed large blocks in the heap instead of returning them with munmap: page faults in this VM
    // cost ~1.8x per training step otherwise.
    info.malloc_tuned = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
    int hw = static_cast<int>(std::thread::hardware_concurrency());
    info.threads = threads > 0 ? threads : std::max(hw, 1);
    torch::set_num_threads(info.threads);
    info.torch_version = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                         "." + std::to_string(TORCH_VERSION_PATCH);
    // Touch BLAS once so the library is mapped, then report which one it is.
    auto a = torch::ones({8, 8});
    (void)torch::mm(a, a);
    info.blas = loaded_blas();
    info.blas_is_reference = info.blas.find("openblas") == std::string::npos &&
                             info.blas.find("blis") == std::string::npos &&
                             info.blas.find("mkl") == std::string::npos && !info.blas.empty();
    if (info.blas_is_reference) {
        log::warn("BLAS is " + info.blas +
                  " (reference implementation, ~16x slower): install libopenblas0-openmp");
    }
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    info.omp_wait_policy = policy ? policy : "";
    if (info.threads > 1 && info.omp_wait_policy.empty()) {
        // Measured (docs/perf/model.md): with other jobs on the machine, spinning OpenMP/OpenBLAS threads
        // made a 2-thread train step 9-40x slower and burnt CPU (energy) while waiting.
        log::warn("OMP_WAIT_POLICY is unset, so idle OpenMP threads spin; on a shared machine export "
                  "OMP_WAIT_POLICY=passive before starting greenknobs (see docs/perf/model.md)");
    }
    info.cuda_available = cuda_available();
    if (device == "cpu") {
        info.device = "cpu";
    } else if (device == "cuda") {
        if (!info.cuda_available) {
            throw UnsupportedError(
                "--device cuda: this LibTorch build has no CUDA or no GPU is visible (LibTorch " +
                info.torch_version + "); build against a CUDA LibTorch 2.x on a GPU machine");
        }
        info.device = "cuda:0";
    } else {
        throw InputError("--device", device, "expected cpu or cuda");
    }
    return info;
}

}  // namespace gk::model
