// Shared plumbing of the adapter knobs (LoRA, quantization, the packed engine): the base class
// every adapter of ours derives from, and a walk over a model's Linear projections by their HF
// names.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "greenknobs/model/linear.h"

namespace gk::adapters {

// Every adapter we install can say which dense fp32 weight it computes with, so the inference
// engine can pre-pack it (bf16, int8) and merge() can fold it back. Adapters stack: `inner` is what
// this adapter sits on (e.g. LoRA on top of an NF4 base), null when it sits on the plain fp32
// base.weight.
class Adapter : public model::LinearAdapter {
  public:
    // W_eff with no autograd history: what forward() computes as x·W_effᵀ (+ b) in eval mode.
    virtual torch::Tensor effective_weight(model::LinearImpl& base) = 0;  // [out, in] fp32
    // The base path this adapter sits on: inner's forward, or the plain x·Wᵀ + b.
    static torch::Tensor base_forward(const std::shared_ptr<model::LinearAdapter>& inner,
                                      model::LinearImpl& base, const torch::Tensor& x);
    // inner's effective weight, or base.weight detached.
    static torch::Tensor base_weight(const std::shared_ptr<model::LinearAdapter>& inner,
                                     model::LinearImpl& base);
};

// Every gk::model::Linear under `root`, with its dotted HF name ("model.layers.3.attn.Wqkv",
// "classifier"), in registration order.
std::vector<std::pair<std::string, std::shared_ptr<model::LinearImpl>>> named_linears(
    torch::nn::Module& root);

// True when `name` is `target` or ends with "." + target ("model.layers.0.mlp.Wo" matches
// "mlp.Wo").
bool name_matches(const std::string& name, const std::string& target);

// The classification head PEFT keeps trainable for SEQ_CLS ("modules_to_save"): head.* and
// classifier.*.
bool is_head_param(const std::string& param_name);

struct ParamCounts {
    int64_t total = 0;      // logical parameters (a quantized weight counts its out×in elements)
    int64_t trainable = 0;  // requires_grad
    int64_t trainable_bytes = 0;
};
ParamCounts count_params(torch::nn::Module& root);

// Folds every adapter (LoRA, quantization) into plain fp32 weights and removes it: the model is a
// plain HF ModernBERT again, ready to save. Returns how many Linears were merged.
int merge_adapters(torch::nn::Module& root);

}  // namespace gk::adapters
