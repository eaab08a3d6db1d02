// Quantization (V3): dequantization error bounds, nibble packing, the memory saving, the custom
// backward, and QLoRA: gradients reach only LoRA + head, and merge writes dequant(W) +
// (alpha/r)·B·A in fp32.
#include "greenknobs/adapters/quant.h"

#include <gtest/gtest.h>

#include "greenknobs/adapters/lora.h"
#include "greenknobs/util/error.h"

#include "tiny_model.h"

namespace gk::adapters {
namespace {

using testing::TinyModel;

TEST(Quant, Int8ErrorIsAtMostHalfAScalePerChannel) {
    torch::manual_seed(1);
    auto w = torch::randn({40, 72}) * torch::linspace(0.01, 3.0, 40).unsqueeze(1);
    auto q = quantize_int8(w);
    EXPECT_EQ(q.data.scalar_type(), torch::kInt8);
    auto err = (w - dequantize(q)).abs();                // [40, 72]
    auto bound = q.scale.unsqueeze(1) / 2 * (1 + 1e-5);  // per output channel
    EXPECT_TRUE((err <= bound).all().item<bool>()) << (err - bound).max();
    // The absmax of each row is represented exactly (code ±127).
    EXPECT_TRUE(torch::allclose(dequantize(q).abs().amax(1), w.abs().amax(1), 1e-5, 0));
}

TEST(Quant, Nf4ErrorIsAtMostHalfTheWidestGapTimesBlockAbsmax) {
    torch::manual_seed(2);
    const int64_t block = 64;
    auto w = torch::randn({33, 70});  // 2310 elements: the last block is partial
    auto q = quantize_nf4(w, block, /*double_quant=*/false);
    EXPECT_EQ(q.data.numel(), (w.numel() + 1) / 2);
    auto wf = w.flatten();
    auto err = (wf - dequantize(q).flatten()).abs();
    auto absmax = q.scale.repeat_interleave(block).slice(0, 0, wf.numel());
    auto bound = absmax * nf4_max_half_gap() * (1 + 1e-5);
    EXPECT_TRUE((err <= bound).all().item<bool>());
    EXPECT_NEAR(nf4_max_half_gap(), (1.0f - 0.6961928f) / 2, 1e-6);
    // Tighter: every code is the nearest level, so the error is at most half the local gap.
    auto lv = torch::tensor(std::vector<float>(kNf4Levels.begin(), kNf4Levels.end()));
    auto normed = wf / absmax;
    auto nearest = (normed.unsqueeze(1) - lv.unsqueeze(0)).abs().amin(1);  // [n]
    auto chosen = (dequantize(q).flatten() / absmax - normed).abs();
    EXPECT_TRUE(torch::allclose(chosen, nearest, 0, 1e-5));
}

TEST(Quant, Nf4DoubleQuantKeepsAbsmaxClose) {
    torch::manual_seed(3);
    auto w = torch::randn({256, 300});  // 1200 blocks of 64 -> 5 double-quant blocks
    auto plain = quantize_nf4(w, 64, false);
    auto dq = quantize_nf4(w, 64, true);
    EXPECT_FALSE(dq.scale.defined());
    EXPECT_EQ(dq.absmax_q.scalar_type(), torch::kInt8);
    auto absmax_err = (nf4_absmax(dq) - plain.scale).abs();
    // int8 over (absmax - mean): error <= half a step of each 256-block's scale.
    auto step =
        dq.absmax_scale.repeat_interleave(kDoubleQuantBlock).slice(0, 0, plain.scale.numel());
    EXPECT_TRUE((absmax_err <= step / 2 * (1 + 1e-4) + 1e-7).all().item<bool>());
    EXPECT_LT(dq.bytes(), plain.bytes());
    // The weights' error bound still holds with the (slightly off) absmax it was coded with, plus
    // the absmax error itself times the largest |level| (1).
    auto err = (w.flatten() - dequantize(dq).flatten()).abs();
    auto bound = plain.scale.repeat_interleave(64) * nf4_max_half_gap() +
                 absmax_err.repeat_interleave(64) + 1e-6;
    EXPECT_TRUE((err <= bound).all().item<bool>());
}

TEST(Quant, NibblePackingRoundTrips) {
    auto codes = torch::randint(0, 16, {101}, torch::kLong).to(torch::kUInt8);
    auto packed = pack_nibbles(codes);
    EXPECT_EQ(packed.numel(), 51);
    EXPECT_TRUE(torch::equal(unpack_nibbles(packed, 101), codes));
    // Element 0 sits in the high nibble of byte 0.
    auto two = torch::tensor({3, 12}, torch::kUInt8);
    EXPECT_EQ(pack_nibbles(two)[0].item<int>(), 3 * 16 + 12);
}

TEST(Quant, MemoryShrinksAboutFourAndEightTimes) {
    config::QuantizationConfig cfg;
    struct Case {
        int bits;
        bool dq;
        double min_ratio;
        double max_ratio;
    };
    for (auto c : {Case{8, false, 3.9, 4.0}, Case{4, false, 7.0, 7.2}, Case{4, true, 7.6, 8.0}}) {
        torch::manual_seed(4);
        gk::model::Linear lin(768, 1152, false);  // one Wqkv of ModernBERT-base, rounded
        auto holder = std::make_shared<torch::nn::Module>();
        holder->register_module("Wqkv", lin);
        cfg.bits = c.bits;
        auto rep = quantize_model(*holder, cfg, c.dq);
        EXPECT_EQ(rep.layers, 1);
        EXPECT_EQ(rep.weight_bytes_before, 768 * 1152 * 4);
        const double ratio = double(rep.weight_bytes_before) / double(rep.weight_bytes_after);
        EXPECT_GE(ratio, c.min_ratio) << c.bits << " dq=" << c.dq;
        EXPECT_LE(ratio, c.max_ratio) << c.bits << " dq=" << c.dq;
        EXPECT_EQ(lin->weight.numel(), 0);  // the fp32 copy is gone
        EXPECT_EQ(count_params(*holder).total, 768 * 1152);
    }
}

TEST(Quant, ForwardUsesDequantizedWeightAndBackwardMatchesDense) {
    torch::manual_seed(5);
    for (int bits : {8, 4}) {
        gk::model::Linear lin(48, 24, true);
        auto holder = std::make_shared<torch::nn::Module>();
        holder->register_module("Wi", lin);
        auto w_fp32 = lin->weight.detach().clone();
        config::QuantizationConfig cfg;
        cfg.bits = bits;
        cfg.block_size = 32;
        quantize_model(*holder, cfg);
        auto* qa = dynamic_cast<QuantAdapter*>(lin->adapter.get());
        ASSERT_NE(qa, nullptr);
        auto w_hat = dequantize(qa->quantized());
        auto x = torch::randn({3, 5, 48}, torch::requires_grad());
        auto y = lin->forward(x);
        auto x2 = x.detach().clone().requires_grad_(true);
        auto y_dense = torch::nn::functional::linear(x2, w_hat, lin->bias.detach());
        EXPECT_TRUE(torch::allclose(y, y_dense, 1e-5, 1e-6));
        // Close to the fp32 layer too (loose: int8 ~1%, nf4 ~10% of the weight scale).
        auto y_fp32 = torch::nn::functional::linear(x, w_fp32, lin->bias);
        EXPECT_LT((y - y_fp32).abs().max().item<double>(), bits == 8 ? 0.01 : 0.06);
        auto g = torch::randn_like(y);
        y.backward(g);
        y_dense.backward(g);
        EXPECT_TRUE(torch::allclose(x.grad(), x2.grad(), 1e-5, 1e-6));
        EXPECT_FALSE(lin->bias.requires_grad());
    }
}

TEST(Quant, QLoraTrainsOnlyAdaptersAndHeadAndMergesToFp32) {
    for (int bits : {8, 4}) {
        torch::manual_seed(6);
        TinyModel m(2);
        config::QuantizationConfig qc;
        qc.bits = bits;
        qc.block_size = 64;
        auto qrep = quantize_model(*m, qc, /*double_quant=*/bits == 4);
        EXPECT_EQ(qrep.layers, 8);  // 4 projections x 2 layers; head.dense and classifier stay fp32
        EXPECT_EQ(qrep.skipped.size(), 2u);
        config::LoraConfig lc;
        lc.r = 4;
        lc.alpha = 8;
        lc.dropout = 0;
        auto lrep = apply_lora(*m, lc);
        auto& wqkv = m->model->layers[0]->as<testing::TinyLayerImpl>()->attn->Wqkv;
        EXPECT_EQ(wqkv->adapter->kind(), bits == 8 ? "int8+lora" : "nf4+lora");
        EXPECT_EQ(lrep.total_params, count_params(*m).total);
        {
            torch::NoGradGuard g;
            for (auto& p : m->named_parameters()) {
                if (p.key().find("lora_B") != std::string::npos) {
                    p.value().normal_(0, 0.3);
                }
            }
        }
        auto [ids, mask] = testing::random_batch(4, 9, 7);
        m->forward(ids, mask).pow(2).sum().backward();
        for (const auto& p : m->named_parameters()) {
            const bool should =
                p.key().find(".lora_") != std::string::npos || is_head_param(p.key());
            EXPECT_EQ(p.value().grad().defined(), should) << p.key();
        }
        for (const auto& b : m->named_buffers()) {
            EXPECT_FALSE(b.value().requires_grad()) << b.key();
        }
        m->eval();
        auto* lora = dynamic_cast<LoraAdapter*>(wqkv->adapter.get());
        ASSERT_NE(lora, nullptr);
        auto expected = (lora->effective_weight(*wqkv)).clone();
        auto before = m->forward(ids, mask).detach();
        merge_lora(*m);
        EXPECT_EQ(wqkv->weight.scalar_type(), torch::kFloat32);
        EXPECT_EQ(wqkv->weight.sizes(),
                  (std::vector<int64_t>{3 * testing::kHidden, testing::kHidden}));
        EXPECT_TRUE(torch::allclose(wqkv->weight, expected, 0, 0));
        EXPECT_TRUE(m->named_buffers().is_empty());  // the packed stores are gone
        auto after = m->forward(ids, mask);
        EXPECT_TRUE(torch::allclose(before, after, 1e-4, 1e-5)) << (before - after).abs().max();
    }
}

TEST(Quant, RejectsUnsupportedBitWidths) {
    TinyModel m(1);
    config::QuantizationConfig cfg;
    cfg.bits = 3;
    EXPECT_THROW(quantize_model(*m, cfg), InputError);
    cfg.bits = 4;
    cfg.block_size = 7;
    EXPECT_THROW(quantize_model(*m, cfg), InputError);
}

}  // namespace
}  // namespace gk::adapters
