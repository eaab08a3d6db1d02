// The adapters on the real ModernBERT (test-tiny preset): LoRA hits Wqkv/Wo/Wi/Wo in every layer,
// the paper's BERT target names are rejected, merged checkpoints reload as plain HF models with the
// same logits, QLoRA trains only adapters + head, and the engine and the compiled model give the
// model's logits.
#include "greenknobs/model/modernbert.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <gtest/gtest.h>

#include "greenknobs/adapters/compile.h"
#include "greenknobs/adapters/engine.h"
#include "greenknobs/adapters/lora.h"
#include "greenknobs/adapters/quant.h"
#include "greenknobs/util/error.h"

namespace gk::adapters {
namespace {

using model::ModernBertForSequenceClassification;

ModernBertForSequenceClassification tiny(uint64_t seed) {
    torch::manual_seed(seed);
    return ModernBertForSequenceClassification(model::preset("test-tiny"));
}

// ids [B, S] from ModernBERT's vocabulary (below the special ids), right-padded with its pad id.
std::pair<torch::Tensor, torch::Tensor> batch(int64_t b, int64_t s, uint64_t seed) {
    torch::manual_seed(seed);
    auto ids = torch::randint(5, 50000, {b, s}, torch::kLong);
    auto lens = torch::randint(2, s + 1, {b}, torch::kLong);
    lens[0] = s;  // one full row
    auto mask = (torch::arange(s).unsqueeze(0) < lens.unsqueeze(1)).to(torch::kLong);
    ids = torch::where(mask.to(torch::kBool), ids, torch::full_like(ids, 50283));
    return {ids, mask};
}

torch::Tensor eval_logits(ModernBertForSequenceClassification& m, const torch::Tensor& ids,
                          const torch::Tensor& mask) {
    torch::NoGradGuard g;
    const bool was = m->is_training();
    m->eval();
    auto out = m->forward(ids, mask);
    m->train(was);
    return out;
}

void randomize_lora_b(torch::nn::Module& m) {
    torch::NoGradGuard g;
    for (auto& p : m.named_parameters()) {
        if (p.key().find("lora_B") != std::string::npos) {
            p.value().normal_(0, 0.05);
        }
    }
}

TEST(AdaptersOnModernBert, LoraTargetsEveryLayersProjections) {
    auto m = tiny(1);
    const auto layers = m->num_layers();
    auto rep = apply_lora(*m, config::LoraConfig{});
    for (const auto& t : {"attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo"}) {
        EXPECT_EQ(rep.adapters_per_target.at(t), layers) << t;
    }
    for (const auto& [name, lin] : m->named_linears()) {
        const bool encoder = name.rfind("model.layers.", 0) == 0;
        EXPECT_EQ(lin->adapter != nullptr, encoder) << name;
    }
    EXPECT_FALSE(m->model->embeddings->tok_embeddings->weight.requires_grad());
    EXPECT_TRUE(m->classifier->weight.requires_grad());
    EXPECT_TRUE(m->head->dense->weight.requires_grad());
    EXPECT_EQ(rep.total_params, model::count_params(*m).total);
}

TEST(AdaptersOnModernBert, ThePapersBertTargetNamesAreRejected) {
    auto m = tiny(2);
    config::LoraConfig c;
    c.targets = {"query", "key", "value", "dense", "dense_h_to_4h", "dense_4h_to_h"};
    EXPECT_THROW(apply_lora(*m, c), InputError);
    for (const auto& p : m->parameters()) {
        EXPECT_TRUE(p.requires_grad());  // nothing was half-applied
    }
}

TEST(AdaptersOnModernBert, MergedCheckpointReloadsAsPlainModelWithSameLogits) {
    auto m = tiny(3);
    apply_lora(*m, config::LoraConfig{});
    randomize_lora_b(*m);
    auto [ids, mask] = batch(3, 20, 4);
    auto unmerged = eval_logits(m, ids, mask);
    EXPECT_EQ(merge_lora(*m), 4 * m->num_layers());
    auto merged = eval_logits(m, ids, mask);
    EXPECT_TRUE(torch::allclose(unmerged, merged, 1e-4, 1e-5)) << (unmerged - merged).abs().max();
    const std::string dir = std::string(GK_BINARY_DIR) + "/adapters_test_merged";
    std::filesystem::remove_all(dir);
    model::save_hf(dir, m);
    auto reloaded = model::load_hf_checkpoint(dir);
    for (const auto& p : reloaded->named_parameters()) {
        EXPECT_EQ(p.key().find("lora"), std::string::npos) << p.key();
    }
    EXPECT_TRUE(torch::allclose(eval_logits(reloaded, ids, mask), merged, 1e-5, 1e-6));
    std::filesystem::remove_all(dir);
}

TEST(AdaptersOnModernBert, QLoraNf4TrainsOnlyAdaptersAndHead) {
    auto m = tiny(5);
    config::QuantizationConfig qc;
    qc.bits = 4;
    auto qrep = quantize_model(*m, qc, /*double_quant=*/true);
    EXPECT_EQ(qrep.layers, 4 * m->num_layers());
    EXPECT_GT(qrep.weight_bytes_before, 6 * qrep.weight_bytes_after);
    apply_lora(*m, config::LoraConfig{});
    randomize_lora_b(*m);
    auto [ids, mask] = batch(2, 12, 6);
    m->train();
    auto logits = m->forward(ids, mask);
    torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1}, torch::kLong)).backward();
    int with_grad = 0;
    for (const auto& p : m->named_parameters()) {
        const bool should = p.key().find(".lora_") != std::string::npos || is_head_param(p.key());
        EXPECT_EQ(p.value().grad().defined(), should) << p.key();
        with_grad += p.value().grad().defined();
    }
    EXPECT_GT(with_grad, 8 * m->num_layers());
    auto before = eval_logits(m, ids, mask);
    merge_lora(*m);
    EXPECT_TRUE(torch::allclose(eval_logits(m, ids, mask), before, 1e-4, 1e-5));
}

TEST(AdaptersOnModernBert, EngineAndCompiledModelGiveTheModelsLogits) {
    auto m = tiny(7);
    apply_lora(*m, config::LoraConfig{});
    randomize_lora_b(*m);
    auto [ids, mask] = batch(4, 40, 8);
    auto ref = eval_logits(m, ids, mask);
    std::vector<std::vector<int32_t>> seqs;
    for (int64_t i = 0; i < ids.size(0); ++i) {
        std::vector<int32_t> s;
        for (int64_t j = 0; j < ids.size(1) && mask[i][j].item<int64_t>() == 1; ++j) {
            s.push_back(static_cast<int32_t>(ids[i][j].item<int64_t>()));
        }
        seqs.push_back(s);
    }
    EngineOptions o;
    o.batch_size = 3;
    o.pad_id = m->config().pad_token_id;
    for (bool compile : {false, true}) {
        o.compile = compile;
        InferenceEngine eng(classifier_of(m.ptr()), o);
        auto res = eng.run(seqs);
        for (size_t i = 0; i < seqs.size(); ++i) {
            EXPECT_NEAR(res.logits[i][0], ref[i][0].item<float>(), 1e-4)
                << i << " compile=" << compile;
            EXPECT_NEAR(res.logits[i][1], ref[i][1].item<float>(), 1e-4)
                << i << " compile=" << compile;
        }
    }
    CompiledModel cm(classifier_of(m.ptr()));
    EXPECT_TRUE(torch::allclose(cm.forward(ids, mask), ref, 1e-4, 1e-5));
}

// V24/V30 combine LoRA with gradient checkpointing: the recomputed layers must see the adapters
// (and the quantized base), giving the same adapter gradients as the plain path.
TEST(AdaptersOnModernBert, QLoraGradientsSurviveGradientCheckpointing) {
    std::vector<torch::Tensor> grads[2];
    for (int ckpt = 0; ckpt < 2; ++ckpt) {
        auto m = tiny(11);
        config::QuantizationConfig qc;
        qc.bits = 4;
        quantize_model(*m, qc);
        config::LoraConfig lc;
        lc.dropout = 0;
        apply_lora(*m, lc);
        randomize_lora_b(*m);
        m->set_grad_checkpointing(ckpt == 1);
        m->train();
        auto [ids, mask] = batch(2, 16, 12);
        torch::nn::functional::cross_entropy(m->forward(ids, mask),
                                             torch::tensor({1, 0}, torch::kLong))
            .backward();
        for (const auto& p : m->named_parameters()) {
            if (p.key().find(".lora_") != std::string::npos) {
                ASSERT_TRUE(p.value().grad().defined()) << p.key() << " ckpt=" << ckpt;
                grads[ckpt].push_back(p.value().grad().clone());
            }
        }
    }
    ASSERT_EQ(grads[0].size(), grads[1].size());
    for (size_t i = 0; i < grads[0].size(); ++i) {
        EXPECT_TRUE(torch::allclose(grads[0][i], grads[1][i], 1e-5, 1e-7)) << i;
    }
}

// The save stage's merged checkpoint, written without touching the model: byte-identical to merge +
// save_hf, and the model keeps computing through its NF4 base and adapters (what evaluate then
// runs).
TEST(AdaptersOnModernBert, SaveMergedWritesWhatMergeWouldAndLeavesTheModelAsTrained) {
    auto m = tiny(11);
    config::QuantizationConfig qc;
    qc.bits = 4;
    quantize_model(*m, qc);
    apply_lora(*m, config::LoraConfig{});
    randomize_lora_b(*m);
    auto [ids, mask] = batch(2, 12, 12);
    auto before = eval_logits(m, ids, mask);
    const std::string a = std::string(GK_BINARY_DIR) + "/adapters_test_save_merged_a";
    const std::string b = std::string(GK_BINARY_DIR) + "/adapters_test_save_merged_b";
    std::filesystem::remove_all(a);
    std::filesystem::remove_all(b);
    MergedSave r = save_hf_merged(a, m);
    EXPECT_EQ(r.merged_linears, 4 * m->num_layers());
    // Still as trained: every projection on its NF4 base with LoRA, same logits.
    EXPECT_EQ(linear_kinds(*m),
              (std::map<std::string, int>{{"nf4+lora", 4 * static_cast<int>(m->num_layers())},
                                          {"dense", 2}}));
    EXPECT_TRUE(torch::equal(eval_logits(m, ids, mask), before));
    merge_lora(*m);
    EXPECT_EQ(r.trainable_params,
              adapters::count_params(*m).trainable);  // what the old in-place merge left trainable
    model::save_hf(b, m);
    for (const char* f : {"model.safetensors", "config.json"}) {
        std::ifstream fa(a + "/" + f, std::ios::binary), fb(b + "/" + f, std::ios::binary);
        std::string sa((std::istreambuf_iterator<char>(fa)), {}),
            sb((std::istreambuf_iterator<char>(fb)), {});
        EXPECT_FALSE(sa.empty()) << f;
        EXPECT_EQ(sa, sb) << f;
    }
    std::filesystem::remove_all(a);
    std::filesystem::remove_all(b);
}

TEST(AdaptersOnModernBert, CompileRefusesUnpadding) {
    auto m = tiny(9);
    m->set_unpad(true);
    EXPECT_THROW(CompiledModel(classifier_of(m.ptr())), InputError);
}

}  // namespace
}  // namespace gk::adapters
