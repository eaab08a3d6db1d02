// The adapters on a CUDA device (skipped where LibTorch has no CUDA or no GPU is visible): QLoRA
// trains and merges on the GPU, the engine's fp32 and bf16 (CUDA autocast) paths give the model's
// logits, int8 falls back to fp32 with a reason (oneDNN dynamic quantization is CPU-only), and the
// compiled model matches eager.
#include <gtest/gtest.h>

#include "greenknobs/adapters/compile.h"
#include "greenknobs/adapters/engine.h"
#include "greenknobs/adapters/lora.h"
#include "greenknobs/adapters/quant.h"
#include "greenknobs/model/modernbert.h"

#include "tiny_model.h"

namespace gk::adapters {
namespace {

#define GK_REQUIRE_CUDA()                                                                \
    if (!torch::cuda::is_available()) {                                                  \
        GTEST_SKIP() << "no CUDA: this LibTorch build has no CUDA or no GPU is visible"; \
    }

TEST(Cuda, QLoraTrainsAndMergesOnTheGpu) {
    GK_REQUIRE_CUDA();
    for (int bits : {8, 4}) {
        torch::manual_seed(1);
        testing::TinyModel m(2);
        m->to(torch::kCUDA);
        config::QuantizationConfig qc;
        qc.bits = bits;
        auto qrep = quantize_model(*m, qc, /*double_quant=*/true);
        EXPECT_EQ(qrep.layers, 8);
        for (const auto& b : m->named_buffers()) {
            EXPECT_TRUE(b.value().is_cuda()) << b.key();
        }
        apply_lora(*m, config::LoraConfig{});
        {
            torch::NoGradGuard g;
            for (auto& p : m->named_parameters()) {
                if (p.key().find("lora_B") != std::string::npos) {
                    p.value().normal_(0, 0.3);
                }
                EXPECT_TRUE(p.value().is_cuda()) << p.key();
            }
        }
        auto [ids, mask] = testing::random_batch(4, 10, 2);
        ids = ids.cuda();
        mask = mask.cuda();
        m->train();
        m->forward(ids, mask).pow(2).sum().backward();
        for (const auto& p : m->named_parameters()) {
            const bool should =
                p.key().find(".lora_") != std::string::npos || is_head_param(p.key());
            EXPECT_EQ(p.value().grad().defined(), should) << p.key();
        }
        m->eval();
        torch::NoGradGuard g;
        auto before = m->forward(ids, mask);
        merge_lora(*m);
        EXPECT_TRUE(torch::allclose(m->forward(ids, mask), before, 1e-4, 1e-4)) << bits;
    }
}

TEST(Cuda, EngineAndCompileOnTheGpu) {
    GK_REQUIRE_CUDA();
    torch::manual_seed(3);
    model::ModernBertForSequenceClassification m(model::preset("test-tiny"));
    m->to(torch::kCUDA);
    apply_lora(*m, config::LoraConfig{});
    auto ids = torch::randint(5, 50000, {6, 40}, torch::kLong);
    auto lens = torch::tensor({40, 3, 17, 25, 40, 8}, torch::kLong);
    auto mask = (torch::arange(40).unsqueeze(0) < lens.unsqueeze(1)).to(torch::kLong);
    torch::Tensor ref;
    {
        torch::NoGradGuard g;
        m->eval();
        ref = m->forward(ids.cuda(), mask.cuda()).cpu();
    }
    std::vector<std::vector<int32_t>> seqs;
    for (int64_t i = 0; i < 6; ++i) {
        std::vector<int32_t> s;
        for (int64_t j = 0; j < lens[i].item<int64_t>(); ++j) {
            s.push_back(static_cast<int32_t>(ids[i][j].item<int64_t>()));
        }
        seqs.push_back(s);
    }
    for (const std::string dtype : {"fp32", "bf16", "int8"}) {
        for (bool compile : {false, true}) {
            EngineOptions o;
            o.dtype = dtype;
            o.batch_size = 4;
            o.compile = compile;
            o.pad_id = m->config().pad_token_id;
            InferenceEngine eng(classifier_of(m.ptr()), o);
            if (dtype == "int8") {
                EXPECT_EQ(eng.dtype(), "fp32");
                EXPECT_NE(eng.fallback_reason().find("CPU only"), std::string::npos);
            }
            auto res = eng.run(seqs);
            const double tol =
                dtype == "bf16" ? 0.05 * ref.abs().max().item<double>() + 1e-3 : 1e-4;
            for (size_t i = 0; i < seqs.size(); ++i) {
                EXPECT_NEAR(res.logits[i][0], ref[i][0].item<float>(), tol)
                    << dtype << " compile=" << compile;
                EXPECT_NEAR(res.logits[i][1], ref[i][1].item<float>(), tol)
                    << dtype << " compile=" << compile;
            }
        }
    }
}

}  // namespace
}  // namespace gk::adapters
