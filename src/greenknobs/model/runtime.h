// Process-wide LibTorch set-up for speed and honesty: intra-op threads (the VM default is 1), glibc
// malloc tuned so large tensors stop being mmap/munmap'd on every step, the BLAS actually in use,
// and the device.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace gk::model {

struct RuntimeInfo {
    std::string torch_version;
    std::string blas;  // the libblas.so.3 that is loaded (openblas expected)
    bool blas_is_reference = false;
    int threads = 0;
    // Where `threads` came from: "user" (the threads knob), "OMP_NUM_THREADS", or "cpus" (the CPUs
    // this process may use: affinity mask and cgroup quota, docs/perf/threads.md).
    std::string threads_source;
    int affinity_cpus = 0;  // CPUs in the affinity mask
    double cpu_quota = 0;   // cgroup v2 cpu.max quota in CPUs (0 = none)
    std::string device;     // "cpu" or "cuda:0"
    bool cuda_available = false;
    bool malloc_tuned = false;
    // OMP_WAIT_POLICY as the process was started with ("" = unset = libgomp's spinning default).
    // libgomp reads it before main(), so only the parent (shell, Makefile, study runner) can set
    // it.
    std::string omp_wait_policy;
    std::string gomp_spincount;   // GOMP_SPINCOUNT as started with ("" = unset)
    std::string omp_num_threads;  // OMP_NUM_THREADS as started with ("" = unset)
    // Who chose the wait behaviour: "user" (OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment),
    // "greenknobs" (the bounded spin of model/omp_env.h) or "libgomp-default" (nobody).
    std::string omp_wait_source;
    std::string omp_wait_reason;  // greenknobs' choice and why (the measured load at start)
    // How this LibTorch multiplies bf16 matrices on this CPU: "onednn" (oneDNN's kernels: x86 with
    // AVX-512 BW/VL/DQ, or ARM with bf16), "reference" (a scalar loop: an x86 CPU without AVX-512,
    // measured 30x slower than fp32 on an AVX2 EPYC, docs/perf.md) or "unknown".
    std::string cpu_bf16_matmul;
};

// cpu_bf16_matmul's value for this CPU (see RuntimeInfo).
std::string cpu_bf16_matmul();

// What a run that computes in bf16 on this CPU should be told, or "" when nothing: bf16 autocast
// where LibTorch's bf16 matmul is the reference loop costs many times fp32's time and energy.
std::string bf16_cpu_warning(const std::string& cpu_bf16_matmul);

// run.json's machine.runtime object: every field above.
nlohmann::json to_json(const RuntimeInfo& info);

// Call once at start of a torch-using command. threads > 0 wins; 0 = OMP_NUM_THREADS if set, else
// the CPUs this process may really use (affinity mask, cgroup v2 cpu.max quota).
// device "cuda" on a build or machine without CUDA throws UnsupportedError.
RuntimeInfo init_runtime(const std::string& device, int threads);

// Whether this LibTorch build and machine can run CUDA.
bool cuda_available();

}  // namespace gk::model
