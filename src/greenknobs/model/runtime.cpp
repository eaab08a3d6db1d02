// See runtime.h. mallopt values measured in docs/perf.md (1.8x per train step on this VM).
#include "greenknobs/model/runtime.h"

#include <cstdlib>
#include <fstream>

#include <torch/torch.h>

#include <malloc.h>
#include <unistd.h>

#include "greenknobs/model/omp_env.h"
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
        if (path.find("libblas") != std::string::npos ||
            path.find("libopenblas") != std::string::npos) {
            return path;
        }
    }
    return "";
}

}  // namespace

nlohmann::json to_json(const RuntimeInfo& info) {
    return {{"torch_version", info.torch_version},
            {"blas", info.blas},
            {"blas_is_reference", info.blas_is_reference},
            {"device", info.device},
            {"threads", info.threads},
            {"threads_source", info.threads_source},
            {"affinity_cpus", info.affinity_cpus},
            {"cpu_quota", info.cpu_quota},
            {"omp_num_threads", info.omp_num_threads},
            {"omp_wait_policy", info.omp_wait_policy},
            {"gomp_spincount", info.gomp_spincount},
            {"omp_wait_source", info.omp_wait_source},
            {"omp_wait_reason", info.omp_wait_reason},
            {"malloc_tuned", info.malloc_tuned},
            {"cpu_bf16_matmul", info.cpu_bf16_matmul}};
}

std::string cpu_bf16_matmul() {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    // LibTorch sends a bf16 matmul to oneDNN only where oneDNN has AVX-512 kernels for it (1.13's
    // mkldnn_bf16_device_check: avx512bw, avx512vl and avx512dq); elsewhere it runs its generic
    // gemm loop.
    const bool onednn = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq");
    return onednn ? "onednn" : "reference";
#else
    return "unknown";
#endif
}

std::string bf16_cpu_warning(const std::string& matmul) {
    if (matmul != "reference") {
        return "";
    }
    return "this CPU has no AVX-512, so LibTorch multiplies bf16 matrices in its scalar reference "
           "loop (30x slower than fp32 on an AVX2 EPYC, docs/perf.md): bf16 here costs far more "
           "time and energy than fp32";
}

bool cuda_available() { return torch::cuda::is_available(); }

RuntimeInfo init_runtime(const std::string& device, int threads) {
    RuntimeInfo info;
    // Keep freed large blocks in the heap instead of returning them with munmap: page faults in
    // this VM cost ~1.8x per training step otherwise.
    info.malloc_tuned = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
    const CpuBudget cpus = cpu_budget();
    info.affinity_cpus = cpus.affinity_cpus;
    info.cpu_quota = cpus.quota_cpus;
    const char* omp_threads = std::getenv("OMP_NUM_THREADS");
    info.omp_num_threads = omp_threads ? omp_threads : "";
    int from_env = 0;
    if (omp_threads) {
        try {
            from_env = std::stoi(omp_threads);  // "4" or "4,2" (nested levels): the first
        } catch (const std::exception&) {
            from_env = 0;
        }
    }
    if (threads > 0) {
        info.threads = threads;
        info.threads_source = "user";
    } else if (from_env > 0) {
        info.threads = from_env;
        info.threads_source = "OMP_NUM_THREADS";
    } else {
        // Not hardware_concurrency(): a container limited by affinity or cpu.max that runs more
        // threads than it has CPUs makes every parallel region wait for a descheduled thread.
        info.threads = cpus.usable;
        info.threads_source = "cpus";
    }
    torch::set_num_threads(info.threads);
    info.torch_version = std::to_string(TORCH_VERSION_MAJOR) + "." +
                         std::to_string(TORCH_VERSION_MINOR) + "." +
                         std::to_string(TORCH_VERSION_PATCH);
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
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    info.gomp_spincount = spin ? spin : "";
    if (const char* marker = std::getenv(kOmpEnvMarker)) {
        info.omp_wait_source = "greenknobs";
        info.omp_wait_reason = marker;
    } else if (policy || spin) {
        info.omp_wait_source = "user";
    } else {
        info.omp_wait_source = "libgomp-default";
        if (info.threads > 1) {
            // Measured (docs/perf/threads.md): libgomp's default spin made a 2-thread step 2-150x
            // slower with other jobs on the machine and burnt the waiting time as CPU energy.
            log::warn(
                "neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, so idle OpenMP threads "
                "spin for milliseconds; the greenknobs CLI chooses passive or a bounded spin "
                "itself (docs/perf/threads.md)");
        }
    }
    info.cpu_bf16_matmul = cpu_bf16_matmul();
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
