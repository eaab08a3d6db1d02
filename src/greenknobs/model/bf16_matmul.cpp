// See bf16_matmul.h.
#include "greenknobs/model/bf16_matmul.h"

#include <atomic>

#include <c10/core/impl/LocalDispatchKeySet.h>

#include "greenknobs/model/autocast.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/util/error.h"

namespace gk::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

enum Path : int { kLibtorch = 1, kFp32Gemm = 2 };

int resolve_auto() { return cpu_bf16_matmul() == "reference" ? kFp32Gemm : kLibtorch; }

std::atomic<int>& path() {
    static std::atomic<int> p{resolve_auto()};
    return p;
}
std::atomic<int> ran{0};  // bitmask of Path

// Whether torch::linear / torch::matmul of a and b would compute in bf16 on the CPU: under CPU
// autocast to bf16 (which casts every floating operand but fp64), or with bf16 operands.
bool bf16_on_cpu(const torch::Tensor& a, const torch::Tensor& b) {
    if (!a.device().is_cpu()) {
        return false;
    }
    if (autocast_enabled(/*cuda=*/false) && a.is_floating_point() &&
        a.scalar_type() != torch::kDouble) {
        return autocast_dtype(/*cuda=*/false) == torch::kBFloat16;
    }
    return a.scalar_type() == torch::kBFloat16 && b.scalar_type() == torch::kBFloat16;
}

// The products below cast themselves; autocast must not cast their fp32 operands back to bf16.
struct NoCpuAutocast {
    c10::impl::ExcludeDispatchKeyGuard guard{c10::DispatchKey::AutocastCPU};
};

torch::Tensor wide(const torch::Tensor& t) { return t.to(torch::kFloat); }
torch::Tensor narrow(const torch::Tensor& t) { return t.to(torch::kBFloat16); }
// A custom Function takes no undefined tensor: no bias is passed as an empty one.
torch::Tensor narrow_or_empty(const torch::Tensor& t) {
    return t.defined() ? narrow(t) : torch::empty({0}, torch::kBFloat16);
}

// torch::linear with an undefined bias passed as none (autocast would ask it for its device).
torch::Tensor aten_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    return b.defined() ? torch::linear(x, w, b) : torch::linear(x, w);
}

// x·wᵀ + b over bf16 operands by one fp32 GEMM; the backward's three gradients likewise, each
// rounded to bf16 as LibTorch's bf16 linear returns them. Saves the bf16 x and w (as that does).
struct Bf16LinearFn : public torch::autograd::Function<Bf16LinearFn> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                                 const torch::Tensor& w, const torch::Tensor& b) {
        NoCpuAutocast no_autocast;
        ctx->save_for_backward({x, w});
        const bool bias = b.numel() > 0;
        ctx->saved_data["bias"] = bias;
        return narrow(aten_linear(wide(x), wide(w), bias ? wide(b) : torch::Tensor()));
    }

    static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
        NoCpuAutocast no_autocast;
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor& x = saved[0];                     // [..., in]
        const torch::Tensor& w = saved[1];                     // [out, in]
        const torch::Tensor g = wide(grad_out[0]);             // [..., out]
        const torch::Tensor g2 = g.reshape({-1, g.size(-1)});  // [rows, out]
        torch::Tensor gx, gw, gb;
        if (ctx->needs_input_grad(0)) {
            gx = narrow(torch::matmul(g, wide(w)));
        }
        if (ctx->needs_input_grad(1)) {
            gw = narrow(g2.t().mm(wide(x).reshape({-1, x.size(-1)})));
        }
        if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) {
            gb = narrow(g2.sum(0));
        }
        return {gx, gw, gb};
    }
};

// a·b over bf16 operands of equal batch dimensions by fp32 GEMMs; gradients likewise.
struct Bf16MatmulFn : public torch::autograd::Function<Bf16MatmulFn> {
    static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& a,
                                 const torch::Tensor& b) {
        NoCpuAutocast no_autocast;
        ctx->save_for_backward({a, b});
        return narrow(torch::matmul(wide(a), wide(b)));
    }

    static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
        NoCpuAutocast no_autocast;
        const auto saved = ctx->get_saved_variables();
        const torch::Tensor g = wide(grad_out[0]);
        torch::Tensor ga, gb;
        if (ctx->needs_input_grad(0)) {
            ga = narrow(torch::matmul(g, wide(saved[1]).transpose(-2, -1)));
        }
        if (ctx->needs_input_grad(1)) {
            gb = narrow(torch::matmul(wide(saved[0]).transpose(-2, -1), g));
        }
        return {ga, gb};
    }
};

bool same_batch(const torch::Tensor& a, const torch::Tensor& b) {
    if (a.dim() < 2 || a.dim() != b.dim()) {
        return false;
    }
    for (int64_t i = 0; i + 2 < a.dim(); ++i) {
        if (a.size(i) != b.size(i)) {
            return false;
        }
    }
    return true;
}

}  // namespace

void set_bf16_matmul(const std::string& mode) {
    if (mode == "auto") {
        path() = resolve_auto();
    } else if (mode == "libtorch") {
        path() = kLibtorch;
    } else if (mode == "fp32-gemm") {
        path() = kFp32Gemm;
    } else {
        throw InputError("unknown bf16 matmul path '" + mode +
                         "' (expected auto, libtorch or fp32-gemm)");
    }
}

std::string bf16_matmul() { return path() == kFp32Gemm ? "fp32-gemm" : "libtorch"; }

std::string bf16_matmul_ran() {
    const int r = ran.load();
    if (r == (kLibtorch | kFp32Gemm)) {
        return "libtorch+fp32-gemm";
    }
    return r == kLibtorch ? "libtorch" : r == kFp32Gemm ? "fp32-gemm" : "";
}

void reset_bf16_matmul_ran() { ran = 0; }

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    if (!bf16_on_cpu(x, w)) {
        return aten_linear(x, w, b);
    }
    const int p = path();
    ran |= p;
    if (p == kLibtorch) {
        return aten_linear(x, w, b);
    }
    return Bf16LinearFn::apply(narrow(x), narrow(w), narrow_or_empty(b));
}

torch::Tensor matmul(const torch::Tensor& a, const torch::Tensor& b) {
    if (!bf16_on_cpu(a, b)) {
        return torch::matmul(a, b);
    }
    const int p = path();
    if (p == kLibtorch || !same_batch(a, b)) {
        ran |= kLibtorch;
        return torch::matmul(a, b);
    }
    ran |= p;
    return Bf16MatmulFn::apply(narrow(a), narrow(b));
}

}  // namespace gk::model
