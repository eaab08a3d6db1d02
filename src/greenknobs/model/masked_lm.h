// ModernBertForMaskedLM as HF's modeling_modernbert.py computes it: the encoder, the prediction
// head (dense -> act -> norm) and a decoder whose weight is tied to the token embeddings, with HF's
// tensor names (model.*, head.*, decoder.bias). The encoder is the classifier's own code (one
// implementation of attention, unpadding and checkpointing), registered here under HF's names.
#pragma once

#include <string>

#include <torch/torch.h>

#include "greenknobs/model/config.h"
#include "greenknobs/model/modernbert.h"

namespace gk::model {

// The decoder's bias; its weight is the token embedding matrix (tie_word_embeddings), so it is
// not a parameter of its own (HF's save_pretrained leaves the tied decoder.weight out as well).
class MlmDecoderImpl : public torch::nn::Module {
  public:
    MlmDecoderImpl(int64_t vocab_size, bool with_bias);
    torch::Tensor bias;  // [vocab] or undefined
};
TORCH_MODULE(MlmDecoder);

class ModernBertForMaskedLMImpl : public torch::nn::Module {
  public:
    // HF's init: the encoder as the classifier's, head.dense with the "out" std, decoder bias 0.
    explicit ModernBertForMaskedLMImpl(const ModernBertConfig& c);

    // input_ids, attention_mask [B, S] int64 -> logits [B, S, vocab] float (HF's dense forward).
    torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
    // Logits only where `select` [B, S] bool is true: [N, vocab] float in row-major order (HF's
    // sparse_prediction; the head and decoder never run on unselected tokens).
    torch::Tensor forward_at(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                             const torch::Tensor& select);
    // head -> decoder on hidden states [..., H] -> [..., vocab] float.
    torch::Tensor predict(const torch::Tensor& states);

    // The encoder's owner, for the knobs that live there (attention kernel, unpadding,
    // checkpointing). Its classifier is unused and not a parameter of this module.
    ModernBertForSequenceClassification& encoder() { return encoder_; }
    const ModernBertConfig& config() const { return config_; }
    int64_t num_layers() const { return encoder_->num_layers(); }
    void train(bool on = true) override;

    ModernBertModel model{nullptr};
    ModernBertPredictionHead head{nullptr};
    MlmDecoder decoder{nullptr};

  private:
    ModernBertConfig config_;
    ModernBertForSequenceClassification encoder_{nullptr};
};
TORCH_MODULE(ModernBertForMaskedLM);

// Loads an HF ModernBertForMaskedLM directory (config.json + model.safetensors) as HF's
// save_pretrained writes it (no decoder.weight: tied). A bare ModernBertModel checkpoint gets a
// fresh head and decoder bias. A classifier checkpoint, an untied decoder.weight that differs from
// the embeddings, or a missing/extra/mis-shaped tensor -> InputError naming file and tensor.
ModernBertForMaskedLM load_hf_masked_lm(const std::string& dir);
// Writes dir/model.safetensors (fp32, HF names, tied decoder.weight left out) and dir/config.json
// (architectures ["ModernBertForMaskedLM"]) so HF's ModernBertForMaskedLM.from_pretrained loads it.
void save_hf_masked_lm(const std::string& dir, ModernBertForMaskedLM& m);

}  // namespace gk::model
