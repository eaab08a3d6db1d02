// The autocast guard really changes the matmul dtype inside and restores the state after (also on
// exceptions); fp16 on CPU is refused with a reason; the loss scaler skips, backs off and grows.
#include "greenknobs/train/precision.h"

#include <ATen/autocast_mode.h>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

const torch::Device kCpu(torch::kCPU);

TEST(Precision, ParsesNamesAndRejectsUnknown) {
    EXPECT_EQ(parse_precision("fp32"), Precision::kFp32);
    EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
    EXPECT_EQ(parse_precision("fp16"), Precision::kFp16);
    EXPECT_EQ(precision_name(Precision::kBf16), "bf16");
    EXPECT_THROW(parse_precision("fp8"), InputError);
}

TEST(AutocastGuard, Bf16ChangesMatmulDtypeInsideAndRestoresAfter) {
    auto a = torch::randn({4, 8});
    auto b = torch::randn({8, 3});
    ASSERT_FALSE(at::autocast::is_cpu_enabled());
    const auto dtype_before = at::autocast::get_autocast_cpu_dtype();
    {
        AutocastGuard guard(Precision::kBf16, kCpu);
        EXPECT_TRUE(at::autocast::is_cpu_enabled());
        EXPECT_EQ(torch::mm(a, b).dtype(), torch::kBFloat16);
        EXPECT_EQ(torch::nn::functional::linear(a, b.t()).dtype(), torch::kBFloat16);
        {
            AutocastGuard nested(Precision::kBf16, kCpu);
            EXPECT_EQ(torch::mm(a, b).dtype(), torch::kBFloat16);
        }
        EXPECT_TRUE(
            at::autocast::is_cpu_enabled());  // the inner guard restored "enabled", not "off"
        EXPECT_EQ(torch::mm(a, b).dtype(), torch::kBFloat16);
    }
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(at::autocast::get_autocast_cpu_dtype(), dtype_before);
    EXPECT_EQ(torch::mm(a, b).dtype(), torch::kFloat);
}

TEST(AutocastGuard, RestoresStateWhenAnExceptionUnwindsTheScope) {
    auto a = torch::randn({4, 4});
    try {
        AutocastGuard guard(Precision::kBf16, kCpu);
        EXPECT_EQ(torch::mm(a, a).dtype(), torch::kBFloat16);
        throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(torch::mm(a, a).dtype(), torch::kFloat);
}

TEST(AutocastGuard, Fp32IsANoOp) {
    auto a = torch::randn({4, 4});
    AutocastGuard guard(Precision::kFp32, kCpu);
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(torch::mm(a, a).dtype(), torch::kFloat);
}

TEST(AutocastGuard, Fp16OnCpuIsUnsupportedWithTheReason) {
    try {
        AutocastGuard guard(Precision::kFp16, kCpu);
        FAIL() << "fp16 on CPU must throw";
    } catch (const UnsupportedError& e) {
        EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos);
    }
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
    EXPECT_NO_THROW(check_precision_supported(Precision::kBf16, kCpu));
}

TEST(GradScaler, UnscalesSkipsOnInfBacksOffAndGrows) {
    GradScaler::Options o;
    o.init_scale = 1024;
    o.growth_interval = 3;
    GradScaler scaler(true, o);
    auto p = torch::zeros({2}, torch::requires_grad());
    EXPECT_DOUBLE_EQ(scaler.scale_loss(torch::tensor(2.0f)).item<double>(), 2048.0);

    p.mutable_grad() = torch::tensor({1024.0f, std::numeric_limits<float>::infinity()});
    scaler.unscale({p});
    EXPECT_TRUE(scaler.found_inf());
    EXPECT_FLOAT_EQ(p.grad()[0].item<float>(), 1.0f);
    scaler.update();
    EXPECT_DOUBLE_EQ(scaler.scale(), 512.0);
    EXPECT_EQ(scaler.skipped_steps(), 1);

    for (int i = 0; i < 3; ++i) {
        p.mutable_grad() = torch::tensor({512.0f, -512.0f});
        scaler.unscale({p});
        scaler.unscale({p});  // a second call in the same step must not divide again
        EXPECT_FALSE(scaler.found_inf());
        EXPECT_FLOAT_EQ(p.grad()[1].item<float>(), -1.0f);
        scaler.update();
    }
    EXPECT_DOUBLE_EQ(scaler.scale(), 1024.0);  // grew after 3 clean steps
    EXPECT_EQ(scaler.skipped_steps(), 1);

    p.mutable_grad() = torch::tensor({std::nanf(""), 0.0f});
    scaler.unscale({p});
    EXPECT_TRUE(scaler.found_inf());
}

TEST(GradScaler, DisabledPassesThrough) {
    GradScaler scaler(false);
    auto loss = torch::tensor(3.0f);
    EXPECT_TRUE(scaler.scale_loss(loss).equal(loss));
    auto p = torch::zeros({1}, torch::requires_grad());
    p.mutable_grad() = torch::tensor({std::numeric_limits<float>::infinity()});
    scaler.unscale({p});
    EXPECT_FALSE(scaler.found_inf());
}

}  // namespace
}  // namespace gk::train
