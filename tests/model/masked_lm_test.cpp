// ModernBertForMaskedLM: goldens from tests/model/hf_reference.py (an independent Python
// implementation of HF's masked-LM forward), HF's checkpoint layout (tied decoder.weight absent),
// save/load round trips, and what each loader does with the other head's checkpoint.
#include "greenknobs/model/masked_lm.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "greenknobs/model/checkpoint_io.h"
#include "greenknobs/model/safetensors.h"
#include "greenknobs/util/fs.h"

#include "../common/errors.h"
#include "../common/temp_dir.h"

using namespace gk::model;
using gk::testing::error_of;

namespace {

const std::string kFixtures = std::string(GK_SOURCE_DIR) + "/tests/model/fixtures/";
const std::string kRefMlm = kFixtures + "ref-mlm";

// A fresh subdirectory of this process's temp dir (removed when the tests end).
std::string tmp_dir(const std::string& name) {
    static const gk::testing::TempDir root("mlm_test");
    std::string d = root / name;
    std::filesystem::remove_all(d);
    gk::fs::make_dirs(d);
    return d;
}

torch::Tensor to_tensor(const nlohmann::json& rows, torch::ScalarType t) {
    std::vector<torch::Tensor> out;
    for (const auto& r : rows) {
        out.push_back(torch::tensor(r.get<std::vector<double>>(), torch::kDouble).to(t));
    }
    return torch::stack(out);
}

// Copies a checkpoint directory's files, rewriting its tensors through `edit`.
void rewrite_checkpoint(const std::string& from, const std::string& to,
                        const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
    auto f = SafetensorsFile::read(from + "/model.safetensors");
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& t : f.tensors()) {
        tensors[t.name] = tensor_from(f, t);
    }
    edit(tensors);
    std::vector<StTensorView> views;
    for (auto& [name, t] : tensors) {
        t = t.contiguous();
        StTensorView v;
        v.name = name;
        v.dtype = StDtype::kF32;
        v.shape.assign(t.sizes().begin(), t.sizes().end());
        v.data = t.data_ptr();
        v.nbytes = static_cast<size_t>(t.numel()) * sizeof(float);
        views.push_back(v);
    }
    gk::fs::make_dirs(to);
    write_safetensors(to + "/model.safetensors", views, {{"format", "pt"}});
    gk::fs::write_file_atomic(to + "/config.json", gk::fs::read_file(from + "/config.json"));
}

}  // namespace

TEST(MaskedLm, MatchesIndependentReferenceTopKAndLogits) {
    auto golden = nlohmann::json::parse(gk::fs::read_file(kRefMlm + "/golden.json"));
    auto m = load_hf_masked_lm(kRefMlm);
    m->eval();
    auto ids = to_tensor(golden["input_ids"], torch::kLong);
    auto mask = to_tensor(golden["attention_mask"], torch::kLong);
    torch::NoGradGuard no_grad;
    auto logits = m->forward(ids, mask);  // [B, S, V]
    ASSERT_EQ(logits.size(2), 64);
    const int64_t mask_id = golden["mask_id"].get<int64_t>();
    const int64_t k = golden["top_k"].get<int64_t>();
    int64_t checked = 0;
    for (int64_t b = 0; b < ids.size(0); ++b) {
        const auto& masks = golden["outputs"][b]["masks"];
        size_t e = 0;
        for (int64_t p = 0; p < ids.size(1); ++p) {
            if (ids[b][p].item<int64_t>() != mask_id || mask[b][p].item<int64_t>() == 0) {
                continue;
            }
            ASSERT_LT(e, masks.size());
            const auto& want = masks[e++];
            EXPECT_EQ(want["position"].get<int64_t>(), p);
            auto all =
                torch::tensor(want["all_logits"].get<std::vector<double>>()).to(torch::kFloat);
            EXPECT_LT((logits[b][p] - all).abs().max().item<float>(), 1e-4);
            auto top = logits[b][p].topk(k);
            EXPECT_EQ(std::get<1>(top).to(torch::kLong).contiguous().data_ptr<int64_t>()[0],
                      want["ids"][0].get<int64_t>());
            for (int64_t i = 0; i < k; ++i) {
                EXPECT_EQ(std::get<1>(top)[i].item<int64_t>(), want["ids"][i].get<int64_t>());
                EXPECT_NEAR(std::get<0>(top)[i].item<float>(), want["logits"][i].get<double>(),
                            1e-4);
            }
            ++checked;
        }
        EXPECT_EQ(e, masks.size());
    }
    EXPECT_EQ(checked, 4);
}

TEST(MaskedLm, ForwardAtEqualsDenseForwardAtSelectedPositions) {
    auto m = load_hf_masked_lm(kRefMlm);
    m->eval();
    torch::manual_seed(3);
    auto ids = torch::randint(1, 64, {3, 10}, torch::kLong);
    auto mask = torch::ones_like(ids);
    mask[2].narrow(0, 6, 4).zero_();
    auto select = torch::rand({3, 10}) < 0.4;
    select = select.logical_and(mask.eq(1));
    torch::NoGradGuard no_grad;
    auto dense = m->forward(ids, mask);
    auto sparse = m->forward_at(ids, mask, select);
    auto want =
        dense.reshape({30, -1}).index_select(0, torch::nonzero(select.reshape({-1})).reshape({-1}));
    ASSERT_EQ(sparse.sizes(), want.sizes());
    EXPECT_LT((sparse - want).abs().max().item<float>(), 1e-5);
}

TEST(MaskedLm, DecoderIsTiedToTheEmbeddingsAndTrainsThem) {
    ModernBertConfig c = preset("test-tiny");
    c.vocab_size = 128;
    c.pad_token_id = 0;
    c.cls_token_id = c.bos_token_id = 1;
    c.sep_token_id = c.eos_token_id = 2;
    ModernBertForMaskedLM m(c);
    // No parameter of its own for the decoder weight: HF's tie.
    for (const auto& p : m->named_parameters()) {
        EXPECT_NE(p.key(), "decoder.weight");
    }
    EXPECT_TRUE(m->named_parameters().contains("decoder.bias"));
    EXPECT_FALSE(m->named_parameters().contains("classifier.weight"));
    auto ids = torch::randint(0, 128, {2, 8}, torch::kLong);
    auto select = torch::zeros({2, 8}, torch::kBool);
    select[0][3] = true;
    auto logits = m->forward_at(ids, torch::ones_like(ids), select);
    torch::nn::functional::cross_entropy(logits, torch::tensor({5}, torch::kLong)).backward();
    // The target id's embedding row gets gradient only through the decoder (it is not an input).
    auto grad = m->model->embeddings->tok_embeddings->weight.grad();
    ASSERT_TRUE(grad.defined());
    bool input_has_5 = (ids == 5).any().item<bool>();
    if (!input_has_5) {
        EXPECT_GT(grad[5].abs().sum().item<float>(), 0.0f);
    }
}

TEST(MaskedLm, SavesAsHfDoesAndLoadsBackBitIdentical) {
    auto m = load_hf_masked_lm(kRefMlm);
    const std::string dir = tmp_dir("roundtrip");
    save_hf_masked_lm(dir, m);
    auto f = SafetensorsFile::read(dir + "/model.safetensors");
    EXPECT_EQ(f.find("decoder.weight"), nullptr);  // tied: left out, as save_pretrained does
    EXPECT_NE(f.find("decoder.bias"), nullptr);
    EXPECT_NE(f.find("model.embeddings.tok_embeddings.weight"), nullptr);
    EXPECT_NE(f.find("head.dense.weight"), nullptr);
    EXPECT_EQ(f.find("classifier.weight"), nullptr);
    auto cfg = nlohmann::json::parse(gk::fs::read_file(dir + "/config.json"));
    EXPECT_EQ(cfg["architectures"], nlohmann::json::array({"ModernBertForMaskedLM"}));
    EXPECT_EQ(cfg["model_type"], "modernbert");
    EXPECT_EQ(cfg["tie_word_embeddings"], true);
    EXPECT_EQ(cfg["decoder_bias"], true);
    EXPECT_EQ(checkpoint_architecture(dir), "ModernBertForMaskedLM");

    auto back = load_hf_masked_lm(dir);
    m->eval();
    back->eval();
    auto ids = torch::randint(1, 64, {2, 9}, torch::kLong);
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(m->forward(ids, torch::ones_like(ids)),
                             back->forward(ids, torch::ones_like(ids))));
}

TEST(MaskedLm, ClassifierLoaderTakesEncoderAndHeadAndDropsTheDecoder) {
    auto lm = load_hf_masked_lm(kRefMlm);
    auto cls = load_hf_checkpoint(kRefMlm);
    EXPECT_EQ(cls->config().architecture(), "ModernBertForSequenceClassification");
    auto lm_params = lm->named_parameters();
    for (const auto& p : cls->named_parameters()) {
        if (p.key().rfind("model.", 0) == 0 || p.key().rfind("head.", 0) == 0) {
            ASSERT_TRUE(lm_params.contains(p.key())) << p.key();
            EXPECT_TRUE(torch::equal(p.value(), lm_params[p.key()])) << p.key();
        }
    }
    // HF's ModernBertForSequenceClassification and ModernBertForMaskedLM share the name `head`, so
    // from_pretrained loads the masked-LM head into the classifier; only the classifier is new.
    EXPECT_TRUE(torch::equal(cls->head->dense->weight, lm->head->dense->weight));
    EXPECT_TRUE(torch::equal(cls->head->norm->weight, lm->head->norm->weight));
    EXPECT_EQ(cls->classifier->weight.size(0), 2);
}

TEST(MaskedLm, RefusesClassifierCheckpointsAndUntiedDecoders) {
    const std::string cls_dir = kFixtures + "ref-3layer";
    EXPECT_NE(error_of([&] { load_hf_masked_lm(cls_dir); }).find("architectures"),
              std::string::npos);

    // A stored copy of the tied weight is fine; a different one is not.
    const std::string same = tmp_dir("tied-copy");
    rewrite_checkpoint(kRefMlm, same, [](auto& t) {
        t["decoder.weight"] = t["model.embeddings.tok_embeddings.weight"].clone();
    });
    EXPECT_NO_THROW(load_hf_masked_lm(same));
    const std::string untied = tmp_dir("untied");
    rewrite_checkpoint(kRefMlm, untied, [](auto& t) {
        t["decoder.weight"] = t["model.embeddings.tok_embeddings.weight"] + 1.0;
    });
    EXPECT_NE(error_of([&] { load_hf_masked_lm(untied); }).find("decoder.weight"),
              std::string::npos);
    const std::string missing = tmp_dir("missing-bias");
    rewrite_checkpoint(kRefMlm, missing, [](auto& t) { t.erase("decoder.bias"); });
    EXPECT_NE(error_of([&] { load_hf_masked_lm(missing); }).find("decoder.bias"),
              std::string::npos);
    const std::string extra = tmp_dir("extra");
    rewrite_checkpoint(kRefMlm, extra, [](auto& t) {
        t["classifier.weight"] = torch::zeros({2, 16});
    });
    EXPECT_NE(error_of([&] { load_hf_masked_lm(extra); }).find("classifier.weight"),
              std::string::npos);
}
