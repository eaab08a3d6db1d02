// model::linear / model::matmul: outside bf16 exactly torch's; in bf16 (CPU autocast or bf16
// operands) the fp32-gemm path gives LibTorch's bf16 results — the operands rounded to bf16, the
// products summed, the result rounded to bf16 — checked against the same product in double, for
// values and gradients, and against LibTorch's own bf16 kernels through a whole model; and it says
// which path ran.
#include "greenknobs/model/bf16_matmul.h"

#include <gtest/gtest.h>

#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/util/error.h"

#include "model_test_util.h"

using namespace gk::model;
using gk::model::testing::Bf16Autocast;
using gk::model::testing::small_config;

namespace {

// Restores the process-wide path after a test.
struct PathGuard {
    ~PathGuard() { set_bf16_matmul("auto"); }
};

torch::Tensor bf16_double(const torch::Tensor& t) {
    return t.detach().to(torch::kBFloat16).to(torch::kDouble);
}

// |a - b| within `ulps` units of bf16 rounding (2^-8 relative) of the larger magnitude, plus a
// floor for values that cancel to near zero.
void expect_bf16_close(const torch::Tensor& got, const torch::Tensor& want, double ulps,
                       const std::string& what) {
    auto g = got.detach().to(torch::kDouble);
    auto w = want.detach().to(torch::kDouble);
    ASSERT_EQ(g.sizes(), w.sizes()) << what;
    const double scale = w.abs().max().item<double>();
    auto excess = (g - w).abs() - (w.abs() * ulps / 256.0 + 1e-3 * scale);
    EXPECT_LE(excess.max().item<double>(), 0.0) << what;
}

}  // namespace

TEST(Bf16Matmul, SettingResolvesAndRejectsUnknownPaths) {
    PathGuard restore;
    set_bf16_matmul("auto");
    EXPECT_EQ(bf16_matmul(), cpu_bf16_matmul() == "reference" ? "fp32-gemm" : "libtorch");
    set_bf16_matmul("libtorch");
    EXPECT_EQ(bf16_matmul(), "libtorch");
    set_bf16_matmul("fp32-gemm");
    EXPECT_EQ(bf16_matmul(), "fp32-gemm");
    EXPECT_THROW(set_bf16_matmul("bf16"), gk::InputError);
    EXPECT_EQ(bf16_matmul(), "fp32-gemm");  // a rejected setting changes nothing
}

TEST(Bf16Matmul, OutsideBf16ItIsTorchsOwnAndRecordsNothing) {
    PathGuard restore;
    set_bf16_matmul("fp32-gemm");
    reset_bf16_matmul_ran();
    torch::manual_seed(1);
    auto x = torch::randn({4, 6, 32});
    auto w = torch::randn({24, 32});
    auto b = torch::randn({24});
    EXPECT_TRUE(torch::equal(gk::model::linear(x, w, b), torch::linear(x, w, b)));
    EXPECT_TRUE(torch::equal(gk::model::linear(x, w), torch::linear(x, w)));
    auto k = torch::randn({4, 6, 32, 5});
    EXPECT_TRUE(
        torch::equal(gk::model::matmul(x.unsqueeze(2), k), torch::matmul(x.unsqueeze(2), k)));
    EXPECT_EQ(bf16_matmul_ran(), "");
}

TEST(Bf16Matmul, LinearRoundsAsBf16AndItsGradientsAreTheBf16Products) {
    PathGuard restore;
    set_bf16_matmul("fp32-gemm");
    reset_bf16_matmul_ran();
    torch::manual_seed(2);
    auto x = torch::randn({3, 5, 48}).requires_grad_(true);
    auto w = (torch::randn({40, 48}) * 0.2).requires_grad_(true);
    auto b = torch::randn({40}).requires_grad_(true);
    auto gy = torch::randn({3, 5, 40});
    torch::Tensor y;
    {
        Bf16Autocast autocast;
        y = gk::model::linear(x, w, b);
    }
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);  // as autocast's linear returns
    EXPECT_EQ(bf16_matmul_ran(), "fp32-gemm");
    y.backward(gy.to(torch::kBFloat16));
    // The reference: bf16-rounded operands, products in double.
    auto xd = bf16_double(x);
    auto wd = bf16_double(w);
    auto gd = bf16_double(gy);
    expect_bf16_close(y, torch::matmul(xd, wd.t()) + bf16_double(b), 1, "y");
    ASSERT_TRUE(x.grad().defined() && w.grad().defined() && b.grad().defined());
    EXPECT_EQ(w.grad().scalar_type(), torch::kFloat);  // the fp32 parameter's gradient
    expect_bf16_close(x.grad(), torch::matmul(gd, wd), 1, "dx");
    expect_bf16_close(w.grad(), gd.reshape({-1, 40}).t().mm(xd.reshape({-1, 48})), 1, "dw");
    expect_bf16_close(b.grad(), gd.reshape({-1, 40}).sum(0), 1, "db");
    // The operands are rounded before the product, not only its result: 1 + 2^-9 is 1 in bf16, so
    // (1 + 2^-9)·1 − 1·1 is exactly 0 (in fp32 it would be 2^-9).
    {
        Bf16Autocast autocast;
        auto cancel = gk::model::linear(torch::tensor({{1.0f + 1.0f / 512, -1.0f}}),
                                        torch::tensor({{1.0f, 1.0f}}));
        EXPECT_EQ(cancel.item<float>(), 0.0f);
    }
}

TEST(Bf16Matmul, MatmulOfBf16OperandsAndItsGradients) {
    PathGuard restore;
    set_bf16_matmul("fp32-gemm");
    reset_bf16_matmul_ran();
    torch::manual_seed(3);
    auto a = torch::randn({2, 3, 7, 16}).to(torch::kBFloat16).requires_grad_(true);
    auto k = torch::randn({2, 3, 16, 9}).to(torch::kBFloat16).requires_grad_(true);
    auto y = gk::model::matmul(a, k);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(bf16_matmul_ran(), "fp32-gemm");
    auto gy = torch::randn({2, 3, 7, 9}).to(torch::kBFloat16);
    y.backward(gy);
    auto ad = a.detach().to(torch::kDouble);
    auto kd = k.detach().to(torch::kDouble);
    auto gd = gy.to(torch::kDouble);
    expect_bf16_close(y, torch::matmul(ad, kd), 1, "y");
    expect_bf16_close(a.grad(), torch::matmul(gd, kd.transpose(-2, -1)), 1, "da");
    expect_bf16_close(k.grad(), torch::matmul(ad.transpose(-2, -1), gd), 1, "dk");
    // A broadcast the fp32-gemm path does not take goes to LibTorch, and is recorded so.
    reset_bf16_matmul_ran();
    auto y2 = gk::model::matmul(a, k[0][0]);
    EXPECT_EQ(y2.sizes(), y.sizes());
    EXPECT_EQ(bf16_matmul_ran(), "libtorch");
}

TEST(Bf16Matmul, ModelUnderBf16AutocastGivesLibtorchsBf16LogitsAndGradients) {
    PathGuard restore;
    torch::manual_seed(4);
    ModernBertForSequenceClassification m(small_config(2));
    auto ids = torch::randint(5, 500, {3, 24}, torch::kLong);
    auto mask = torch::ones_like(ids);
    mask[1].narrow(0, 10, 14).fill_(0);
    ids = ids.masked_fill(mask == 0, 0);
    auto labels = torch::tensor({0, 1, 1}, torch::kLong);
    struct Out {
        torch::Tensor logits;
        std::vector<torch::Tensor> grads;
    };
    auto run = [&](const std::string& path, bool fused) {
        set_bf16_matmul(path);
        reset_bf16_matmul_ran();
        m->set_fused_attention(fused);
        m->zero_grad();
        Out o;
        {
            Bf16Autocast autocast;
            o.logits = m->forward(ids, mask);
        }
        torch::cross_entropy_loss(o.logits.to(torch::kFloat), labels).backward();
        for (const auto& p : m->parameters()) {
            o.grads.push_back(p.grad().clone());
        }
        EXPECT_EQ(bf16_matmul_ran(), path) << (fused ? "fused" : "eager");
        return o;
    };
    for (bool fused : {true, false}) {
        Out lt = run("libtorch", fused);
        Out fp = run("fp32-gemm", fused);
        EXPECT_FALSE(torch::isnan(fp.logits).any().item<bool>());
        // Both round every product to bf16; only the order of the fp32 sums differs.
        EXPECT_TRUE(
            torch::allclose(fp.logits.to(torch::kFloat), lt.logits.to(torch::kFloat), 3e-2, 3e-2))
            << fp.logits << lt.logits;
        for (size_t i = 0; i < lt.grads.size(); ++i) {
            const double scale = lt.grads[i].abs().max().item<double>();
            EXPECT_LE((fp.grads[i] - lt.grads[i]).abs().max().item<double>(), 5e-2 * scale + 1e-6)
                << "parameter " << i << (fused ? " (fused)" : " (eager)");
        }
    }
}
