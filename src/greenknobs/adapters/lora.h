// V2 LoRA: a trainable low-rank update on ModernBERT's real projections (Wqkv, attention Wo, Wi,
// MLP Wo by default), y = base(x) + (alpha/r)·B·A·dropout(x), with the base frozen and the
// classification head trained in full (PEFT's SEQ_CLS modules_to_save). merge_lora folds B·A into
// the weights so the saved model is a plain HF ModernBERT.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "greenknobs/adapters/adapter.h"
#include "greenknobs/config/run_config.h"
#include "greenknobs/model/modernbert.h"

namespace gk::adapters {

// One LoRA factor as a child module of the Linear with a single parameter "weight", so the
// parameters are named like PEFT's: `model.layers.3.attn.Wqkv.lora_A.weight` [r, in] and
// `...lora_B.weight` [out, r].
class LoraFactorImpl : public torch::nn::Module {
  public:
    explicit LoraFactorImpl(torch::Tensor w) {
        weight = register_parameter("weight", std::move(w));
    }
    torch::Tensor weight;
};
TORCH_MODULE(LoraFactor);

class LoraAdapter : public Adapter {
  public:
    // Registers lora_A (kaiming-uniform, a = √5, as PEFT) and lora_B (zeros) on `base` and freezes
    // the base weight and bias. `inner` is the adapter already on `base` (a quantized base), or
    // null.
    LoraAdapter(model::LinearImpl& base, int r, double alpha, double dropout,
                std::shared_ptr<model::LinearAdapter> inner);
    torch::Tensor forward(model::LinearImpl& base, const torch::Tensor& x) override;
    // W <- dequant-or-W + (alpha/r)·B·A; removes lora_A/lora_B (and the quantized store) from
    // `base`.
    void merge(model::LinearImpl& base) override;
    std::string kind() const override;
    torch::Tensor effective_weight(model::LinearImpl& base) override;

    const torch::Tensor& lora_A() const { return a_->weight; }  // [r, in]
    const torch::Tensor& lora_B() const { return b_->weight; }  // [out, r]
    double scaling() const { return scaling_; }

  private:
    LoraFactor a_ = nullptr;
    LoraFactor b_ = nullptr;
    double scaling_;
    double dropout_;
    std::shared_ptr<model::LinearAdapter> inner_;
};

struct LoraReport {
    int64_t total_params = 0;      // logical, incl. adapters (a quantized weight counts out×in)
    int64_t trainable_params = 0;  // adapters + head + classifier
    int64_t adapter_params = 0;    // lora_A + lora_B
    std::map<std::string, int> adapters_per_target;  // "attn.Wqkv" -> 22
    std::vector<std::string> trainable_modules;      // the non-adapter parameters left trainable
};

// Installs an adapter on every Linear whose name ends with one of cfg.targets, freezes every base
// parameter except head.* and classifier.*, and reports the counts. A target that matches no
// Linear, or an empty target list, throws InputError naming the key (the paper's V2 silently
// matched only head.dense). Composes with quantize_model (call that first). cfg.enabled is not
// consulted: the caller decides.
LoraReport apply_lora(torch::nn::Module& model, const config::LoraConfig& cfg);

// Folds every adapter into the fp32 weights and removes it (see merge_adapters). After a quantized
// base, the merged weight is dequant(W) + (alpha/r)·B·A in fp32: the saved model holds the
// dequantized values.
int merge_lora(torch::nn::Module& model);

struct MergedSave {
    int merged_linears = 0;  // projections written with their adapter folded in
    int64_t trainable_params =
        0;  // the merged model's trainable parameters (what merge_lora leaves trainable)
};
// Writes dir/model.safetensors and dir/config.json exactly as merge_lora + model::save_hf would,
// without changing `m`: each adapted projection's weight is its effective fp32 weight (LoRA folded
// in, a quantized base dequantized) and the adapter tensors are left out. The model keeps its
// adapters for evaluate.
MergedSave save_hf_merged(const std::string& dir, model::ModernBertForSequenceClassification& m);

}  // namespace gk::adapters
