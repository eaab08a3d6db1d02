// See geglu.h. The GELU is x·Φ(x) with Φ(x) = 1 − ½·erfc(x/√2) for x ≥ 0 and ½·erfc(|x|/√2)
// below, erfc from Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7 on erf, so ≤ 7.5e-8 on Φ, about an
// fp32 ulp of the values it scales) and exp(−x²/2) from a range reduction by powers of two and a
// degree-7 Taylor polynomial (relative error below 1e-8 before rounding). The same exp gives the
// density φ(x) = exp(−x²/2)/√(2π) the derivative needs: gelu'(x) = Φ(x) + x·φ(x). Every step is
// plain float arithmetic without branches or library calls, so the compiler vectorises each row.
#include "greenknobs/model/geglu.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include <torch/csrc/jit/frontend/tracer.h>

#include "greenknobs/model/fast_math.h"
#include "greenknobs/model/parallel.h"
#include "greenknobs/util/error.h"

namespace gk::model {
namespace {

using fast_math::exp_nonpositive;

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
// Abramowitz & Stegun 7.1.26: erfc(z) ≈ t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·exp(−z²),
// t = 1 / (1 + p·z), z ≥ 0.
constexpr float kP = 0.3275911f;
constexpr float kA1 = 0.254829592f;
constexpr float kA2 = -0.284496736f;
constexpr float kA3 = 1.421413741f;
constexpr float kA4 = -1.453152027f;
constexpr float kA5 = 1.061405429f;

// Φ(x) and exp(−x²/2).
GK_ALWAYS_INLINE void normal_parts(float x, float& cdf, float& e) {
    const float z = std::fabs(x) * kInvSqrt2;
    const float t = 1.0f / (1.0f + kP * z);
    const float poly = t * (kA1 + t * (kA2 + t * (kA3 + t * (kA4 + t * kA5))));
    e = exp_nonpositive(-(z * z));
    const float tail = 0.5f * poly * e;  // Φ(−|x|)
    cdf = x < 0.0f ? tail : 1.0f - tail;
}

// Element access: fp32 as is, bf16 (as its bits) widened exactly and rounded to nearest even.
GK_ALWAYS_INLINE float load(const float* p) { return *p; }
GK_ALWAYS_INLINE float load(const uint16_t* p) {
    const uint32_t u = static_cast<uint32_t>(*p) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
GK_ALWAYS_INLINE void store(float* p, float v) { *p = v; }
GK_ALWAYS_INLINE void store(uint16_t* p, float v) {
    uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    *p = v != v ? uint16_t{0x7FC0} : static_cast<uint16_t>(rounded);
}

// Rows [r0, r1) of x [rows, 2I] -> y [rows, I].
template <class T>
GK_ALWAYS_INLINE void forward_rows(const T* __restrict x, T* __restrict y, int64_t r0, int64_t r1,
                                   int64_t half) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* a = x + r * 2 * half;
        const T* g = a + half;
        T* o = y + r * half;
        for (int64_t i = 0; i < half; ++i) {
            const float av = load(a + i);
            float cdf, e;
            normal_parts(av, cdf, e);
            store(o + i, av * cdf * load(g + i));
        }
    }
}

// Rows [r0, r1): dx [rows, 2I] from x [rows, 2I] and dy [rows, I].
template <class T>
GK_ALWAYS_INLINE void backward_rows(const T* __restrict x, const T* __restrict dy, T* __restrict dx,
                                    int64_t r0, int64_t r1, int64_t half) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* a = x + r * 2 * half;
        const T* g = a + half;
        const T* d = dy + r * half;
        T* da = dx + r * 2 * half;
        T* dg = da + half;
        for (int64_t i = 0; i < half; ++i) {
            const float av = load(a + i);
            const float dv = load(d + i);
            float cdf, e;
            normal_parts(av, cdf, e);
            store(da + i, dv * load(g + i) * (cdf + av * e * kInvSqrt2Pi));
            store(dg + i, dv * (av * cdf));
        }
    }
}

template <class T>
void forward_span(const T* x, T* y, int64_t r0, int64_t r1, int64_t half) {
    forward_rows(x, y, r0, r1, half);
}
template <class T>
void backward_span(const T* x, const T* dy, T* dx, int64_t r0, int64_t r1, int64_t half) {
    backward_rows(x, dy, dx, r0, r1, half);
}
#if GK_FAST_MATH_X86
template <class T>
GK_TARGET_AVX2 void forward_span_avx2(const T* x, T* y, int64_t r0, int64_t r1, int64_t half) {
    forward_rows(x, y, r0, r1, half);
}
template <class T>
GK_TARGET_AVX2 void backward_span_avx2(const T* x, const T* dy, T* dx, int64_t r0, int64_t r1,
                                       int64_t half) {
    backward_rows(x, dy, dx, r0, r1, half);
}
#endif

// Rows per chunk so that a thread gets at least ~1 M elements. Below that the hand-off to the
// inter-op pool costs what it saves, and in the model the kernel runs between two GEMMs whose
// OpenMP threads are still spinning: on 2 CPUs, cpu-small's MLP block (forward and backward) took
// 5.06 ms with the kernel split over two threads and 3.57 ms with it on one (docs/perf.md).
int64_t min_rows(int64_t half) { return std::max<int64_t>(1, (int64_t{1} << 20) / half); }

template <class T>
void run_forward(const T* x, T* y, int64_t rows, int64_t half) {
    parallel_chunks(rows, min_rows(half), [&](int64_t r0, int64_t r1) {
#if GK_FAST_MATH_X86
        if (fast_math::has_avx2_fma()) {
            forward_span_avx2(x, y, r0, r1, half);
            return;
        }
#endif
        forward_span(x, y, r0, r1, half);
    });
}

template <class T>
void run_backward(const T* x, const T* dy, T* dx, int64_t rows, int64_t half) {
    parallel_chunks(rows, min_rows(half), [&](int64_t r0, int64_t r1) {
#if GK_FAST_MATH_X86
        if (fast_math::has_avx2_fma()) {
            backward_span_avx2(x, dy, dx, r0, r1, half);
            return;
        }
#endif
        backward_span(x, dy, dx, r0, r1, half);
    });
}

// x contiguous [..., 2I], fp32 or bf16, on the CPU.
torch::Tensor fused_forward(const torch::Tensor& x) {
    const int64_t two_i = x.size(-1);
    const int64_t half = two_i / 2;
    const int64_t rows = x.numel() / two_i;
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = half;
    torch::Tensor y = torch::empty(sizes, x.options());
    if (x.scalar_type() == torch::kFloat) {
        run_forward(x.data_ptr<float>(), y.data_ptr<float>(), rows, half);
    } else {
        run_forward(reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>()),
                    reinterpret_cast<uint16_t*>(y.data_ptr<at::BFloat16>()), rows, half);
    }
    return y;
}

torch::Tensor fused_backward(const torch::Tensor& x, const torch::Tensor& grad) {
    const int64_t two_i = x.size(-1);
    const int64_t half = two_i / 2;
    const int64_t rows = x.numel() / two_i;
    torch::Tensor dy = grad.to(x.scalar_type()).contiguous();
    torch::Tensor dx = torch::empty_like(x, torch::MemoryFormat::Contiguous);
    if (x.scalar_type() == torch::kFloat) {
        run_backward(x.data_ptr<float>(), dy.data_ptr<float>(), dx.data_ptr<float>(), rows, half);
    } else {
        run_backward(reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>()),
                     reinterpret_cast<const uint16_t*>(dy.data_ptr<at::BFloat16>()),
                     reinterpret_cast<uint16_t*>(dx.data_ptr<at::BFloat16>()), rows, half);
    }
    return dx;
}

struct FusedGeglu : torch::autograd::Function<FusedGeglu> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
        ctx->save_for_backward({x});
        return fused_forward(x);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const torch::Tensor x = ctx->get_saved_variables()[0];
        return {fused_backward(x, grads[0])};
    }
};

bool exact_gelu(const std::string& activation) {
    return activation == "gelu" || activation == "gelu_python";
}

}  // namespace

torch::Tensor activate(const torch::Tensor& x, const std::string& act) {
    namespace F = torch::nn::functional;
    if (exact_gelu(act)) {
        return F::gelu(x);  // exact (erf) GELU: HF's "gelu"
    }
    if (act == "gelu_pytorch_tanh" || act == "gelu_new") {
        return torch::gelu(x, "tanh");
    }
    if (act == "relu") {
        return torch::relu(x);
    }
    if (act == "silu") {
        return torch::silu(x);
    }
    GK_CHECK(false, "unknown activation " + act);
}

std::string geglu_kernel(const torch::Tensor& x, const std::string& activation, bool fused) {
    const bool fusable =
        fused && exact_gelu(activation) && x.device().is_cpu() && x.layout() == torch::kStrided &&
        x.dim() >= 1 && x.size(-1) % 2 == 0 && x.numel() > 0 &&
        (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
        // A trace (the compile knob) records LibTorch ops, not a raw kernel.
        !torch::jit::tracer::isTracing();
    return fusable ? "fused-cpu" : "aten";
}

torch::Tensor geglu(const torch::Tensor& x, const std::string& activation, bool fused,
                    std::string* kernel) {
    const std::string ran = geglu_kernel(x, activation, fused);
    if (kernel != nullptr) {
        *kernel = ran;
    }
    if (ran != "fused-cpu") {
        auto halves = x.chunk(2, -1);  // input, gate: [..., I] each
        return activate(halves[0], activation) * halves[1];
    }
    torch::Tensor xc = x.contiguous();
    if (xc.requires_grad() && torch::GradMode::is_enabled()) {
        return FusedGeglu::apply(xc);
    }
    return fused_forward(xc);
}

}  // namespace gk::model
