// Scalar float helpers our CPU kernels (geglu.cpp, fused_attention.cpp) share: written as plain
// branch-free arithmetic so the compiler vectorises the loops that call them, and compiled a
// second time with AVX2 + FMA (GK_TARGET_AVX2) where the CPU has them.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define GK_FAST_MATH_X86 1
#define GK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define GK_FAST_MATH_X86 0
#endif
#define GK_ALWAYS_INLINE inline __attribute__((always_inline))

namespace gk::model::fast_math {

constexpr float kLog2e = 1.44269504088896341f;
// ln 2 in two parts: the first exact in 9 bits, so n·kLn2Hi is exact for the n that occur.
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440054690583e-4f;

// exp(y) for y ≤ 0: a range reduction by powers of two and a degree-7 Taylor polynomial (relative
// error below 1e-8 before rounding). Below −87 it returns exp(−87), which only ever scales a term
// that is already zero in fp32 terms.
GK_ALWAYS_INLINE float exp_nonpositive(float y) {
    y = y > -87.0f ? y : -87.0f;
    // n = nearest integer to y·log2(e): truncation of a non-positive value minus a half.
    const float n = static_cast<float>(static_cast<int32_t>(y * kLog2e - 0.5f));
    const float r = (y - n * kLn2Hi) - n * kLn2Lo;  // |r| ≤ ln2 / 2
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n, n ≥ −126
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#if GK_FAST_MATH_X86
// Whether this CPU runs the GK_TARGET_AVX2 copies.
inline bool has_avx2_fma() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}
#endif

}  // namespace gk::model::fast_math
