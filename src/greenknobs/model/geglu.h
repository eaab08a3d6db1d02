// ModernBERT's GeGLU, gelu(input) * gate with input and gate the two halves of Wi's output, as one
// fused CPU kernel for the exact (erf) GELU: one pass forward, and a backward that writes the
// gradient of Wi's whole output in one pass. LibTorch 1.13 runs it as chunk + gelu + mul on strided
// halves, and its backward as two muls, gelu_backward and the cat of the halves' gradients, saving
// the GELU output besides; its bf16 GELU is slower than its fp32 one (docs/perf.md). The kernel
// computes in fp32 for fp32 and bf16 tensors (bf16 rounded once, at the store), eight lanes with
// AVX2 + FMA where the CPU has them, four otherwise. Everything else (CUDA, other activations and
// dtypes, a trace for the compile knob) runs LibTorch's ops.
#pragma once

#include <string>

#include <torch/torch.h>

namespace gk::model {

// HF's hidden activations by name: "gelu" (exact, erf), "gelu_pytorch_tanh", "gelu_new", "relu",
// "silu", "gelu_python" (= gelu).
torch::Tensor activate(const torch::Tensor& x, const std::string& activation);

// x: [..., 2I] -> act(x[..., :I]) * x[..., I:]. fused = false always runs LibTorch's ops. `kernel`
// (optional) receives what ran, as geglu_kernel() names it.
torch::Tensor geglu(const torch::Tensor& x, const std::string& activation, bool fused = true,
                    std::string* kernel = nullptr);

// What geglu(x, activation, fused) runs: "fused-cpu" or "aten".
std::string geglu_kernel(const torch::Tensor& x, const std::string& activation, bool fused = true);

}  // namespace gk::model
