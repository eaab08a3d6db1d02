// Matrix products in bf16 on a CPU whose LibTorch has no fast bf16 GEMM.
//
// LibTorch 1.13 multiplies bf16 matrices with oneDNN only on x86 CPUs with AVX-512 BW/VL/DQ
// (runtime.h, cpu_bf16_matmul); everywhere else a bf16 linear or matmul runs its scalar reference
// loop, measured 74x slower than fp32 for a ModernBERT-base projection on an AVX2 EPYC
// (docs/perf.md). That loop rounds both operands to bf16, accumulates in fp32 and rounds the result
// to bf16. The "fp32-gemm" path computes exactly that with the machine's fp32 GEMM: the bf16
// operands widened (exactly) to fp32, one sgemm, the result rounded to bf16; its backward does the
// same for each gradient. So bf16 autocast keeps its rounding (what the precision knob does to
// accuracy) without the reference loop's cost; only the order of the fp32 sums differs.
//
// Every projection of the encoder (Linear), the adapters (LoRA's factors, the dequantized and
// packed bases), the masked-LM decoder and the eager attention's two products call these instead
// of torch::linear / torch::matmul. Outside bf16 (no CPU autocast to bf16 and operands not bf16,
// or a CUDA tensor) they are torch::linear / torch::matmul.
#pragma once

#include <string>

#include <torch/torch.h>

namespace gk::model {

// The process-wide choice: "auto" (fp32-gemm where this LibTorch's bf16 GEMM is the reference loop,
// else libtorch), "libtorch" (LibTorch's own bf16 kernels, whatever they are here) or "fp32-gemm".
// Anything else throws InputError. Default "auto".
void set_bf16_matmul(const std::string& mode);
// The resolved path a bf16 product takes now: "libtorch" or "fp32-gemm".
std::string bf16_matmul();

// Which paths bf16 products really took since the last reset: "" (none ran in bf16), "libtorch",
// "fp32-gemm" or "libtorch+fp32-gemm". run.json records this, not the setting.
std::string bf16_matmul_ran();
void reset_bf16_matmul_ran();

// x·wᵀ + b (torch::linear's contract; b may be undefined). x: [..., in], w: [out, in].
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w,
                     const torch::Tensor& b = torch::Tensor());

// a·b (torch::matmul's contract). The fp32-gemm path takes a and b of equal rank ≥ 2 with equal
// batch dimensions; other shapes go to torch::matmul.
torch::Tensor matmul(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace gk::model
