// fused_attention against attention written out in LibTorch ops (in double): every sequence's
// rotated, scaled queries against its own keys (all, or the sliding-window band), softmax, values;
// pads zero; bf16 in, bf16 out; its gradients against autograd's through the same reference. The
// model-level checks (logits of every kernel, which kernel ran) are in attention_kernels_test.cpp
// and the Python-reference goldens in modernbert_test.cpp.
#include "greenknobs/model/fused_attention.h"

#include <gtest/gtest.h>

#include "greenknobs/model/modernbert.h"

using namespace gk::model;

namespace {

// The spans' attention from LibTorch ops in double: [N, heads * d], zeros outside the spans.
torch::Tensor reference(const torch::Tensor& qkv, const torch::Tensor& cos,
                        const torch::Tensor& sin, double q_scale, const TokenSpans& spans,
                        int64_t window) {
    const int64_t n = qkv.size(0);
    const int64_t heads = qkv.size(2);
    const int64_t d = qkv.size(3);
    auto x = qkv.to(torch::kDouble);
    auto out = torch::zeros({n, heads * d}, x.options());
    for (size_t i = 0; i < spans.start.size(); ++i) {
        const int64_t len = spans.len[i];
        auto seq = x.narrow(0, spans.start[i], len);                     // [L, 3, heads, d]
        auto c = cos.narrow(0, 0, len).to(torch::kDouble).unsqueeze(0);  // [1, L, d]
        auto s = sin.narrow(0, 0, len).to(torch::kDouble).unsqueeze(0);
        auto part = [&](int64_t i) { return seq.select(1, i).transpose(0, 1).unsqueeze(0); };
        auto q = apply_rotary(part(0), c, s)[0] * q_scale;  // [heads, L, d]
        auto k = apply_rotary(part(1), c, s)[0];
        auto v = part(2)[0];
        auto scores = torch::matmul(q, k.transpose(1, 2));  // [heads, L, L]
        if (window > 0) {
            auto pos = torch::arange(len, torch::kLong);
            auto far = (pos.unsqueeze(1) - pos.unsqueeze(0)).abs() > window / 2;
            scores = scores.masked_fill(far, -std::numeric_limits<double>::infinity());
        }
        auto o = torch::matmul(torch::softmax(scores, -1), v);  // [heads, L, d]
        out.narrow(0, spans.start[i], len).copy_(o.transpose(0, 1).reshape({len, heads * d}));
    }
    return out;
}

}  // namespace

TEST(FusedAttention, EqualsSoftmaxAttentionOfEachSequenceWithPadsZero) {
    torch::NoGradGuard no_grad;
    // Lengths that are and are not multiples of the 4-query and 16-key tiles, one token alone, and
    // pads before, between and after the sequences.
    const TokenSpans spans{{2, 4, 12, 40, 90}, {1, 7, 23, 48, 33}};
    const int64_t n = 130;
    for (int64_t d : {16, 24, 64}) {  // 24: a head dim the 16-feature tile does not divide
        for (int64_t window : {0, 8, 20}) {
            torch::manual_seed(d * 100 + window);
            const int64_t heads = 3;
            // qkv as a view with a token stride wider than 3·heads·d (how Wqkv's output is read).
            auto wide = torch::randn({n, 3 * heads * d + 5});
            auto qkv = wide.narrow(1, 0, 3 * heads * d).view({n, 3, heads, d});
            auto [cos, sin] = rotary_cos_sin(torch::arange(64, torch::kLong).unsqueeze(0), d,
                                             window > 0 ? 10000.0 : 160000.0);
            const double scale = 1.0 / std::sqrt(static_cast<double>(d));
            auto got = fused_attention(qkv, cos[0], sin[0], scale, spans, window);
            auto want = reference(qkv, cos[0], sin[0], scale, spans, window);
            ASSERT_EQ(got.sizes(), (std::vector<int64_t>{n, heads * d}));
            EXPECT_EQ(got.scalar_type(), torch::kFloat);
            EXPECT_LE((got.to(torch::kDouble) - want).abs().max().item<double>(), 2e-6)
                << "d=" << d << " window=" << window;
            // Pads (tokens 0, 1, 3, 11, 35..39, 88, 89, 123..129) are zero.
            for (int64_t t : {0, 1, 3, 11, 35, 39, 88, 89, 123, 129}) {
                EXPECT_EQ(got[t].abs().max().item<float>(), 0.0f) << "pad token " << t;
            }
        }
    }
}

TEST(FusedAttention, Bf16InIsComputedInFp32AndRoundedOnce) {
    torch::NoGradGuard no_grad;
    torch::manual_seed(5);
    const TokenSpans spans{{0, 70}, {70, 58}};
    auto qkv = torch::randn({128, 3, 2, 32}).to(torch::kBFloat16);
    auto [cos, sin] = rotary_cos_sin(torch::arange(70, torch::kLong).unsqueeze(0), 32, 10000.0);
    auto got = fused_attention(qkv, cos[0], sin[0], 0.125, spans, 16);
    EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
    // The exact attention of the bf16 inputs, rounded to bf16 once: within half a bf16 ulp (2^-8
    // relative) plus the fp32 arithmetic's error.
    auto want = reference(qkv, cos[0], sin[0], 0.125, spans, 16);
    auto err = (got.to(torch::kDouble) - want).abs();
    EXPECT_TRUE((err <= want.abs() * (1.0 / 256) + 1e-6).all().item<bool>())
        << err.max().item<double>();
}

// The backward (recomputed probabilities from the saved log-sum-exp, dQ per tile, dK and dV
// accumulated, the rotation transposed) against autograd through the reference in double.
TEST(FusedAttention, GradientsAreAutogradsOfTheReference) {
    const TokenSpans spans{{1, 9, 40}, {6, 29, 50}};
    const int64_t n = 95;
    for (int64_t d : {16, 24}) {
        for (int64_t window : {0, 12}) {
            torch::manual_seed(d + window);
            const int64_t heads = 2;
            auto qkv = torch::randn({n, 3, heads, d}).requires_grad_(true);
            auto w = torch::randn({n, heads * d});
            auto [cos, sin] =
                rotary_cos_sin(torch::arange(50, torch::kLong).unsqueeze(0), d, 10000.0);
            const double scale = 1.0 / std::sqrt(static_cast<double>(d));
            auto out = fused_attention(qkv, cos[0], sin[0], scale, spans, window);
            (out * w).sum().backward();
            auto qkv_d = qkv.detach().to(torch::kDouble).requires_grad_(true);
            (reference(qkv_d, cos[0], sin[0], scale, spans, window) * w.to(torch::kDouble))
                .sum()
                .backward();
            auto want = qkv_d.grad();
            const double err = (qkv.grad().to(torch::kDouble) - want).abs().max().item<double>();
            EXPECT_LE(err, 1e-5 * (1 + want.abs().max().item<double>()))
                << "d=" << d << " window=" << window;
            // Pad tokens (0, 7, 8, 38, 39, 90..94) get no gradient.
            for (int64_t t : {0, 7, 8, 38, 39, 90, 94}) {
                EXPECT_EQ(qkv.grad()[t].abs().max().item<float>(), 0.0f) << "pad token " << t;
            }
        }
    }
    // bf16 in: the gradient comes back in bf16, close to the fp32 one.
    torch::manual_seed(3);
    auto x32 = torch::randn({95, 3, 2, 16});
    auto [cos, sin] = rotary_cos_sin(torch::arange(50, torch::kLong).unsqueeze(0), 16, 10000.0);
    auto x16 = x32.to(torch::kBFloat16).requires_grad_(true);
    fused_attention(x16, cos[0], sin[0], 0.25, spans, 12).sum().backward();
    auto x32b = x16.detach().to(torch::kFloat).requires_grad_(true);
    fused_attention(x32b, cos[0], sin[0], 0.25, spans, 12).sum().backward();
    EXPECT_EQ(x16.grad().scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::allclose(x16.grad().to(torch::kFloat), x32b.grad(), 1e-2, 1e-2));
}

TEST(FusedAttention, RunsOnCpuFloatsOutsideTracesAndChecksItsSpans) {
    auto x = torch::randn({4, 3, 1, 8});
    EXPECT_TRUE(fused_attention_supported(x));
    EXPECT_FALSE(fused_attention_supported(x.to(torch::kLong)));
    {
        c10::InferenceMode inference;
        EXPECT_TRUE(fused_attention_supported(torch::randn({4, 3, 1, 8})));
    }
    auto [cos, sin] = rotary_cos_sin(torch::arange(4, torch::kLong).unsqueeze(0), 8, 10000.0);
    // A sequence past the token axis or the rotary tables is an error, not a read out of bounds.
    EXPECT_THROW(fused_attention(x, cos[0], sin[0], 1.0, TokenSpans{{2}, {4}}, 0), std::exception);
    auto longer = torch::randn({8, 3, 1, 8});
    EXPECT_THROW(fused_attention(longer, cos[0], sin[0], 1.0, TokenSpans{{0}, {8}}, 0),
                 std::exception);
}
