// The trainer on the real encoder: ModernBERT's `test-tiny` preset (3 layers, hidden 32) trained
// through Trainer.fit, with HF's weight-decay grouping of its parameters, bf16 autocast and
// gradient accumulation.
#include <random>

#include <gtest/gtest.h>

#include "greenknobs/model/modernbert.h"
#include "greenknobs/train/trainer.h"

namespace gk::train {
namespace {

using gk::model::ModernBertForSequenceClassification;

constexpr int32_t kCls = 50281;
constexpr int32_t kSep = 50282;
constexpr int32_t kPad = 50283;
constexpr int32_t kSignal = 1000;  // the "vulnerable" token

// [CLS] tokens… [SEP]; label 1 iff kSignal occurs.
TokenizedSplit tiny_split(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    TokenizedSplit s;
    for (int i = 0; i < n; ++i) {
        int len = 4 + static_cast<int>(rng() % 17);
        std::vector<int32_t> row = {kCls};
        for (int t = 0; t < len; ++t) {
            row.push_back(2000 + static_cast<int32_t>(rng() % 64));
        }
        int label = static_cast<int>(rng() % 2);
        if (label == 1) {
            row[1 + rng() % static_cast<uint32_t>(len)] = kSignal;
        }
        row.push_back(kSep);
        s.ids.push_back(row);
        s.labels.push_back(label);
    }
    return s;
}

ForwardFn forward_of(ModernBertForSequenceClassification& m) {
    return [m](const torch::Tensor& ids, const torch::Tensor& mask) mutable {
        return m->forward(ids, mask);
    };
}

config::TrainConfig tiny_config() {
    config::TrainConfig c;
    c.epochs = 4;
    c.batch_size = 16;
    c.lr = 3e-3;
    c.warmup_ratio = 0.1;
    c.seed = 5;
    return c;
}

TrainerOptions tiny_options() {
    TrainerOptions o;
    o.pad_id = kPad;
    o.progress = false;
    return o;
}

TEST(ModernBertTrainer, WeightDecayGroupsFollowHf) {
    torch::manual_seed(0);
    ModernBertForSequenceClassification m(gk::model::preset("test-tiny"));
    ParamGroups g = group_parameters(*m);
    ASSERT_FALSE(g.decay.empty());
    ASSERT_FALSE(g.no_decay.empty());
    for (const auto& name : g.no_decay_names) {
        bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
        EXPECT_TRUE(is_bias || name.find("norm") != std::string::npos) << name;
    }
    for (const auto& name : g.decay_names) {
        EXPECT_EQ(name.find("norm"), std::string::npos) << name;
        EXPECT_FALSE(name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) << name;
    }
    auto has = [](const std::vector<std::string>& v, const std::string& s) {
        return std::find(v.begin(), v.end(), s) != v.end();
    };
    EXPECT_TRUE(has(g.decay_names, "model.layers.0.attn.Wqkv.weight"));
    EXPECT_TRUE(has(g.decay_names, "classifier.weight"));
    EXPECT_TRUE(has(g.no_decay_names, "model.final_norm.weight"));
    EXPECT_TRUE(has(g.no_decay_names, "model.layers.1.attn_norm.weight"));
    EXPECT_TRUE(has(g.no_decay_names, "classifier.bias"));
    EXPECT_EQ(g.decay.size() + g.no_decay.size(), m->parameters().size());
}

TEST(ModernBertTrainer, TestTinyLearnsASeparableTaskInFp32AndBf16) {
    auto train = tiny_split(320, 1);
    auto val = tiny_split(96, 2);
    for (const char* precision : {"fp32", "bf16"}) {
        torch::manual_seed(0);
        ModernBertForSequenceClassification m(gk::model::preset("test-tiny"));
        auto cfg = tiny_config();
        cfg.precision =
            gk::config::parse_or_throw<gk::config::Precision>(precision, "test", "train.precision");
        Trainer trainer(*m, forward_of(m), cfg, torch::Device(torch::kCPU), tiny_options());
        TrainReport r = trainer.fit(train, val);
        EXPECT_EQ(r.epochs_run, 4);
        const auto& best = r.validation[static_cast<size_t>(r.best_epoch - 1)];
        EXPECT_GT(best.metrics.f1_vul, 0.9) << precision;
        EXPECT_LT(r.final_loss, r.validation.front().train_loss) << precision;
        EvalResult e = evaluate(*m, forward_of(m), val, 32, torch::Device(torch::kCPU),
                                parse_precision(precision), kPad);
        EXPECT_NEAR(e.metrics.f1_vul, best.metrics.f1_vul, 1e-12) << precision;
    }
}

TEST(ModernBertTrainer, AccumulationMatchesOneBigBatchOnTheEncoder) {
    // Masked attention and masked mean pooling: each sample's logits ignore the batch's padding
    // length.
    auto train = tiny_split(16, 3);
    auto run = [&](int batch, int accum) {
        torch::manual_seed(9);
        ModernBertForSequenceClassification m(gk::model::preset("test-tiny"));
        auto cfg = tiny_config();
        cfg.epochs = 1;
        cfg.batch_size = batch;
        cfg.grad_accum = accum;
        cfg.warmup_ratio = 0;
        cfg.max_grad_norm = 0;
        Trainer trainer(*m, forward_of(m), cfg, torch::Device(torch::kCPU), tiny_options());
        TrainReport r = trainer.fit(train, TokenizedSplit{});
        EXPECT_EQ(r.steps, 1);
        std::vector<torch::Tensor> out;
        for (auto& p : m->parameters()) {
            out.push_back(p.detach().clone());
        }
        return out;
    };
    auto big = run(16, 1);
    auto acc = run(4, 4);
    for (size_t i = 0; i < big.size(); ++i) {
        EXPECT_LT((big[i] - acc[i]).abs().max().item<double>(), 1e-5) << i;
    }
}

// Beside the model's equality test (checkpointed gradients == plain ones): the checkpointed run's
// autograd graph really holds one recompute node per layer instead of the layers' own ops, and the
// report says which autocast dtype the steps ran under.
TEST(ModernBertTrainer, ReportSaysCheckpointingAndPrecisionRan) {
    auto train = tiny_split(32, 4);
    auto run = [&](bool ckpt, const char* precision) {
        torch::manual_seed(3);
        ModernBertForSequenceClassification m(gk::model::preset("test-tiny"));
        m->set_grad_checkpointing(ckpt);
        auto cfg = tiny_config();
        cfg.epochs = 1;
        cfg.precision =
            gk::config::parse_or_throw<gk::config::Precision>(precision, "test", "train.precision");
        Trainer trainer(*m, forward_of(m), cfg, torch::Device(torch::kCPU), tiny_options());
        return trainer.fit(train, TokenizedSplit{});
    };
    TrainReport plain = run(false, "fp32");
    TrainReport ckpt = run(true, "bf16");
    EXPECT_EQ(plain.checkpointed_layers, 0);
    EXPECT_EQ(ckpt.checkpointed_layers, 3);
    EXPECT_LT(ckpt.autograd_nodes,
              plain.autograd_nodes);  // the layers' ops live inside the checkpoints
    EXPECT_EQ(plain.precision, "fp32");
    EXPECT_EQ(ckpt.precision, "bf16");
    EXPECT_EQ(plain.micro_batches, 2);
    EXPECT_EQ(plain.max_micro_batch, 16);
    EXPECT_EQ(plain.optimizer_name, "adamw");
    EXPECT_EQ(plain.optimizer_impl, "fused-cpu");  // what ran, not what was configured
    EXPECT_EQ(plain.to_json()["optimizer"]["implementation"], "fused-cpu");
}

}  // namespace
}  // namespace gk::train
