// Linear layer used for every projection of the encoder (Wqkv, Wo, Wi, Wo, head.dense, classifier).
// It is ours rather than torch::nn::Linear so knobs can change how a projection computes without
// touching the encoder: LoRA adds a trainable low-rank update, quantization swaps the fp32 base for
// packed int8/NF4 that is dequantized on the fly. Parameter names stay HF's ("weight", "bias").
#pragma once

#include <memory>

#include <torch/torch.h>

namespace gk::model {

class LinearImpl;

// A knob's hook into one Linear. forward() replaces the plain x·Wᵀ+b; merge() folds the adapter
// back into base.weight (at save time) and returns whether the base must now be treated as a plain
// fp32 layer again.
class LinearAdapter {
  public:
    virtual ~LinearAdapter() = default;
    virtual torch::Tensor forward(LinearImpl& base, const torch::Tensor& x) = 0;  // x: [..., in]
    virtual void merge(LinearImpl& base) = 0;
    virtual std::string kind() const = 0;  // "lora", "int8", "nf4", "int8+lora", ...
};

class LinearImpl : public torch::nn::Module {
  public:
    LinearImpl(int64_t in_features, int64_t out_features, bool with_bias);
    torch::Tensor forward(const torch::Tensor& x);  // [..., in] -> [..., out]
    // The plain path (ignores the adapter): x·Wᵀ (+ b).
    torch::Tensor forward_base(const torch::Tensor& x);

    int64_t in_features;
    int64_t out_features;
    torch::Tensor weight;                    // [out, in]
    torch::Tensor bias;                      // [out], undefined when the config says no bias
    std::shared_ptr<LinearAdapter> adapter;  // null = plain layer
};
TORCH_MODULE(Linear);

}  // namespace gk::model
