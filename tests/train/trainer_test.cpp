// Trainer.fit and evaluate on a small model of our own: a separable toy task is learnt, gradient
// accumulation equals one big batch, the best epoch's weights are restored, early stopping stops.
#include "greenknobs/train/trainer.h"

#include <random>

#include <gtest/gtest.h>

#include "greenknobs/model/autocast.h"
#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

// Mean-pooled embeddings -> LayerNorm -> classifier. No batch-dependent op: each sample's logits
// depend on its own tokens only (padding is masked out of the mean).
struct ToyImpl : torch::nn::Module {
    ToyImpl(int64_t vocab, int64_t dim) {
        emb = register_module("emb", torch::nn::Embedding(vocab, dim));
        norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
        classifier = register_module("classifier", torch::nn::Linear(dim, 2));
    }
    torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) {
        auto h = emb(ids);                                     // [B, S, D]
        auto m = mask.unsqueeze(-1).to(h.scalar_type());       // [B, S, 1]
        auto pooled = (h * m).sum(1) / m.sum(1).clamp_min(1);  // [B, D]
        return classifier(norm(pooled));                       // [B, 2]
    }
    torch::nn::Embedding emb{nullptr};
    torch::nn::LayerNorm norm{nullptr};
    torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(Toy);

ForwardFn forward_of(Toy& model) {
    return [model](const torch::Tensor& ids, const torch::Tensor& mask) mutable {
        return model->forward(ids, mask);
    };
}

// Label 1 iff the "vulnerable" token 1 occurs; other tokens 3..49; lengths 4..24; pad id 0.
TokenizedSplit toy_split(int n, uint32_t seed, bool flip_labels = false) {
    std::mt19937 rng(seed);
    TokenizedSplit s;
    for (int i = 0; i < n; ++i) {
        int len = 4 + static_cast<int>(rng() % 21);
        std::vector<int32_t> row;
        for (int t = 0; t < len; ++t) {
            row.push_back(3 + static_cast<int32_t>(rng() % 47));
        }
        int label = static_cast<int>(rng() % 2);
        if (label == 1) {
            row[1 + rng() % static_cast<uint32_t>(len - 1)] = 1;
        }
        s.ids.push_back(row);
        s.labels.push_back(flip_labels ? 1 - label : label);
    }
    return s;
}

config::TrainConfig toy_config() {
    config::TrainConfig c;
    c.epochs = 3;
    c.batch_size = 16;
    c.lr = 5e-2;
    c.warmup_ratio = 0.1;
    c.weight_decay = 0.01;
    c.seed = 7;
    return c;
}

TrainerOptions quiet() {
    TrainerOptions o;
    o.progress = false;
    return o;
}

TEST(Evaluate, LongestFirstBatchesPadLessAndReturnEverySampleInSplitOrder) {
    torch::manual_seed(0);
    Toy model(50, 16);
    auto val = toy_split(101, 3);  // lengths 4..24 in random order; 101: a short last batch
    auto cpu = torch::Device(torch::kCPU);
    EvalResult given =
        evaluate(*model, forward_of(model), val, 8, cpu, Precision::kFp32, 0, /*bucket=*/false);
    EvalResult bucketed =
        evaluate(*model, forward_of(model), val, 8, cpu, Precision::kFp32, 0, /*bucket=*/true);
    EXPECT_FALSE(given.bucket_by_length);
    EXPECT_TRUE(bucketed.bucket_by_length);
    // The same real tokens, fewer computed on.
    EXPECT_EQ(bucketed.tokens, given.tokens);
    EXPECT_LT(bucketed.padded_tokens, given.padded_tokens);
    EXPECT_GE(bucketed.padded_tokens, bucketed.tokens);
    // Row i is sample i's in both: each sample's logits depend on its own tokens only.
    ASSERT_EQ(bucketed.logits.sizes(), given.logits.sizes());
    EXPECT_TRUE(torch::allclose(bucketed.logits, given.logits, 1e-5, 1e-6));
    EXPECT_EQ(bucketed.predictions, given.predictions);
    EXPECT_EQ(bucketed.metrics.f1_vul, given.metrics.f1_vul);
    EXPECT_NEAR(bucketed.loss, given.loss, 1e-6);
    // ...and it is not the identity: the split is not already sorted.
    EvalResult one =
        evaluate(*model, forward_of(model), TokenizedSplit{{val.ids[5]}, {val.labels[5]}}, 8, cpu,
                 Precision::kFp32);
    EXPECT_TRUE(torch::allclose(one.logits[0], bucketed.logits[5], 1e-5, 1e-6));
}

// bf16 evaluation runs every batch inside one autocast scope (the weights' bf16 copies are cast
// once per pass) and leaves autocast as it found it.
TEST(Evaluate, Bf16HoldsOneAutocastScopeForThePassAndRestoresItAfter) {
    torch::manual_seed(0);
    Toy model(50, 16);
    auto val = toy_split(40, 3);
    auto cpu = torch::Device(torch::kCPU);
    std::vector<bool> enabled;
    ForwardFn inner = forward_of(model);
    ForwardFn probe = [&](const torch::Tensor& ids, const torch::Tensor& mask) {
        enabled.push_back(gk::model::autocast_enabled(/*cuda=*/false));
        return inner(ids, mask);
    };
    EvalResult bf16 = evaluate(*model, probe, val, 8, cpu, Precision::kBf16);
    EXPECT_EQ(enabled, std::vector<bool>(5, true));  // 40 samples, batches of 8
    EXPECT_FALSE(gk::model::autocast_enabled(/*cuda=*/false));
    EvalResult fp32 = evaluate(*model, forward_of(model), val, 8, cpu, Precision::kFp32);
    EXPECT_TRUE(torch::allclose(bf16.logits, fp32.logits, 0.05, 0.05));  // bf16 really ran
    EXPECT_FALSE(torch::equal(bf16.logits, fp32.logits));
}

TEST(Trainer, LearnsASeparableToyTaskAndReportsEveryField) {
    torch::manual_seed(0);
    Toy model(50, 16);
    auto train = toy_split(400, 1);
    auto val = toy_split(100, 2);
    std::vector<std::string> begun, ended;
    TrainHooks hooks;
    hooks.stage_begin = [&](const std::string& s) { begun.push_back(s); };
    hooks.stage_end = [&](const std::string& s, int64_t samples, int64_t tokens) {
        ended.push_back(s);
        EXPECT_EQ(samples, 100);
        EXPECT_GT(tokens, 100 * 4);
    };
    Trainer trainer(*model, forward_of(model), toy_config(), torch::Device(torch::kCPU), quiet());
    TrainReport r = trainer.fit(train, val, hooks);
    EXPECT_EQ(r.epochs_run, 3);
    EXPECT_EQ(r.steps, 3 * 25);
    EXPECT_EQ(begun, std::vector<std::string>(3, "validate"));
    EXPECT_EQ(ended, begun);
    ASSERT_EQ(r.validation.size(), 3u);
    EXPECT_GT(r.validation.back().metrics.f1_vul, 0.95);
    EXPECT_LT(r.final_loss, 0.3);
    EXPECT_GT(r.tokens, 0);
    EXPECT_GE(r.padded_tokens, r.tokens);
    EXPECT_GT(r.tokens_per_s, 0);
    EXPECT_GT(r.peak_rss_mb, 1.0);
    EXPECT_GT(r.optimizer_state_bytes, 0);
    EXPECT_FALSE(r.early_stopped);
    EXPECT_EQ(r.effective_batch_size, 16);

    EvalResult e =
        evaluate(*model, forward_of(model), val, 32, torch::Device(torch::kCPU), Precision::kFp32);
    EXPECT_EQ(e.logits.sizes(), (std::vector<int64_t>{100, 2}));
    EXPECT_EQ(e.metrics.f1_vul, r.validation[static_cast<size_t>(r.best_epoch - 1)].metrics.f1_vul);
    EXPECT_TRUE(e.metrics.samples_per_s.has_value());
    EXPECT_TRUE(e.metrics.latency_ms_per_batch.has_value());
    EXPECT_EQ(e.predictions[0], e.logits[0].argmax().item<int64_t>());
    EXPECT_NEAR(e.p_vul[0], torch::softmax(e.logits[0], 0)[1].item<float>(), 1e-6);
    EXPECT_TRUE(model->is_training());  // evaluate restores the mode it found

    nlohmann::json j = r.to_json();
    for (const char* key : {"steps", "epochs_run", "final_loss", "tokens_per_s", "peak_rss_mb",
                            "best_epoch", "validation", "validation_bucket_by_length"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["validation"][0]["epoch"], 1);
    EXPECT_TRUE(j["validation"][0].contains("f1_vul"));
    EXPECT_TRUE(j["validation"][0].contains("loss"));
    // The confusion counts say how many validation samples (and positives) the F1 rests on.
    const auto& cm = j["validation"][0]["confusion"];
    EXPECT_EQ(j["validation"][0]["samples"], 100);
    EXPECT_EQ(cm["tp"].get<int64_t>() + cm["fn"].get<int64_t>() + cm["tn"].get<int64_t>() +
                  cm["fp"].get<int64_t>(),
              100);
}

TEST(Trainer, Bf16AutocastAndOtherOptimizersAndWorkersAlsoLearn) {
    auto train = toy_split(300, 3);
    auto val = toy_split(80, 4);
    struct Case {
        const char* precision;
        const char* optimizer;
        int workers;
        bool group;
    };
    for (Case c : {Case{"bf16", "adamw", 0, false}, Case{"fp32", "adamw8bit", 2, true},
                   Case{"fp32", "adamw_foreach", 1, false}}) {
        torch::manual_seed(0);
        Toy model(50, 16);
        auto cfg = toy_config();
        cfg.precision = config::parse_or_throw<config::Precision>(c.precision, "test", "precision");
        cfg.optimizer = config::parse_or_throw<config::Optimizer>(c.optimizer, "test", "optimizer");
        cfg.loader_workers = c.workers;
        cfg.group_by_length = c.group;
        Trainer trainer(*model, forward_of(model), cfg, torch::Device(torch::kCPU), quiet());
        TrainReport r = trainer.fit(train, val);
        EXPECT_GT(r.validation[static_cast<size_t>(r.best_epoch - 1)].metrics.f1_vul, 0.9)
            << c.precision << c.optimizer;
        if (c.group) {
            EXPECT_LT(r.padded_tokens,
                      r.padded_tokens_without_grouping);  // the padding the knob saved
        } else {
            EXPECT_EQ(r.padded_tokens, r.padded_tokens_without_grouping);
        }
    }
}

TEST(Trainer, Fp16OnCpuIsRefusedBeforeTraining) {
    Toy model(50, 8);
    auto cfg = toy_config();
    cfg.precision = gk::config::Precision::kFp16;
    Trainer trainer(*model, forward_of(model), cfg, torch::Device(torch::kCPU), quiet());
    EXPECT_THROW(trainer.fit(toy_split(20, 1), toy_split(10, 2)), UnsupportedError);
}

// Parameters after one epoch of `batch` × `accum` (no warm-up, fixed seed: the same permutation).
std::vector<torch::Tensor> params_after(int batch, int accum, const TokenizedSplit& train) {
    torch::manual_seed(11);
    Toy model(50, 16);
    auto cfg = toy_config();
    cfg.epochs = 1;
    cfg.batch_size = batch;
    cfg.grad_accum = accum;
    cfg.warmup_ratio = 0;
    cfg.lr = 1e-2;
    Trainer trainer(*model, forward_of(model), cfg, torch::Device(torch::kCPU), quiet());
    TrainReport r = trainer.fit(train, TokenizedSplit{});
    EXPECT_EQ(r.steps, 2);
    std::vector<torch::Tensor> out;
    for (auto& p : model->parameters()) {
        out.push_back(p.detach().clone());
    }
    return out;
}

TEST(Trainer, AccumulatedMicroBatchesStepLikeOneBigBatchIncludingThePartialLastGroup) {
    // 20 samples: 4 micro-batches of 4 + a last group of 1 micro-batch == batches of 16 and 4.
    auto train = toy_split(20, 9);
    auto big = params_after(16, 1, train);
    auto accumulated = params_after(4, 4, train);
    torch::manual_seed(11);
    Toy init(50, 16);
    double moved = 0;
    for (size_t i = 0; i < big.size(); ++i) {
        EXPECT_LT((big[i] - accumulated[i]).abs().max().item<double>(), 2e-6) << i;
        moved = std::max(moved, (big[i] - init->parameters()[i]).abs().max().item<double>());
    }
    EXPECT_GT(moved, 1e-3);
    // Not a vacuous equality: 4 real steps of 4 move the weights elsewhere.
    auto separate = params_after(8, 1, toy_split(16, 9));
    EXPECT_GT((separate[0] - big[0]).abs().max().item<double>(), 1e-4);
}

TEST(Trainer, KeepsTheBestEpochAndEarlyStoppingStops) {
    // Validation labels are the opposite of the training rule: the better the model learns, the
    // worse its validation F1, so the best epoch is an early one and must be restored at the end.
    auto train = toy_split(300, 5);
    auto val = toy_split(80, 6, /*flip_labels=*/true);
    torch::manual_seed(0);
    Toy model(50, 16);
    auto cfg = toy_config();
    cfg.epochs = 4;
    cfg.lr = 5e-3;
    Trainer trainer(*model, forward_of(model), cfg, torch::Device(torch::kCPU), quiet());
    TrainReport r = trainer.fit(train, val);
    ASSERT_EQ(r.validation.size(), 4u);
    size_t argmax = 0;
    for (size_t i = 1; i < r.validation.size(); ++i) {
        if (r.validation[i].metrics.f1_vul > r.validation[argmax].metrics.f1_vul) {
            argmax = i;
        }
    }
    EXPECT_EQ(r.best_epoch, static_cast<int>(argmax) + 1);
    EXPECT_LT(r.best_epoch, r.epochs_run);
    EvalResult e =
        evaluate(*model, forward_of(model), val, 32, torch::Device(torch::kCPU), Precision::kFp32);
    EXPECT_NEAR(e.loss, r.validation[argmax].loss,
                1e-6);  // the module holds the best epoch's weights
    EXPECT_NE(e.loss, r.validation.back().loss);

    torch::manual_seed(0);
    Toy model2(50, 16);
    cfg.early_stopping_patience = 1;
    Trainer stopper(*model2, forward_of(model2), cfg, torch::Device(torch::kCPU), quiet());
    TrainReport s = stopper.fit(train, val);
    EXPECT_TRUE(s.early_stopped);
    EXPECT_EQ(s.epochs_run, s.best_epoch + 1);
    EXPECT_LT(s.epochs_run, 4);
}

// Without the per-epoch validation (the epoch_validation knob) no `validate` stage opens and the
// last epoch is the model, even where a validated run would have restored an earlier one (the
// flipped labels of the test above); with one epoch the weights are exactly a validated run's.
TEST(Trainer, WithoutEpochValidationTheLastEpochIsTheModel) {
    auto train = toy_split(300, 5);
    auto val = toy_split(80, 6, /*flip_labels=*/true);
    auto cfg = toy_config();
    cfg.epochs = 4;
    cfg.lr = 5e-3;
    cfg.validate_epochs = false;
    std::vector<std::string> begun;
    TrainHooks hooks;
    hooks.stage_begin = [&](const std::string& s) { begun.push_back(s); };
    torch::manual_seed(0);
    Toy model(50, 16);
    Trainer trainer(*model, forward_of(model), cfg, torch::Device(torch::kCPU), quiet());
    TrainReport r = trainer.fit(train, val, hooks);
    EXPECT_TRUE(begun.empty()) << begun.size();
    EXPECT_TRUE(r.validation.empty());
    EXPECT_EQ(r.epochs_run, 4);
    EXPECT_EQ(r.best_epoch, 4);
    EXPECT_EQ(r.epoch_validation, "off: train.validate_epochs = false");
    EXPECT_EQ(r.to_json()["epoch_validation"], "off: train.validate_epochs = false");

    // One epoch, validated or not: the same weights to the bit.
    const auto one_epoch = [&](bool validate) {
        auto c = toy_config();
        c.epochs = 1;
        c.validate_epochs = validate;
        torch::manual_seed(0);
        Toy m(50, 16);
        Trainer t(*m, forward_of(m), c, torch::Device(torch::kCPU), quiet());
        TrainReport rep = t.fit(train, val);
        EXPECT_EQ(rep.validation.size(), validate ? 1u : 0u);
        EXPECT_EQ(rep.epoch_validation, validate ? "on" : "off: train.validate_epochs = false");
        return m->classifier->weight.clone();
    };
    EXPECT_TRUE(torch::equal(one_epoch(true), one_epoch(false)));
}

}  // namespace
}  // namespace gk::train
