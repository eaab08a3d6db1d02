// A ModernBERT-shaped toy for the adapter tests: the same HF module names
// (model.layers.N.attn.Wqkv, attn.Wo, mlp.Wi, mlp.Wo, head.dense, head.norm, classifier), masked
// softmax attention with a head reshape, GeGLU MLP, masked mean pooling. Small enough that every
// test runs in milliseconds.
#pragma once

#include <cmath>

#include <torch/torch.h>

#include "greenknobs/model/linear.h"

namespace gk::adapters::testing {

constexpr int64_t kVocab = 64;
constexpr int64_t kHidden = 32;
constexpr int64_t kHeads = 2;
constexpr int64_t kInter = 48;

struct TinyAttnImpl : torch::nn::Module {
    TinyAttnImpl() {
        Wqkv = register_module("Wqkv", model::Linear(kHidden, 3 * kHidden, false));
        Wo = register_module("Wo", model::Linear(kHidden, kHidden, false));
    }
    torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& mask_add) {
        const int64_t b = h.size(0), s = h.size(1), hd = kHidden / kHeads;
        auto qkv =
            Wqkv(h).view({b, s, 3, kHeads, hd}).permute({2, 0, 3, 1, 4});  // [3, B, H, S, hd]
        auto scores = torch::matmul(qkv[0], qkv[1].transpose(-1, -2)) / std::sqrt(double(hd));
        auto att = torch::softmax(scores + mask_add, -1);  // [B, H, S, S]
        auto ctx = torch::matmul(att, qkv[2]).transpose(1, 2).reshape({b, s, kHidden});
        return Wo(ctx);
    }
    model::Linear Wqkv = nullptr, Wo = nullptr;
};
TORCH_MODULE(TinyAttn);

struct TinyMlpImpl : torch::nn::Module {
    TinyMlpImpl() {
        Wi = register_module("Wi", model::Linear(kHidden, 2 * kInter, false));
        Wo = register_module("Wo", model::Linear(kInter, kHidden, false));
    }
    torch::Tensor forward(const torch::Tensor& h) {
        auto ag = Wi(h).chunk(2, -1);
        return Wo(torch::gelu(ag[0]) * ag[1]);
    }
    model::Linear Wi = nullptr, Wo = nullptr;
};
TORCH_MODULE(TinyMlp);

struct TinyLayerImpl : torch::nn::Module {
    TinyLayerImpl() {
        attn = register_module("attn", TinyAttn());
        mlp = register_module("mlp", TinyMlp());
        attn_norm = register_module("attn_norm",
                                    torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})));
        mlp_norm = register_module("mlp_norm",
                                   torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})));
    }
    torch::Tensor forward(torch::Tensor h, const torch::Tensor& mask_add) {
        h = h + attn->forward(attn_norm(h.to(torch::kFloat)), mask_add);
        return h + mlp->forward(mlp_norm(h.to(torch::kFloat)));
    }
    TinyAttn attn = nullptr;
    TinyMlp mlp = nullptr;
    torch::nn::LayerNorm attn_norm = nullptr, mlp_norm = nullptr;
};
TORCH_MODULE(TinyLayer);

struct TinyEncoderImpl : torch::nn::Module {
    explicit TinyEncoderImpl(int n_layers) {
        tok_embeddings = register_module("tok_embeddings", torch::nn::Embedding(kVocab, kHidden));
        layers = register_module("layers", torch::nn::ModuleList());
        for (int i = 0; i < n_layers; ++i) {
            layers->push_back(TinyLayer());
        }
        final_norm = register_module("final_norm",
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})));
    }
    torch::nn::Embedding tok_embeddings = nullptr;
    torch::nn::ModuleList layers = nullptr;
    torch::nn::LayerNorm final_norm = nullptr;
};
TORCH_MODULE(TinyEncoder);

struct TinyHeadImpl : torch::nn::Module {
    TinyHeadImpl() {
        dense = register_module("dense", model::Linear(kHidden, kHidden, false));
        norm =
            register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kHidden})));
    }
    model::Linear dense = nullptr;
    torch::nn::LayerNorm norm = nullptr;
};
TORCH_MODULE(TinyHead);

struct TinyModelImpl : torch::nn::Module {
    explicit TinyModelImpl(int n_layers = 2) {
        model = register_module("model", TinyEncoder(n_layers));
        head = register_module("head", TinyHead());
        classifier = register_module("classifier", gk::model::Linear(kHidden, 2, true));
        // Larger init than HF's 0.02 so the logits differ visibly between inputs.
        torch::NoGradGuard g;
        for (auto& p : parameters()) {
            if (p.dim() == 2) {
                p.normal_(0, 0.2);
            }
        }
    }
    // input_ids, attention_mask: [B, S] int64 -> logits [B, 2]
    torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
        auto h = model->tok_embeddings(input_ids);                       // [B, S, D]
        auto maskf = attention_mask.to(h.scalar_type());                 // [B, S]
        auto mask_add = ((1 - maskf) * -1e9).unsqueeze(1).unsqueeze(1);  // [B, 1, 1, S]
        for (const auto& layer : *model->layers) {
            h = layer->as<TinyLayerImpl>()->forward(h, mask_add);
        }
        h = model->final_norm(
            h.to(torch::kFloat));  // 1.13 CPU autocast: layer_norm wants fp32 input
        auto pooled = (h * maskf.unsqueeze(-1)).sum(1) / maskf.sum(1, true).clamp_min(1);  // [B, D]
        auto z = head->norm(torch::gelu(head->dense(pooled)).to(torch::kFloat));
        return classifier(z).to(torch::kFloat);  // [B, 2]
    }
    TinyEncoder model = nullptr;
    TinyHead head = nullptr;
    gk::model::Linear classifier = nullptr;
};
TORCH_MODULE(TinyModel);

// A random batch: ids [B, S] in [1, vocab), mask with a random length per row (>= 1), pad id 0.
inline std::pair<torch::Tensor, torch::Tensor> random_batch(int64_t b, int64_t s, uint64_t seed) {
    torch::manual_seed(seed);
    auto ids = torch::randint(1, kVocab, {b, s}, torch::kLong);
    auto lens = torch::randint(1, s + 1, {b}, torch::kLong);
    auto mask = (torch::arange(s).unsqueeze(0) < lens.unsqueeze(1)).to(torch::kLong);
    ids = ids * mask;
    return {ids, mask};
}

}  // namespace gk::adapters::testing
