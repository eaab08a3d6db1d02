// LoRA (V2): adapters land on the real projections, only adapters + head train, a target that
// matches nothing is an error, and the merged model equals base + (alpha/r)·B·A.
#include "greenknobs/adapters/lora.h"

#include <set>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

#include "tiny_model.h"

namespace gk::adapters {
namespace {

using testing::TinyModel;

config::LoraConfig default_lora() {
    config::LoraConfig c;
    c.enabled = true;
    c.r = 4;
    c.alpha = 8;
    c.dropout = 0.0;
    return c;
}

// Give every lora_B random values so the adapters change the output (PEFT starts B at 0).
void randomize_lora_b(torch::nn::Module& m) {
    torch::NoGradGuard g;
    for (auto& p : m.named_parameters()) {
        if (p.key().find("lora_B") != std::string::npos) {
            p.value().normal_(0, 0.3);
        }
    }
}

TEST(Lora, InstallsOnRealProjectionsAndFreezesAllButHead) {
    torch::manual_seed(1);
    TinyModel m(2);
    auto rep = apply_lora(*m, default_lora());
    EXPECT_EQ(rep.adapters_per_target.at("attn.Wqkv"), 2);
    EXPECT_EQ(rep.adapters_per_target.at("attn.Wo"), 2);
    EXPECT_EQ(rep.adapters_per_target.at("mlp.Wi"), 2);
    EXPECT_EQ(rep.adapters_per_target.at("mlp.Wo"), 2);
    using testing::kHidden;
    using testing::kInter;
    const int64_t r = 4;
    const int64_t per_layer = r * (kHidden + 3 * kHidden) + r * (kHidden + kHidden) +
                              r * (kHidden + 2 * kInter) + r * (kInter + kHidden);
    EXPECT_EQ(rep.adapter_params, 2 * per_layer);
    std::set<std::string> trainable;
    int64_t trainable_numel = 0;
    for (const auto& p : m->named_parameters()) {
        if (p.value().requires_grad()) {
            trainable.insert(p.key());
            trainable_numel += p.value().numel();
        }
    }
    EXPECT_TRUE(trainable.count("model.layers.0.attn.Wqkv.lora_A.weight"));
    EXPECT_TRUE(trainable.count("model.layers.1.mlp.Wo.lora_B.weight"));
    EXPECT_TRUE(trainable.count("head.dense.weight"));
    EXPECT_TRUE(trainable.count("head.norm.weight"));
    EXPECT_TRUE(trainable.count("classifier.weight"));
    EXPECT_TRUE(trainable.count("classifier.bias"));
    EXPECT_FALSE(trainable.count("model.layers.0.attn.Wqkv.weight"));
    EXPECT_FALSE(trainable.count("model.tok_embeddings.weight"));
    EXPECT_FALSE(trainable.count("model.layers.0.attn_norm.weight"));
    for (const auto& name : trainable) {
        bool ok = name.find(".lora_") != std::string::npos || is_head_param(name);
        EXPECT_TRUE(ok) << name;
    }
    EXPECT_EQ(rep.trainable_params, trainable_numel);
    EXPECT_EQ(rep.trainable_params,
              rep.adapter_params + kHidden * kHidden + 2 * kHidden + 2 * kHidden + 2);
    EXPECT_GT(rep.total_params, rep.trainable_params);
}

TEST(Lora, TargetMatchingNothingIsAnInputError) {
    TinyModel m(1);
    auto cfg = default_lora();
    cfg.targets = {"query", "key", "value"};  // the paper's BERT names: ModernBERT has none of them
    try {
        apply_lora(*m, cfg);
        FAIL() << "expected InputError";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("query"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("lora.targets"), std::string::npos);
    }
    cfg.targets = {};
    EXPECT_THROW(apply_lora(*m, cfg), InputError);
    // "Wo" alone is a suffix of both attn.Wo and mlp.Wo; "lp.Wo" is not a whole-name suffix.
    cfg.targets = {"lp.Wo"};
    EXPECT_THROW(apply_lora(*m, cfg), InputError);
}

TEST(Lora, OverlappingTargetsOrASecondApplyAreRejectedWithoutSideEffects) {
    TinyModel m(1);
    auto cfg = default_lora();
    cfg.targets = {"Wo", "attn.Wo"};  // "Wo" already covers attn.Wo
    EXPECT_THROW(apply_lora(*m, cfg), InputError);
    for (const auto& p : m->parameters()) {
        EXPECT_TRUE(p.requires_grad());
    }
    EXPECT_FALSE(m->model->layers[0]->as<testing::TinyLayerImpl>()->attn->Wo->adapter);
    apply_lora(*m, default_lora());
    EXPECT_THROW(apply_lora(*m, default_lora()), InputError);
}

TEST(Lora, HeadDenseIsAnOptionalTarget) {
    TinyModel m(1);
    auto cfg = default_lora();
    cfg.targets = {"head.dense"};
    auto rep = apply_lora(*m, cfg);
    EXPECT_EQ(rep.adapters_per_target.at("head.dense"), 1);
    EXPECT_EQ(m->head->dense->adapter->kind(), "lora");
    EXPECT_FALSE(m->head->dense->weight.requires_grad());  // a LoRA target's base is frozen
    EXPECT_TRUE(m->classifier->weight.requires_grad());
}

TEST(Lora, StartsEqualToBaseAndGradientsReachOnlyAdaptersAndHead) {
    torch::manual_seed(2);
    TinyModel m(2);
    auto [ids, mask] = testing::random_batch(4, 10, 3);
    auto before = m->forward(ids, mask).detach();
    apply_lora(*m, default_lora());
    auto after = m->forward(ids, mask);
    EXPECT_TRUE(torch::allclose(before, after, 0, 0));  // B = 0: exactly the base
    randomize_lora_b(*m);
    auto loss = m->forward(ids, mask).pow(2).sum();
    loss.backward();
    for (const auto& p : m->named_parameters()) {
        const bool should = p.key().find(".lora_") != std::string::npos || is_head_param(p.key());
        if (should) {
            ASSERT_TRUE(p.value().grad().defined()) << p.key();
            EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
        } else {
            EXPECT_FALSE(p.value().grad().defined()) << p.key();
        }
    }
}

TEST(Lora, OptimizerSeesAdaptersAndLeavesBaseUntouched) {
    torch::manual_seed(4);
    TinyModel m(1);
    apply_lora(*m, default_lora());
    randomize_lora_b(*m);
    std::vector<torch::Tensor> params;
    for (const auto& p : m->parameters()) {
        if (p.requires_grad()) {
            params.push_back(p);
        }
    }
    auto w0 = m->model->layers[0]->as<testing::TinyLayerImpl>()->attn->Wqkv->weight.clone();
    auto* lora = dynamic_cast<LoraAdapter*>(
        m->model->layers[0]->as<testing::TinyLayerImpl>()->attn->Wqkv->adapter.get());
    ASSERT_NE(lora, nullptr);
    auto a0 = lora->lora_A().clone();
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-2));
    auto [ids, mask] = testing::random_batch(4, 8, 5);
    opt.zero_grad();
    m->forward(ids, mask).pow(2).sum().backward();
    opt.step();
    EXPECT_FALSE(torch::equal(a0, lora->lora_A()));
    EXPECT_TRUE(
        torch::equal(w0, m->model->layers[0]->as<testing::TinyLayerImpl>()->attn->Wqkv->weight));
}

TEST(Lora, MergedModelEqualsBasePlusScaledBA) {
    torch::manual_seed(6);
    TinyModel m(2);
    auto cfg = default_lora();
    apply_lora(*m, cfg);
    randomize_lora_b(*m);
    m->eval();
    auto [ids, mask] = testing::random_batch(5, 12, 7);
    auto unmerged = m->forward(ids, mask).detach();
    auto& wqkv = m->model->layers[1]->as<testing::TinyLayerImpl>()->attn->Wqkv;
    auto* lora = dynamic_cast<LoraAdapter*>(wqkv->adapter.get());
    ASSERT_NE(lora, nullptr);
    auto expected_w =
        (wqkv->weight + (cfg.alpha / cfg.r) * torch::matmul(lora->lora_B(), lora->lora_A()))
            .detach();
    EXPECT_EQ(merge_lora(*m), 8);
    EXPECT_TRUE(torch::allclose(wqkv->weight, expected_w, 1e-6, 1e-6));
    EXPECT_FALSE(wqkv->adapter);
    for (const auto& p : m->named_parameters()) {
        EXPECT_EQ(p.key().find("lora"), std::string::npos) << p.key();
    }
    auto merged = m->forward(ids, mask);
    EXPECT_TRUE(torch::allclose(unmerged, merged, 1e-4, 1e-5)) << (unmerged - merged).abs().max();
    EXPECT_GT((unmerged.abs()).max().item<double>(), 0.1);
}

TEST(Lora, DropoutActsOnlyInTraining) {
    torch::manual_seed(8);
    TinyModel m(1);
    auto cfg = default_lora();
    cfg.dropout = 0.5;
    apply_lora(*m, cfg);
    randomize_lora_b(*m);
    auto [ids, mask] = testing::random_batch(3, 6, 9);
    m->train();
    auto t1 = m->forward(ids, mask).detach();
    auto t2 = m->forward(ids, mask).detach();
    EXPECT_FALSE(torch::allclose(t1, t2));
    m->eval();
    EXPECT_TRUE(torch::equal(m->forward(ids, mask), m->forward(ids, mask)));
}

}  // namespace
}  // namespace gk::adapters
