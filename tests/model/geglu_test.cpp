// The fused GeGLU kernel: its GELU and derivative against the exact formula, forward and backward
// against LibTorch's chunk + gelu + mul in fp32 and bf16 (rows split over threads, row lengths
// that leave vector tails), and where it steps aside. The model's logits and gradients either way:
// modernbert_test.cpp.
#include "greenknobs/model/geglu.h"

#include <cmath>

#include <ATen/Parallel.h>

#include <gtest/gtest.h>

using namespace gk::model;

namespace {

double exact_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double exact_pdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

// LibTorch's ops on a copy of x: output and the gradient of sum(y * dy) with respect to x.
std::pair<torch::Tensor, torch::Tensor> run(const torch::Tensor& x, const torch::Tensor& dy,
                                            bool fused) {
    torch::Tensor leaf = x.detach().clone().requires_grad_(true);
    torch::Tensor y = geglu(leaf, "gelu", fused);
    y.backward(dy);
    return {y.detach(), leaf.grad()};
}

}  // namespace

TEST(Geglu, GeluAndItsDerivativeFollowTheExactFormula) {
    std::vector<float> xs;
    for (int i = -24000; i <= 24000; ++i) {
        xs.push_back(static_cast<float>(i) * 5e-4f);  // [-12, 12]
    }
    for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 100.0f, -100.0f}) {
        xs.push_back(v);
    }
    // The GeGLU with a gate of ones is the GELU; its input's gradient under ones, the derivative.
    torch::Tensor x = torch::tensor(xs);
    torch::Tensor in = torch::cat({x, torch::ones_like(x)}).unsqueeze(0).requires_grad_(true);
    ASSERT_EQ(geglu_kernel(in, "gelu"), "fused-cpu");
    torch::Tensor got = geglu(in, "gelu").squeeze(0);
    got.backward(torch::ones_like(got));
    got = got.detach();
    torch::Tensor dgot = in.grad().squeeze(0).narrow(0, 0, x.size(0));
    double worst = 0.0;
    double dworst = 0.0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const double v = xs[i];
        const double want = v * exact_cdf(v);
        const double dwant = exact_cdf(v) + v * exact_pdf(v);
        const double scale = std::max(1.0, std::fabs(v));
        worst =
            std::max(worst, std::fabs(got[static_cast<int64_t>(i)].item<double>() - want) / scale);
        dworst = std::max(dworst,
                          std::fabs(dgot[static_cast<int64_t>(i)].item<double>() - dwant) / scale);
    }
    // A&S 7.1.26 bounds erf's error by 1.5e-7 (Φ's by 7.5e-8); fp32 rounding adds a few 1e-8.
    EXPECT_LT(worst, 2.5e-7);
    EXPECT_LT(dworst, 4e-7);
    EXPECT_TRUE(torch::isfinite(got).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(dgot).all().item<bool>());
}

TEST(Geglu, Fp32MatchesLibTorchsOpsForwardAndBackward) {
    const int threads = at::get_num_threads();
    at::set_num_threads(2);  // the largest case is split over two threads
    // Half-widths around the vector widths (4, 8): tails of every length; 2,048 rows x 1,036 (2.1 M
    // elements) are split over two threads, the others run on one.
    for (const auto& shape : std::vector<std::vector<int64_t>>{
             {3, 5, 2}, {3, 5, 14}, {2, 16}, {7, 48}, {3, 4, 260}, {2048, 2 * 1036}}) {
        torch::manual_seed(7);
        torch::Tensor x = 2.5 * torch::randn(shape);
        std::vector<int64_t> half = shape;
        half.back() /= 2;
        torch::Tensor dy = torch::randn(half);
        EXPECT_EQ(geglu_kernel(x, "gelu"), "fused-cpu");
        auto [y_fused, g_fused] = run(x, dy, true);
        auto [y_aten, g_aten] = run(x, dy, false);
        // LibTorch's fp32 GELU carries the same order of error (its vectorised erf is an A&S
        // approximation too): both within a few 1e-6 of each other at these magnitudes.
        EXPECT_TRUE(torch::allclose(y_fused, y_aten, 1e-5, 5e-6))
            << x.sizes() << " " << (y_fused - y_aten).abs().max();
        EXPECT_TRUE(torch::allclose(g_fused, g_aten, 1e-5, 5e-6))
            << x.sizes() << " " << (g_fused - g_aten).abs().max();
        // Without autograd (evaluation) the same values.
        torch::NoGradGuard no_grad;
        EXPECT_TRUE(torch::equal(geglu(x, "gelu"), y_fused));
    }
    at::set_num_threads(threads);
}

TEST(Geglu, Bf16IsTheExactValueRoundedOnce) {
    torch::manual_seed(11);
    torch::Tensor x = (2.0 * torch::randn({6, 40, 2 * 37})).to(torch::kBFloat16);
    torch::Tensor dy = torch::randn({6, 40, 37}).to(torch::kBFloat16);
    auto [y, g] = run(x, dy, true);
    ASSERT_EQ(y.scalar_type(), torch::kBFloat16);
    ASSERT_EQ(g.scalar_type(), torch::kBFloat16);
    // The exact values from the same bf16 inputs, in double.
    torch::Tensor xd = x.to(torch::kDouble);
    torch::Tensor a = xd.narrow(-1, 0, 37);
    torch::Tensor gate = xd.narrow(-1, 37, 37);
    torch::Tensor cdf = 0.5 * torch::erfc(-a / std::sqrt(2.0));
    torch::Tensor pdf = torch::exp(-0.5 * a * a) / std::sqrt(2.0 * M_PI);
    torch::Tensor d = dy.to(torch::kDouble);
    torch::Tensor want_y = a * cdf * gate;
    torch::Tensor want_g = torch::cat({d * gate * (cdf + a * pdf), d * a * cdf}, -1);
    // Rounded once to bf16 (8 significant bits: half an ulp is at most 2^-8 of the value) from the
    // fp32 kernel, whose own error is below 4e-7 · max(1, |a|) per unit of gate and gradient.
    torch::Tensor scale = torch::clamp_min(a.abs(), 1.0) * (gate.abs() + 1.0) * (d.abs() + 1.0);
    auto rounded_once = [&](const torch::Tensor& got, const torch::Tensor& want,
                            const torch::Tensor& slack) {
        torch::Tensor err = (got.to(torch::kDouble) - want).abs();
        return (err <= want.abs() / 256.0 + slack).all().item<bool>();
    };
    EXPECT_TRUE(rounded_once(y, want_y, 4e-7 * scale));
    EXPECT_TRUE(rounded_once(g, want_g, 4e-7 * torch::cat({scale, scale}, -1)));
    // LibTorch's ops round twice (the GELU in bf16, then the product) and lose the GELU's negative
    // tail to bf16 cancellation (at a = -2.47 its product is 15 % off): never closer than the
    // kernel.
    auto [y_aten, g_aten] = run(x, dy, false);
    auto worst = [](const torch::Tensor& got, const torch::Tensor& want) {
        return (got.to(torch::kDouble) - want).abs().max().item<double>();
    };
    EXPECT_LE(worst(y, want_y), worst(y_aten, want_y));
    EXPECT_LE(worst(g, want_g), worst(g_aten, want_g));
}

TEST(Geglu, RunsLibTorchsOpsWhereItCannotFuse) {
    torch::Tensor x = torch::randn({4, 10});
    EXPECT_EQ(geglu_kernel(x, "gelu"), "fused-cpu");
    EXPECT_EQ(geglu_kernel(x, "gelu_python"), "fused-cpu");
    EXPECT_EQ(geglu_kernel(x.to(torch::kBFloat16), "gelu"), "fused-cpu");
    EXPECT_EQ(geglu_kernel(x, "gelu", /*fused=*/false), "aten");
    EXPECT_EQ(geglu_kernel(x, "silu"), "aten");
    EXPECT_EQ(geglu_kernel(x, "gelu_pytorch_tanh"), "aten");
    EXPECT_EQ(geglu_kernel(x.to(torch::kDouble), "gelu"), "aten");
    EXPECT_EQ(geglu_kernel(torch::randn({4, 9}), "gelu"), "aten");  // no halves
    EXPECT_EQ(geglu_kernel(torch::randn({0, 10}), "gelu"), "aten");
    // The fallbacks compute HF's GeGLU.
    torch::Tensor a = x.narrow(-1, 0, 5);
    torch::Tensor g = x.narrow(-1, 5, 5);
    EXPECT_TRUE(torch::allclose(geglu(x, "silu"), torch::silu(a) * g));
    torch::Tensor xd = x.to(torch::kDouble);
    EXPECT_TRUE(
        torch::allclose(geglu(xd, "gelu"), torch::gelu(xd.narrow(-1, 0, 5)) * xd.narrow(-1, 5, 5)));
    // A non-contiguous input is fused from a contiguous copy.
    torch::Tensor wide = torch::randn({4, 20});
    torch::Tensor strided = wide.narrow(-1, 0, 10);
    ASSERT_FALSE(strided.is_contiguous());
    EXPECT_TRUE(torch::allclose(geglu(strided, "gelu"), geglu(strided, "gelu", false), 1e-6, 1e-6));
}
