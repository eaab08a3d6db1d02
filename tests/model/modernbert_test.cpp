// ModernBERT: HF names, rotary closed form, masks, attention/unpadding/checkpointing/fused-GeGLU
// equivalences, pruning, checkpoint loading (bundled tiny HF files and broken copies of them),
// save -> load identity, and learning.
#include "greenknobs/model/modernbert.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "greenknobs/model/safetensors.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

#include "../common/errors.h"
#include "../common/temp_dir.h"
#include "model_test_util.h"

using gk::InputError;
using namespace gk::model;
using gk::model::testing::Bf16Autocast;
using gk::model::testing::small_config;

namespace {

const std::string kTiny = std::string(GK_SOURCE_DIR) + "/data/tiny-modernbert-random/";

using gk::testing::error_of;

// A subdirectory of this process's temp dir (removed when the tests end).
std::string tmp_dir(const std::string& name) {
    static const gk::testing::TempDir root("model_test");
    std::string d = root / name;
    gk::fs::make_dirs(d);
    return d;
}

// Right-padded batch: row r has lengths[r] real tokens drawn from [lo, hi), then pad.
std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<int64_t>& lengths, int64_t seq,
                                              int64_t lo, int64_t hi, int64_t pad, uint64_t seed) {
    torch::manual_seed(seed);
    auto ids = torch::randint(lo, hi, {static_cast<int64_t>(lengths.size()), seq}, torch::kLong);
    auto mask = torch::zeros_like(ids);
    for (size_t r = 0; r < lengths.size(); ++r) {
        mask[r].narrow(0, 0, lengths[r]).fill_(1);
        if (lengths[r] < seq) {
            ids[r].narrow(0, lengths[r], seq - lengths[r]).fill_(pad);
        }
    }
    return {ids, mask};
}

std::map<std::string, torch::Tensor> grads_of(ModernBertForSequenceClassification& m) {
    std::map<std::string, torch::Tensor> g;
    for (auto& p : m->named_parameters()) {
        g[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : torch::Tensor();
    }
    return g;
}

// Copies the tiny classifier checkpoint, letting `edit` change the tensor list and config before
// writing.
std::string broken_copy(
    const std::string& name,
    const std::function<void(std::vector<StTensorView>&, nlohmann::json&)>& edit,
    std::vector<std::vector<char>>& store) {
    std::string dir = tmp_dir(name);
    SafetensorsFile f = SafetensorsFile::read(kTiny + "classifier/model.safetensors");
    std::vector<StTensorView> views;
    for (const auto& t : f.tensors()) {
        store.emplace_back(f.data(t), f.data(t) + (t.end - t.begin));
        views.push_back({t.name, t.dtype, t.shape, store.back().data(), store.back().size()});
    }
    nlohmann::json cfg = nlohmann::json::parse(gk::fs::read_file(kTiny + "classifier/config.json"));
    edit(views, cfg);
    write_safetensors(dir + "/model.safetensors", views);
    gk::fs::write_file_atomic(dir + "/config.json", cfg.dump());
    return dir;
}

}  // namespace

TEST(ModernBert, ParameterNamesAreHfs) {
    ModernBertForSequenceClassification m(preset("test-tiny"));
    std::set<std::string> names;
    for (auto& p : m->named_parameters()) {
        names.insert(p.key());
    }
    std::set<std::string> want = {"model.embeddings.tok_embeddings.weight",
                                  "model.embeddings.norm.weight",
                                  "model.final_norm.weight",
                                  "head.dense.weight",
                                  "head.norm.weight",
                                  "classifier.weight",
                                  "classifier.bias"};
    for (int i = 0; i < 3; ++i) {
        std::string p = "model.layers." + std::to_string(i) + ".";
        if (i > 0) {
            want.insert(p + "attn_norm.weight");  // layer 0: Identity, no parameter (HF)
        }
        for (const char* s : {"attn.Wqkv.weight", "attn.Wo.weight", "mlp_norm.weight",
                              "mlp.Wi.weight", "mlp.Wo.weight"}) {
            want.insert(p + s);
        }
    }
    EXPECT_EQ(names, want);
    EXPECT_FALSE(m->layer(0)->has_attn_norm());
    EXPECT_TRUE(m->layer(1)->has_attn_norm());
    EXPECT_EQ(m->named_parameters()["model.layers.0.mlp.Wi.weight"].sizes(),
              torch::IntArrayRef({128, 32}));

    auto linears = m->named_linears();
    ASSERT_EQ(linears.size(), 3u * 4 + 2);
    EXPECT_EQ(linears[0].first, "model.layers.0.attn.Wqkv");
    EXPECT_EQ(linears[7].first, "model.layers.1.mlp.Wo");
    EXPECT_EQ(linears[12].first, "head.dense");
    EXPECT_EQ(linears[13].first, "classifier");
    EXPECT_TRUE(linears[1].second.get() == m->layer(0)->attn->Wo.get());
}

TEST(ModernBert, InitFollowsHfStdRules) {
    ModernBertConfig c = preset("cpu-small");
    ModernBertForSequenceClassification m(c);
    const double std_out = 0.02 / std::sqrt(2.0 * 22);
    auto wo = m->layer(5)->mlp->Wo->weight;
    EXPECT_LE(wo.abs().max().item<double>(), 2.0 * std_out + 1e-7);  // truncated at 2 std
    EXPECT_NEAR(wo.std().item<double>(), std_out * 0.88,
                std_out * 0.1);  // std of N(0,1) cut at ±2 is 0.88
    auto wqkv = m->layer(5)->attn->Wqkv->weight;
    EXPECT_LE(wqkv.abs().max().item<double>(), 0.04 + 1e-7);
    EXPECT_NEAR(wqkv.std().item<double>(), 0.02 * 0.88, 0.002);
    auto cls = m->classifier->weight;
    EXPECT_LE(cls.abs().max().item<double>(), 2.0 / 8.0 + 1e-6);  // hidden 64: std 1/8
    EXPECT_EQ(m->classifier->bias.abs().sum().item<double>(), 0.0);
    EXPECT_EQ(m->layer(3)->mlp_norm->weight.min().item<double>(), 1.0);
}

TEST(ModernBert, RotaryMatchesClosedForm) {
    const int64_t d = 8;
    const double theta = 10000.0;
    auto pos = torch::arange(0, 300, torch::kLong).unsqueeze(0);
    auto cs = rotary_cos_sin(pos, d, theta);
    torch::Tensor cos = cs.first;
    torch::Tensor sin = cs.second;
    ASSERT_EQ(cos.sizes(), torch::IntArrayRef({1, 300, d}));
    for (int64_t p : {0, 1, 7, 128, 299}) {
        for (int64_t i = 0; i < d / 2; ++i) {
            const double angle = static_cast<double>(p) * std::pow(theta, -2.0 * i / d);
            for (int64_t j : {i, i + d / 2}) {  // rotate_half layout repeats the frequencies
                EXPECT_NEAR(cos[0][p][j].item<double>(), std::cos(angle), 2e-4) << p << "," << j;
                EXPECT_NEAR(sin[0][p][j].item<double>(), std::sin(angle), 2e-4) << p << "," << j;
            }
        }
    }
    // Rotating by position p preserves the norm and makes q·k depend only on the offset.
    torch::manual_seed(1);
    auto q = torch::randn({1, 1, 1, d});
    auto k = torch::randn({1, 1, 1, d});
    auto at = [&](const torch::Tensor& x, int64_t p) {
        return apply_rotary(x, cos.narrow(1, p, 1), sin.narrow(1, p, 1));
    };
    EXPECT_NEAR(at(q, 37).norm().item<double>(), q.norm().item<double>(), 1e-5);
    double dot1 = (at(q, 10) * at(k, 3)).sum().item<double>();
    double dot2 = (at(q, 110) * at(k, 103)).sum().item<double>();
    EXPECT_NEAR(dot1, dot2, 1e-4);
}

TEST(ModernBert, SlidingWindowMask) {
    const float lowest = std::numeric_limits<float>::lowest();
    auto ones = torch::ones({1, 300}, torch::kLong);
    auto bias = attention_bias(ones, 128, torch::kFloat);  // [1, 1, 300, 300]
    ASSERT_EQ(bias.sizes(), torch::IntArrayRef({1, 1, 300, 300}));
    EXPECT_EQ(bias[0][0][100][164].item<float>(), 0.0f);  // |i-j| = 64 = 128/2: visible
    EXPECT_EQ(bias[0][0][100][36].item<float>(), 0.0f);
    EXPECT_EQ(bias[0][0][100][165].item<float>(), lowest);  // 65: hidden
    EXPECT_EQ(bias[0][0][100][35].item<float>(), lowest);
    EXPECT_EQ((bias[0][0][150] == 0).sum().item<int64_t>(), 129);

    auto mask = torch::tensor({{1, 1, 1, 1, 1, 1, 0, 0}}, torch::kLong);
    auto small =
        attention_bias(mask, 4, torch::kFloat)[0][0];  // window 4: |i-j| <= 2, and not padding
    for (int64_t i = 0; i < 8; ++i) {
        for (int64_t j = 0; j < 8; ++j) {
            const bool visible = std::abs(i - j) <= 2 && j < 6;
            EXPECT_EQ(small[i][j].item<float>(), visible ? 0.0f : lowest) << i << "," << j;
        }
    }
    auto global = attention_bias(mask, 0, torch::kFloat)[0][0];
    EXPECT_EQ(global[0][5].item<float>(), 0.0f);
    EXPECT_EQ(global[0][6].item<float>(), lowest);

    // Packed form: block-diagonal by sequence, window on positions within a sequence.
    auto seq_ids = torch::tensor({0, 0, 0, 1, 1}, torch::kLong);
    auto positions = torch::tensor({0, 1, 2, 0, 1}, torch::kLong);
    auto packed = packed_attention_bias(seq_ids, positions, 2, torch::kFloat)[0][0];
    EXPECT_EQ(packed[0][1].item<float>(), 0.0f);
    EXPECT_EQ(packed[0][2].item<float>(), lowest);  // |0-2| > 1
    EXPECT_EQ(packed[2][3].item<float>(), lowest);  // other sequence
    EXPECT_EQ(packed[3][4].item<float>(), 0.0f);
}

TEST(ModernBert, LocalLayersUseTheWindowAndGlobalLayersDoNot) {
    // One global layer: the first token's logits change when a far token changes; with only a local
    // layer (window 4) they do not. Layer 1 of a 2-layer model with global every 2 is local.
    ModernBertConfig c = small_config(1, 4);
    c.global_attn_every_n_layers = 1;
    c.classifier_pooling = "cls";
    c.finalize("t");
    torch::manual_seed(3);
    ModernBertForSequenceClassification global_model(c);
    global_model->eval();
    auto ids = torch::randint(5, 500, {1, 12}, torch::kLong);
    auto ids2 = ids.clone();
    ids2[0][10] = 7;
    auto mask = torch::ones_like(ids);
    torch::NoGradGuard ng;
    EXPECT_FALSE(
        torch::allclose(global_model->forward(ids, mask), global_model->forward(ids2, mask)));

    ModernBertConfig lc = small_config(2, 4);
    lc.global_attn_every_n_layers = 2;
    lc.classifier_pooling = "cls";
    lc.finalize("t");
    ModernBertForSequenceClassification local_model(lc);
    local_model->eval();
    EXPECT_TRUE(local_model->layer(0)->is_global);
    EXPECT_FALSE(local_model->layer(1)->is_global);
    prune_layers(local_model, 1, "bottom");  // keep only the local layer
    ASSERT_FALSE(local_model->layer(0)->is_global);
    // cls token (position 0) sees positions 0..2 only: a change at position 10 cannot reach it.
    EXPECT_TRUE(torch::equal(local_model->forward(ids, mask), local_model->forward(ids2, mask)));
    auto ids3 = ids.clone();
    ids3[0][2] = 7;
    EXPECT_FALSE(torch::equal(local_model->forward(ids, mask), local_model->forward(ids3, mask)));
}

TEST(ModernBert, PaddingDoesNotChangeLogits) {
    ModernBertForSequenceClassification m(small_config(3, 4));
    m->eval();
    torch::NoGradGuard ng;
    auto [ids, mask] = batch({6}, 6, 5, 500, 0, 11);
    auto padded_ids = torch::cat({ids, torch::zeros({1, 5}, torch::kLong)}, 1);
    auto padded_mask = torch::cat({mask, torch::zeros({1, 5}, torch::kLong)}, 1);
    auto a = m->forward(ids, mask);
    auto b = m->forward(padded_ids, padded_mask);
    EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << a << b;
}

TEST(ModernBert, SdpaEqualsEager) {
    ModernBertForSequenceClassification m(small_config(3, 4));
    m->eval();
    torch::NoGradGuard ng;
    auto [ids, mask] = batch({9, 4, 12}, 12, 5, 500, 0, 5);
    auto eager = m->forward(ids, mask);
    m->set_attention("sdpa");
    auto sdpa = m->forward(ids, mask);
    EXPECT_TRUE(torch::allclose(eager, sdpa, 1e-5, 1e-6)) << eager << sdpa;
    EXPECT_NE(error_of([&] { m->set_attention("flash"); }).find("model.attention:flash"),
              std::string::npos);
}

TEST(ModernBert, UnpaddedEqualsPadded) {
    for (const std::string pooling : {"mean", "cls"}) {
        ModernBertConfig c = small_config(3, 4);
        c.classifier_pooling = pooling;
        ModernBertForSequenceClassification m(c);
        m->eval();
        torch::NoGradGuard ng;
        auto [ids, mask] = batch({9, 3, 12, 1}, 12, 5, 500, 0, 6);
        auto padded = m->forward(ids, mask);
        m->set_unpad(true);
        auto unpadded = m->forward(ids, mask);
        EXPECT_TRUE(torch::allclose(padded, unpadded, 1e-5, 1e-6)) << pooling << padded << unpadded;
        m->set_attention("sdpa");
        EXPECT_TRUE(torch::allclose(padded, m->forward(ids, mask), 1e-5, 1e-6)) << pooling;
    }
}

TEST(ModernBert, CheckpointedGradientsEqualPlainGradients) {
    for (bool unpad : {false, true}) {
        ModernBertForSequenceClassification m(small_config(3, 4));
        m->set_unpad(unpad);
        auto im = batch({10, 5, 7}, 10, 1, 500, 0, 9);
        torch::Tensor ids = im.first;
        torch::Tensor mask = im.second;
        auto labels = torch::tensor({0, 1, 1}, torch::kLong);
        auto run = [&](bool ckpt) {
            m->zero_grad();
            m->set_grad_checkpointing(ckpt);
            auto loss = torch::cross_entropy_loss(m->forward(ids, mask), labels);
            loss.backward();
            return std::make_pair(loss.item<double>(), grads_of(m));
        };
        auto [loss_plain, plain] = run(false);
        auto [loss_ckpt, ckpt] = run(true);
        EXPECT_EQ(loss_plain, loss_ckpt);
        size_t compared = 0;
        for (auto& [name, g] : plain) {
            ASSERT_TRUE(g.defined()) << name;
            ASSERT_TRUE(ckpt[name].defined()) << name << " got no gradient with checkpointing";
            EXPECT_LE((g - ckpt[name]).abs().max().item<double>(), 1e-6) << name;
            ++compared;
        }
        EXPECT_EQ(compared, m->named_parameters().size());
    }
}

TEST(ModernBert, CheckpointingReplaysDropoutMasks) {
    ModernBertConfig c = small_config(3, 4);
    c.attention_dropout = 0.2;
    c.mlp_dropout = 0.2;
    ModernBertForSequenceClassification m(c);
    m->train();
    auto im = batch({10, 6}, 10, 1, 500, 0, 12);
    torch::Tensor ids = im.first;
    torch::Tensor mask = im.second;
    auto labels = torch::tensor({1, 0}, torch::kLong);
    auto run = [&](bool ckpt) {
        m->zero_grad();
        m->set_grad_checkpointing(ckpt);
        torch::manual_seed(77);
        auto loss = torch::cross_entropy_loss(m->forward(ids, mask), labels);
        loss.backward();
        return std::make_pair(loss.item<double>(), grads_of(m));
    };
    auto [loss_plain, plain] = run(false);
    auto [loss_ckpt, ckpt] = run(true);
    EXPECT_EQ(loss_plain, loss_ckpt);
    for (auto& [name, g] : plain) {
        EXPECT_LE((g - ckpt[name]).abs().max().item<double>(), 1e-6) << name;
    }
    // And dropout is really on: another seed gives another loss.
    m->set_grad_checkpointing(false);
    torch::manual_seed(78);
    EXPECT_NE(torch::cross_entropy_loss(m->forward(ids, mask), labels).item<double>(), loss_plain);
}

TEST(ModernBert, CheckpointingReplaysAutocast) {
    ModernBertForSequenceClassification m(small_config(3, 4));
    auto im = batch({10, 6}, 10, 1, 500, 0, 10);
    torch::Tensor ids = im.first;
    torch::Tensor mask = im.second;
    auto labels = torch::tensor({1, 0}, torch::kLong);
    auto run = [&](bool ckpt) {
        m->zero_grad();
        m->set_grad_checkpointing(ckpt);
        torch::Tensor loss;
        {
            Bf16Autocast ac;
            loss = torch::cross_entropy_loss(m->forward(ids, mask), labels);
            loss.backward();  // inside the autocast scope: the recompute must not reuse no-grad
                              // casts
        }
        return grads_of(m);
    };
    auto plain = run(false);
    auto ckpt = run(true);
    for (auto& [name, g] : plain) {
        ASSERT_TRUE(ckpt[name].defined()) << name;
        EXPECT_LE((g - ckpt[name]).abs().max().item<double>(), 1e-6) << name;
        EXPECT_GT(ckpt[name].abs().sum().item<double>(), 0.0) << name;
    }
}

TEST(ModernBert, PruningKeepsOriginalLayerTypes) {
    ModernBertConfig c = preset("cpu-tiny");
    c.vocab_size = 512;
    c.pad_token_id = 0;
    ModernBertForSequenceClassification top(c);
    prune_layers(top, 4, "top");
    ASSERT_EQ(top->num_layers(), 18);
    EXPECT_EQ(top->config().num_hidden_layers, 18);
    for (int64_t i = 0; i < 18; ++i) {
        EXPECT_EQ(top->layer(i)->original_id, i);
        EXPECT_EQ(top->layer(i)->is_global, i % 3 == 0) << i;
    }
    EXPECT_FALSE(top->layer(0)->has_attn_norm());

    ModernBertForSequenceClassification bottom(c);
    auto kept_wqkv = bottom->layer(4)->attn->Wqkv->weight.clone();
    prune_layers(bottom, 4, "bottom");
    ASSERT_EQ(bottom->num_layers(), 18);
    EXPECT_TRUE(torch::equal(bottom->layer(0)->attn->Wqkv->weight, kept_wqkv));
    for (int64_t i = 0; i < 18; ++i) {
        EXPECT_EQ(bottom->layer(i)->original_id, i + 4);
        EXPECT_EQ(bottom->layer(i)->is_global, (i + 4) % 3 == 0) << i;
        EXPECT_EQ(bottom->config().is_global_layer(i), (i + 4) % 3 == 0) << i;
    }
    EXPECT_TRUE(bottom->layer(0)->has_attn_norm());  // original layer 4 keeps its attn_norm
    auto names = bottom->named_parameters();
    EXPECT_TRUE(names.contains("model.layers.0.attn_norm.weight"));
    EXPECT_FALSE(names.contains("model.layers.18.attn.Wqkv.weight"));
    EXPECT_EQ(bottom->named_linears().size(), 18u * 4 + 2);

    // The saved config tells the truth and a reload computes the same.
    bottom->eval();
    std::string dir = tmp_dir("pruned");
    save_hf(dir, bottom);
    auto j = nlohmann::json::parse(gk::fs::read_file(dir + "/config.json"));
    EXPECT_EQ(j["num_hidden_layers"], 18);
    EXPECT_EQ(j["greenknobs_layer_ids"][0], 4);
    EXPECT_EQ(j["layer_types"][2], "full_attention");  // original 6
    auto back = load_hf_checkpoint(dir);
    back->eval();
    for (int64_t i = 0; i < 18; ++i) {
        EXPECT_EQ(back->layer(i)->is_global, (i + 4) % 3 == 0) << i;
    }
    torch::NoGradGuard ng;
    auto [ids, mask] = batch({20, 9}, 20, 1, 500, 0, 4);
    EXPECT_TRUE(torch::equal(bottom->forward(ids, mask), back->forward(ids, mask)));

    EXPECT_NE(error_of([&] { prune_layers(bottom, 18, "top"); }).find("model.prune_layers:18"),
              std::string::npos);
    EXPECT_NE(error_of([&] { prune_layers(bottom, 1, "middle"); }).find("model.prune_from:middle"),
              std::string::npos);
}

TEST(ModernBert, LoadsTheTinyClassifierCheckpoint) {
    auto m = load_hf_checkpoint(kTiny + "classifier");
    m->eval();
    EXPECT_EQ(m->num_layers(), 1);
    EXPECT_TRUE(m->layer(0)->has_attn_norm()) << "the file's layer-0 attn_norm must be used";
    EXPECT_EQ(m->config().classifier_pooling, "cls");
    SafetensorsFile f = SafetensorsFile::read(kTiny + "classifier/model.safetensors");
    const StTensorInfo* w = f.find("classifier.bias");
    auto file_bias = torch::from_blob(const_cast<char*>(f.data(*w)), {2}, torch::kFloat);
    EXPECT_TRUE(torch::equal(m->classifier->bias, file_bias));

    torch::NoGradGuard ng;
    auto ids = torch::tensor({{2, 17, 45, 99, 3, 0}, {2, 8, 3, 0, 0, 0}}, torch::kLong);
    auto mask = (ids != 0).to(torch::kLong);
    auto logits = m->forward(ids, mask);
    ASSERT_EQ(logits.sizes(), torch::IntArrayRef({2, 2}));
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
    auto again = load_hf_checkpoint(kTiny + "classifier");
    again->eval();
    EXPECT_TRUE(torch::equal(logits, again->forward(ids, mask)));

    // Dropping the layer-0 attn_norm changes the result: it is really used.
    auto& l0 = *m->layer(0);
    torch::NoGradGuard ng2;
    l0.attn_norm->weight.mul_(3.0);
    EXPECT_FALSE(torch::allclose(logits, m->forward(ids, mask)));
}

TEST(ModernBert, BaseCheckpointGetsAFreshHead) {
    auto m = load_hf_checkpoint(kTiny + "base");
    EXPECT_EQ(m->config().num_labels, 2);
    EXPECT_EQ(m->classifier->weight.sizes(), torch::IntArrayRef({2, 32}));
    EXPECT_EQ(m->head->norm->weight.min().item<double>(), 1.0);
    m->eval();
    torch::NoGradGuard ng;
    auto ids = torch::tensor({{2, 17, 45, 3}}, torch::kLong);
    EXPECT_TRUE(torch::isfinite(m->forward(ids, torch::ones_like(ids))).all().item<bool>());
    m->reset_classifier(3);
    EXPECT_EQ(m->forward(ids, torch::ones_like(ids)).size(1), 3);
}

TEST(ModernBert, SaveLoadGivesBitIdenticalLogits) {
    for (const std::string src : {"preset", "tiny"}) {
        ModernBertForSequenceClassification m =
            src == "tiny" ? load_hf_checkpoint(kTiny + "classifier")
                          : ModernBertForSequenceClassification(small_config(3, 4));
        m->eval();
        std::string dir = tmp_dir("save_" + src);
        save_hf(dir, m);
        auto back = load_hf_checkpoint(dir);
        back->eval();
        EXPECT_EQ(to_hf_json(back->config()), to_hf_json(m->config()));
        torch::NoGradGuard ng;
        auto [ids, mask] = batch({7, 3}, 7, 4, 200, 0, 2);
        EXPECT_TRUE(torch::equal(m->forward(ids, mask), back->forward(ids, mask))) << src;
        auto j = nlohmann::json::parse(gk::fs::read_file(dir + "/config.json"));
        EXPECT_EQ(j["architectures"][0], "ModernBertForSequenceClassification");
        SafetensorsFile f = SafetensorsFile::read(dir + "/model.safetensors");
        EXPECT_EQ(f.metadata().at("format"), "pt");
        for (const auto& t : f.tensors()) {
            EXPECT_EQ(t.dtype, StDtype::kF32) << t.name;
        }
    }
}

namespace {
struct FakeAdapter : LinearAdapter {
    torch::Tensor forward(LinearImpl& base, const torch::Tensor& x) override {
        return base.forward_base(x);
    }
    void merge(LinearImpl&) override {}
    std::string kind() const override { return "fake"; }
};
}  // namespace

TEST(ModernBert, SaveRefusesUnmergedAdapters) {
    ModernBertForSequenceClassification m(small_config(1, 4));
    m->layer(0)->attn->Wo->adapter = std::make_shared<FakeAdapter>();
    try {
        save_hf(tmp_dir("adapter"), m);
        FAIL() << "save_hf accepted an unmerged adapter";
    } catch (const gk::CheckError& e) {
        EXPECT_NE(std::string(e.what()).find("model.layers.0.attn.Wo still has a fake adapter"),
                  std::string::npos)
            << e.what();
    }
}

TEST(ModernBert, BrokenCheckpointsAreNamed) {
    std::vector<std::vector<char>> store;
    std::string missing = broken_copy(
        "missing",
        [](auto& v, auto&) {
            v.erase(std::remove_if(v.begin(), v.end(),
                                   [](const StTensorView& t) {
                                       return t.name == "model.layers.0.mlp.Wo.weight";
                                   }),
                    v.end());
        },
        store);
    std::string e = error_of([&] { load_hf_checkpoint(missing); });
    EXPECT_NE(e.find(missing + "/model.safetensors:model.layers.0.mlp.Wo.weight: missing tensor"),
              std::string::npos)
        << e;

    std::string contradicting = broken_copy(
        "contradicting", [](auto&, auto& cfg) { cfg["intermediate_size"] = 48; }, store);
    e = error_of([&] { load_hf_checkpoint(contradicting); });
    EXPECT_NE(e.find("model.safetensors:model.layers.0.mlp.Wi.weight: shape [128,32] but"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("config.json implies [96,32]"), std::string::npos) << e;

    std::string deeper = broken_copy(
        "deeper", [](auto&, auto& cfg) { cfg["num_hidden_layers"] = 2; }, store);
    e = error_of([&] { load_hf_checkpoint(deeper); });
    EXPECT_NE(e.find("model.layers.1.attn_norm.weight: missing tensor"), std::string::npos) << e;

    std::string shallower = broken_copy(
        "shallower",
        [](auto& v, auto& cfg) {
            cfg["hidden_size"] = 32;
            for (auto& t : v) {
                if (t.name == "model.layers.0.attn.Wo.weight") {
                    t.name = "model.layers.3.attn.Wo.weight";
                }
            }
        },
        store);
    e = error_of([&] { load_hf_checkpoint(shallower); });
    EXPECT_NE(e.find("model.layers.3: the file has layer 3"), std::string::npos) << e;

    std::string labels = broken_copy(
        "labels",
        [](auto&, auto& cfg) {
            cfg.erase("id2label");
            cfg["num_labels"] = 5;
        },
        store);
    e = error_of([&] { load_hf_checkpoint(labels); });
    EXPECT_NE(e.find("classifier.weight: has 2 labels"), std::string::npos) << e;

    std::string dtype = broken_copy(
        "dtype",
        [](auto& v, auto&) {
            for (auto& t : v) {
                if (t.name == "model.final_norm.weight") {
                    t.dtype = StDtype::kI32;
                }
            }
        },
        store);
    e = error_of([&] { load_hf_checkpoint(dtype); });
    EXPECT_NE(
        e.find("model.safetensors:model.final_norm.weight: dtype I32 is not a floating-point"),
        std::string::npos)
        << e;

    std::string bias = broken_copy(
        "bias",
        [&](auto& v, auto&) {
            static std::vector<float> zeros(32, 0.0f);
            v.push_back({"model.final_norm.bias", StDtype::kF32, {32}, zeros.data(), 32 * 4});
        },
        store);
    e = error_of([&] { load_hf_checkpoint(bias); });
    EXPECT_NE(e.find("model.final_norm.bias: tensor not used"), std::string::npos) << e;

    std::string truncated = tmp_dir("truncated");
    std::string bytes = gk::fs::read_file(kTiny + "classifier/model.safetensors");
    gk::fs::write_file_atomic(truncated + "/model.safetensors",
                              bytes.substr(0, bytes.size() - 100));
    gk::fs::write_file_atomic(truncated + "/config.json",
                              gk::fs::read_file(kTiny + "classifier/config.json"));
    e = error_of([&] { load_hf_checkpoint(truncated); });
    EXPECT_NE(e.find("end beyond the data section ("), std::string::npos) << e;
}

TEST(ModernBert, CountsParameters) {
    ModernBertForSequenceClassification m(preset("test-tiny"));
    auto c = count_params(*m);
    // embeddings 50368*32 + norm 32; per layer Wqkv 96*32 + Wo 32*32 + Wi 128*32 + Wo 32*64 +
    // norms; final norm; head 32*32 + 32; classifier 2*32 + 2.
    const int64_t layer = 96 * 32 + 32 * 32 + 128 * 32 + 32 * 64 + 32;
    const int64_t want = 50368 * 32 + 32 + 3 * layer + 2 * 32 + 32 + 32 * 32 + 32 + 2 * 32 + 2;
    EXPECT_EQ(c.total, want);
    EXPECT_EQ(c.trainable, want);
    EXPECT_EQ(c.weights_bytes, want * 4);
    m->model->embeddings->tok_embeddings->weight.set_requires_grad(false);
    EXPECT_EQ(count_params(*m).trainable, want - 50368 * 32);
}

TEST(ModernBert, LearnsASeparableToyTask) {
    // label = whether token 7 occurs; tokens otherwise from [10, 60).
    ModernBertConfig c = small_config(3, 8);
    c.vocab_size = 64;
    torch::manual_seed(0);
    ModernBertForSequenceClassification m(c);
    torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(0.01));
    auto make = [](int64_t n, uint64_t seed) {
        torch::manual_seed(seed);
        auto ids = torch::randint(10, 60, {n, 16}, torch::kLong);
        auto labels = torch::randint(0, 2, {n}, torch::kLong);
        auto where = torch::randint(0, 16, {n}, torch::kLong);
        for (int64_t i = 0; i < n; ++i) {
            if (labels[i].item<int64_t>() == 1) {
                ids[i][where[i].item<int64_t>()] = 7;
            }
        }
        return std::make_pair(ids, labels);
    };
    m->train();
    for (int step = 0; step < 300; ++step) {
        auto [ids, labels] = make(32, 100 + step);
        opt.zero_grad();
        auto loss = torch::cross_entropy_loss(m->forward(ids, torch::ones_like(ids)), labels);
        loss.backward();
        opt.step();
    }
    m->eval();
    torch::NoGradGuard ng;
    auto [ids, labels] = make(512, 7);
    auto pred = m->forward(ids, torch::ones_like(ids)).argmax(1);
    double accuracy = (pred == labels).to(torch::kDouble).mean().item<double>();
    EXPECT_GT(accuracy, 0.95);
}

TEST(ModernBert, MatchesTheIndependentPythonReference) {
    // Goldens from tests/model/hf_reference.py (a second implementation of HF's eager forward, in
    // Python): a random 3-layer checkpoint it wrote (global, local, local with window 4, mean
    // pooling, padding) and the bundled tiny classifier (cls pooling, layer-0 attn_norm).
    const std::string fixtures = std::string(GK_SOURCE_DIR) + "/tests/model/fixtures/";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {fixtures + "ref-3layer", fixtures + "ref-3layer/golden.json"},
        {kTiny + "classifier", fixtures + "tiny-classifier-golden.json"}};
    for (const auto& [dir, golden_path] : cases) {
        auto golden = nlohmann::json::parse(gk::fs::read_file(golden_path));
        auto to_tensor = [](const nlohmann::json& rows, torch::ScalarType t) {
            std::vector<torch::Tensor> out;
            for (const auto& r : rows) {
                out.push_back(torch::tensor(r.get<std::vector<double>>(), torch::kDouble).to(t));
            }
            return torch::stack(out);
        };
        auto ids = to_tensor(golden["input_ids"], torch::kLong);
        auto mask = to_tensor(golden["attention_mask"], torch::kLong);
        auto want = to_tensor(golden["logits"], torch::kFloat);
        auto m = load_hf_checkpoint(dir);
        m->eval();
        torch::NoGradGuard ng;
        // Evaluation runs fused_attention unless told not to (sdpa on a padded batch never does).
        for (bool fused : {true, false}) {
            m->set_fused_attention(fused);
            for (const std::string attention : {"eager", "sdpa"}) {
                for (bool unpad : {false, true}) {
                    m->set_attention(attention);
                    m->set_unpad(unpad);
                    auto got = m->forward(ids, mask);
                    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 2e-5))
                        << dir << " " << attention << " unpad=" << unpad << " " << fused << "\n"
                        << got << "\n"
                        << want;
                    const bool fuses = fused && (unpad || attention == "eager");
                    EXPECT_EQ(m->attention_kernel().find("fused-cpu") != std::string::npos, fuses)
                        << m->attention_kernel();
                }
            }
        }
    }
}

// Regression: under bf16 autocast the CPU sdpa kernel added the fp32 mask's lowest into bf16 scores
// (-inf), so a pad query outside every local window of a long, mostly padded batch got a NaN row
// that spread into the loss (the V12 + V7 and V30 variants trained on NaN). sdpa must match eager
// there.
TEST(ModernBert, SdpaUnderBf16AutocastWithLongPaddingIsFiniteAndMatchesEager) {
    torch::manual_seed(3);
    gk::model::ModernBertForSequenceClassification m(gk::model::preset("test-tiny"));
    auto ids = torch::randint(0, 50000, {2, 128}, torch::kLong);
    auto mask = torch::ones({2, 128}, torch::kLong);
    mask[1].slice(0, 10, 128).fill_(0);  // 118 pads: queries far outside the 128-token window
    auto loss_and_grad = [&](const char* attention) {
        m->set_attention(attention);
        m->zero_grad();
        torch::Tensor logits;
        {
            Bf16Autocast bf16;
            logits = m->forward(ids, mask);
        }
        auto loss =
            torch::nn::functional::cross_entropy(logits.to(torch::kFloat), torch::tensor({0, 1}));
        loss.backward();
        return std::make_pair(loss.item<double>(),
                              m->model->embeddings->norm->weight.grad().clone());
    };
    auto eager = loss_and_grad("eager");
    auto sdpa = loss_and_grad("sdpa");
    ASSERT_TRUE(std::isfinite(sdpa.first));
    EXPECT_FALSE(torch::isnan(sdpa.second).any().item<bool>());
    EXPECT_NEAR(sdpa.first, eager.first, 1e-3);
    EXPECT_TRUE(torch::allclose(sdpa.second, eager.second, /*rtol=*/5e-2, /*atol=*/5e-3));
}

TEST(ModernBert, FusedGegluGivesLibTorchsLogitsAndGradientsAndSaysWhichRan) {
    ModernBertConfig c = small_config(3);
    torch::manual_seed(3);
    ModernBertForSequenceClassification m(c);
    m->train();
    torch::Tensor ids = torch::randint(1, 512, {3, 20}, torch::kLong);
    torch::Tensor mask = torch::ones_like(ids);
    mask[1].narrow(0, 12, 8).fill_(0);
    EXPECT_EQ(m->mlp_kernel(), "fused-cpu");  // the default, before any forward
    auto pass = [&](bool fused) {
        m->set_fused_geglu(fused);
        m->zero_grad();
        torch::Tensor logits = m->forward(ids, mask);
        logits.pow(2).sum().backward();
        std::map<std::string, torch::Tensor> grads;
        for (auto& p : m->named_parameters()) {
            grads[p.key()] = p.value().grad().clone();
        }
        return std::make_pair(logits.detach(), grads);
    };
    auto [fused_logits, fused_grads] = pass(true);
    EXPECT_EQ(m->mlp_kernel(), "fused-cpu");
    auto [aten_logits, aten_grads] = pass(false);
    EXPECT_EQ(m->mlp_kernel(), "aten");
    EXPECT_TRUE(torch::allclose(fused_logits, aten_logits, 1e-5, 1e-6));
    for (const auto& [name, g] : aten_grads) {
        EXPECT_TRUE(torch::allclose(fused_grads[name], g, 1e-4, 1e-6)) << name;
    }
    // Under bf16 autocast the kernel runs on the bf16 projections.
    m->set_fused_geglu(true);
    {
        Bf16Autocast autocast;
        torch::NoGradGuard no_grad;
        torch::Tensor bf16_logits = m->forward(ids, mask);
        EXPECT_EQ(m->mlp_kernel(), "fused-cpu");
        EXPECT_TRUE(torch::allclose(bf16_logits.to(torch::kFloat), fused_logits, 5e-2, 5e-2));
    }
}
