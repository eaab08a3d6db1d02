// TorchScript compile (V11, evaluation only): the traced, frozen model gives the eager logits, for
// other masks of the same shape and, after a re-trace, for other shapes; the engine can run through
// it.
#include "greenknobs/adapters/compile.h"

#include <gtest/gtest.h>

#include "greenknobs/adapters/lora.h"

#include "tiny_model.h"

namespace gk::adapters {
namespace {

using testing::TinyModel;

torch::Tensor eager(TinyModel& m, const torch::Tensor& ids, const torch::Tensor& mask) {
    torch::NoGradGuard g;
    const bool was = m->is_training();
    m->eval();
    auto out = m->forward(ids, mask);
    m->train(was);
    return out;
}

TEST(Compile, TracedModelMatchesEagerAcrossMasksAndShapes) {
    torch::manual_seed(1);
    TinyModel m(2);
    config::LoraConfig lc;
    lc.r = 4;
    apply_lora(*m, lc);
    CompiledModel cm(make_classifier(m));
    auto [ids, mask] = testing::random_batch(4, 16, 2);
    auto got = cm.forward(ids, mask);
    EXPECT_TRUE(torch::allclose(got, eager(m, ids, mask), 1e-5, 1e-5));
    EXPECT_EQ(cm.traces(), 1);
    ASSERT_FALSE(cm.steps().empty());
    EXPECT_EQ(cm.steps(), (std::vector<std::string>{"trace", "freeze", "optimize_for_inference"}));
    // Same shape, other ids and mask (also a row without padding): no re-trace, still exact.
    auto [ids2, mask2] = testing::random_batch(4, 16, 3);
    mask2[1].fill_(1);
    EXPECT_TRUE(torch::allclose(cm.forward(ids2, mask2), eager(m, ids2, mask2), 1e-5, 1e-5));
    EXPECT_EQ(cm.traces(), 1);
    // Another shape: traced again and correct.
    auto [ids3, mask3] = testing::random_batch(3, 9, 4);
    EXPECT_TRUE(torch::allclose(cm.forward(ids3, mask3), eager(m, ids3, mask3), 1e-5, 1e-5));
    EXPECT_EQ(cm.traces(), 2);
}

TEST(Compile, TraceReadsTheLiveWeightsNotACopyMadeAtConstruction) {
    torch::manual_seed(5);
    TinyModel m(1);
    CompiledModel cm(make_classifier(m));
    {
        torch::NoGradGuard g;
        m->classifier->bias.add_(1.0);  // changed before the first trace: the trace must see it
    }
    auto [ids, mask] = testing::random_batch(2, 8, 6);
    EXPECT_TRUE(torch::allclose(cm.forward(ids, mask), eager(m, ids, mask), 1e-5, 1e-5));
}

TEST(Compile, EngineRunsThroughTheTraceWithFewShapes) {
    torch::manual_seed(7);
    TinyModel m(2);
    std::vector<std::vector<int32_t>> seqs;
    for (int i = 0; i < 30; ++i) {
        std::vector<int32_t> s;
        for (int j = 0; j <= (i * 7) % 40; ++j) {
            s.push_back(1 + (i * 13 + j * 5) % (testing::kVocab - 1));
        }
        seqs.push_back(s);
    }
    EngineOptions o;
    o.batch_size = 8;
    EngineResult plain;
    {
        InferenceEngine eng(make_classifier(m), o);
        plain = eng.run(seqs);
    }
    o.compile = true;
    InferenceEngine eng(make_classifier(m), o);
    auto res = eng.run(seqs);
    for (size_t i = 0; i < seqs.size(); ++i) {
        EXPECT_NEAR(res.logits[i][0], plain.logits[i][0], 1e-4) << i;
        EXPECT_NEAR(res.logits[i][1], plain.logits[i][1], 1e-4) << i;
    }
    // Lengths 1..40 rounded to multiples of 32 and batches kept at 8 rows: only [8, 32] and [8,
    // 64].
    EXPECT_EQ(res.timing.batches, 4);
}

// The engine's prepacked int8 weights are script objects: the trace takes them as module
// attributes. Int8 activations are quantized per tensor, so results depend on the whole batch:
// compare on one batch.
TEST(Compile, Int8EngineTracesThroughPrepackedWeights) {
    torch::manual_seed(11);
    TinyModel m(2);
    auto [ids, mask] = testing::random_batch(8, CompiledModel::kSeqMultiple, 12);
    auto fp32 = eager(m, ids, mask);
    EngineOptions o;
    o.dtype = "int8";
    torch::Tensor ref;
    {
        InferenceEngine eng(make_classifier(m), o);
        if (eng.dtype() != "int8") {
            GTEST_SKIP() << eng.fallback_reason();
        }
        ref = eng.forward(ids, mask);
    }
    o.compile = true;
    InferenceEngine eng(make_classifier(m), o);
    auto got = eng.forward(ids, mask);
    EXPECT_TRUE(torch::allclose(got, ref, 1e-4, 1e-4)) << (got - ref).abs().max();
    EXPECT_GT((got - fp32).abs().max().item<double>(), 0);  // really int8
}

TEST(Compile, Bf16TraceStaysClose) {
    torch::manual_seed(9);
    TinyModel m(2);
    CompiledModel cm(make_classifier(m), /*autocast=*/at::kBFloat16);
    auto [ids, mask] = testing::random_batch(4, 12, 10);
    auto ref = eager(m, ids, mask);
    auto got = cm.forward(ids, mask);
    EXPECT_LT((got - ref).abs().max().item<double>(), 0.05 * ref.abs().max().item<double>());
}

}  // namespace
}  // namespace gk::adapters
