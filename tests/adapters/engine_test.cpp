// Inference engine (V9): the packed fp32 path equals the plain model, bf16/int8 stay close with the
// same argmax, bucketing cuts padding and every result lands back at its input's position; the
// model is restored when the engine goes away.
#include "greenknobs/adapters/engine.h"

#include <gtest/gtest.h>

#include "greenknobs/adapters/lora.h"
#include "greenknobs/adapters/quant.h"
#include "greenknobs/util/error.h"

#include "tiny_model.h"

namespace gk::adapters {
namespace {

using testing::TinyModel;

std::vector<std::vector<int32_t>> random_sequences(int n, int max_len, uint64_t seed) {
    torch::manual_seed(seed);
    auto lens = torch::randint(1, max_len + 1, {n}, torch::kLong);
    std::vector<std::vector<int32_t>> out;
    for (int i = 0; i < n; ++i) {
        auto ids = torch::randint(1, testing::kVocab, {lens[i].item<int64_t>()}, torch::kLong);
        std::vector<int32_t> seq;
        for (int64_t j = 0; j < ids.numel(); ++j) {
            seq.push_back(static_cast<int32_t>(ids[j].item<int64_t>()));
        }
        out.push_back(seq);
    }
    return out;
}

// The model's own logits for each sequence alone (no padding at all), in eval mode.
torch::Tensor reference_logits(TinyModel& m, const std::vector<std::vector<int32_t>>& seqs) {
    torch::NoGradGuard g;
    const bool was = m->is_training();
    m->eval();
    std::vector<torch::Tensor> rows;
    for (const auto& s : seqs) {
        auto ids =
            torch::tensor(std::vector<int64_t>(s.begin(), s.end()), torch::kLong).unsqueeze(0);
        rows.push_back(m->forward(ids, torch::ones_like(ids)));
    }
    m->train(was);
    return torch::cat(rows);  // [N, 2]
}

torch::Tensor to_tensor(const std::vector<std::array<float, 2>>& logits) {
    auto t = torch::empty({static_cast<int64_t>(logits.size()), 2});
    for (size_t i = 0; i < logits.size(); ++i) {
        t[i][0] = logits[i][0];
        t[i][1] = logits[i][1];
    }
    return t;
}

TinyModel lora_model(uint64_t seed) {
    torch::manual_seed(seed);
    TinyModel m(2);
    config::LoraConfig lc;
    lc.r = 4;
    lc.dropout = 0.1;
    apply_lora(*m, lc);
    torch::NoGradGuard g;
    for (auto& p : m->named_parameters()) {
        if (p.key().find("lora_B") != std::string::npos) {
            p.value().normal_(0, 0.3);
        }
    }
    return m;
}

TEST(Engine, PackedFp32EqualsPlainModelAndRestoresOrder) {
    auto m = lora_model(1);
    auto seqs = random_sequences(37, 24, 2);
    auto ref = reference_logits(m, seqs);
    m->train();
    {
        EngineOptions o;
        o.batch_size = 8;
        o.bucket_by_length = true;
        InferenceEngine eng(make_classifier(m), o);
        EXPECT_EQ(eng.packed_linears(),
                  8);  // the LoRA'd ones are folded; plain ones need no packing
        EXPECT_FALSE(m->is_training());
        auto res = eng.run(seqs);
        ASSERT_EQ(res.logits.size(), seqs.size());
        auto got = to_tensor(res.logits);
        EXPECT_TRUE(torch::allclose(got, ref, 1e-4, 1e-4)) << (got - ref).abs().max();
        EXPECT_EQ(res.timing.samples, 37);
        EXPECT_EQ(res.timing.batches, 5);
        EXPECT_GE(res.timing.padded_tokens, res.timing.real_tokens);
        EXPECT_GT(res.timing.samples_per_s, 0);
    }
    // The engine is gone: the LoRA adapters and training mode are back.
    EXPECT_TRUE(m->is_training());
    EXPECT_EQ(m->model->layers[0]->as<testing::TinyLayerImpl>()->attn->Wqkv->adapter->kind(),
              "lora");
}

TEST(Engine, BucketingCutsPaddingWithoutChangingResults) {
    auto m = lora_model(3);
    auto seqs = random_sequences(64, 32, 4);
    EngineOptions o;
    o.batch_size = 8;
    o.bucket_by_length = false;
    EngineResult plain, bucketed;
    {
        InferenceEngine eng(make_classifier(m), o);
        plain = eng.run(seqs);
    }
    o.bucket_by_length = true;
    {
        InferenceEngine eng(make_classifier(m), o);
        bucketed = eng.run(seqs);
    }
    EXPECT_EQ(plain.timing.real_tokens, bucketed.timing.real_tokens);
    EXPECT_LT(bucketed.timing.padded_tokens, plain.timing.padded_tokens);
    EXPECT_TRUE(torch::allclose(to_tensor(plain.logits), to_tensor(bucketed.logits), 1e-4, 1e-4));
}

// max_rel_err: the worst logit error relative to the largest |logit|.
void expect_close_same_argmax(const std::string& dtype, double max_rel_err) {
    auto m = lora_model(5);
    auto seqs = random_sequences(200, 24, 6);
    auto ref = reference_logits(m, seqs);
    EngineOptions o;
    o.dtype = dtype;
    o.batch_size = 16;
    InferenceEngine eng(make_classifier(m), o);
    ASSERT_EQ(eng.dtype(), dtype) << eng.fallback_reason();
    auto got = to_tensor(eng.run(seqs).logits);
    const double err = (got - ref).abs().max().item<double>();
    const double scale = ref.abs().max().item<double>();
    EXPECT_LT(err, max_rel_err * scale) << dtype << " logits up to " << scale;
    EXPECT_GT(err, 0) << dtype << ": no rounding at all means the dtype was not applied";
    const double agree = (got.argmax(1) == ref.argmax(1)).to(torch::kDouble).mean().item<double>();
    EXPECT_GE(agree, 0.95) << dtype;
}

TEST(Engine, Bf16IsCloseWithSameArgmax) { expect_close_same_argmax("bf16", 0.05); }

TEST(Engine, Int8IsCloseWithSameArgmax) {
    std::string why;
    if (!int8_dynamic_supported(&why)) {
        GTEST_SKIP() << "int8 dynamic quantization unavailable in this build: " << why;
    }
    expect_close_same_argmax("int8", 0.15);  // activations are quantized per tensor, per call
}

TEST(Engine, Int8PacksEveryProjection) {
    std::string why;
    if (!int8_dynamic_supported(&why)) {
        GTEST_SKIP() << why;
    }
    auto m = lora_model(7);
    EngineOptions o;
    o.dtype = "int8";
    InferenceEngine eng(make_classifier(m), o);
    EXPECT_EQ(eng.packed_linears(), 10);  // 8 encoder projections + head.dense + classifier
    EXPECT_EQ(m->classifier->adapter->kind(), "packed-int8");
}

TEST(Engine, QuantizedLoraModelPacksToItsOwnLogits) {
    torch::manual_seed(8);
    TinyModel m(2);
    config::QuantizationConfig qc;
    qc.bits = 4;
    quantize_model(*m, qc, /*double_quant=*/true);
    config::LoraConfig lc;
    lc.r = 4;
    apply_lora(*m, lc);
    auto seqs = random_sequences(20, 16, 9);
    auto ref = reference_logits(m, seqs);
    InferenceEngine eng(make_classifier(m), EngineOptions{});
    EXPECT_TRUE(torch::allclose(to_tensor(eng.run(seqs).logits), ref, 1e-4, 1e-4));
}

TEST(Engine, RejectsBadOptions) {
    TinyModel m(1);
    EngineOptions o;
    o.dtype = "fp8";
    EXPECT_THROW(InferenceEngine(make_classifier(m), o), InputError);
    o.dtype = "int8";
    o.engine = "plain";
    EXPECT_THROW(InferenceEngine(make_classifier(m), o), InputError);
    o.engine = "packed";
    o.dtype = "fp32";
    o.batch_size = 0;
    EXPECT_THROW(InferenceEngine(make_classifier(m), o), InputError);
}

// The evaluation precision rule (docs/knobs.md): inference.dtype = train follows train.precision;
// an explicit inference.dtype wins.
TEST(Engine, EvaluationDtypeFollowsTrainingUnlessInferenceSaysOtherwise) {
    config::RunConfig c;
    EXPECT_EQ(c.inference.dtype, gk::config::EvalDtype::kTrain);
    EXPECT_EQ(evaluation_dtype(c), "fp32");
    c.train.precision = gk::config::Precision::kBf16;
    EXPECT_EQ(evaluation_dtype(c), "bf16");
    c.train.compile = gk::config::Compile::kTorchscript;
    EXPECT_EQ(engine_options(c, 0).dtype, "bf16");  // V27: compile + bf16 evaluates in bf16
    c.inference.dtype = gk::config::EvalDtype::kFp32;
    EXPECT_EQ(evaluation_dtype(c), "fp32");
    c.inference.engine = gk::config::Engine::kPacked;
    c.inference.dtype = gk::config::EvalDtype::kInt8;
    EXPECT_EQ(engine_options(c, 0).dtype, "int8");
}

TEST(Engine, Fp16OffCudaIsUnsupported) {
    TinyModel m(1);
    EngineOptions o;
    o.dtype = "fp16";
    EXPECT_THROW(InferenceEngine(make_classifier(m), o), UnsupportedError);
}

TEST(Engine, OptionsComeFromTheRunConfig) {
    config::RunConfig c;
    c.inference.engine = gk::config::Engine::kPacked;
    c.inference.dtype = gk::config::EvalDtype::kInt8;
    c.inference.batch_size = 64;
    c.inference.bucket_by_length = true;
    c.train.compile = gk::config::Compile::kTorchscript;
    auto o = engine_options(c, 50283);
    EXPECT_EQ(o.dtype, "int8");
    EXPECT_EQ(o.batch_size, 64);
    EXPECT_TRUE(o.bucket_by_length);
    EXPECT_TRUE(o.compile);
    EXPECT_EQ(o.pad_id, 50283);
}

}  // namespace
}  // namespace gk::adapters
