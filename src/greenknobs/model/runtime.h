// Process-wide LibTorch set-up for speed and honesty: intra-op threads (the VM default is 1), glibc malloc
// tuned so large tensors stop being mmap/munmap'd on every step, the BLAS actually in use, and the device.
#pragma once

#include <string>

namespace gk::model {

struct RuntimeInfo {
    std::string torch_version;
    std::string blas;           // the libblas.so.3 that is loaded (openblas expected)
    bool blas_is_reference = false;
    int threads = 0;
    std::string device;         // "cpu" or "cuda:0"
    bool cuda_available = false;
    bool malloc_tuned = false;
    // OMP_WAIT_POLICY as the process was started with ("" = unset = libgomp's spinning default). libgomp
    // reads it before main(), so only the parent (shell, Makefile, study runner) can set it.
    std::string omp_wait_policy;
};

// Call once at start of a torch-using command. threads 0 = all hardware threads.
// device "cuda" on a build or machine without CUDA throws UnsupportedError.
RuntimeInfo init_runtime(const std::string& device, int threads);

// Whether this LibTorch build and machine can run CUDA.
bool cuda_available();

}  // namespace gk::model
