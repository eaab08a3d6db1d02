// ModernBertConfig: the fields of HF's `ModernBertConfig` that shape the computation, read from and
// written to HF's config.json, plus our presets and the original ids of the layers a pruned model
// kept. Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gk::model {

struct ModernBertConfig {
    int64_t vocab_size = 50368;
    int64_t hidden_size = 768;
    int64_t intermediate_size = 1152;
    int64_t num_hidden_layers = 22;
    int64_t num_attention_heads = 12;
    std::string hidden_activation = "gelu";
    int64_t max_position_embeddings = 8192;
    double initializer_range = 0.02;
    double initializer_cutoff_factor = 2.0;
    double norm_eps = 1e-5;
    bool norm_bias = false;
    int64_t pad_token_id = 50283;
    int64_t eos_token_id = 50282;
    int64_t bos_token_id = 50281;
    int64_t cls_token_id = 50281;
    int64_t sep_token_id = 50282;
    bool attention_bias = false;
    double attention_dropout = 0.0;
    int64_t global_attn_every_n_layers = 3;
    double global_rope_theta = 160000.0;
    double local_rope_theta = 10000.0;
    int64_t local_attention =
        128;  // the whole window: a local layer sees |i-j| <= local_attention/2
    double embedding_dropout = 0.0;
    bool mlp_bias = false;
    double mlp_dropout = 0.0;
    std::string classifier_pooling = "cls";  // HF's default; our presets use "mean"
    double classifier_dropout = 0.0;
    bool classifier_bias =
        false;  // head.dense's bias (the classifier Linear always has one, as in HF)
    std::string classifier_activation = "gelu";
    int64_t num_labels = 2;
    std::map<int64_t, std::string> id2label;  // empty = LABEL_0..LABEL_{n-1}
    // Original (pre-pruning) id of each current layer: decides global vs local attention and
    // whether the layer has an attn_norm (original layer 0 has none). Written as
    // "greenknobs_layer_ids". Empty = 0..n-1 (so editing a preset's depth stays consistent).
    std::vector<int64_t> layer_ids;
    // Per current layer: "full_attention" | "sliding_attention" (HF's newer `layer_types`).
    // Empty = derived: global iff original id % global_attn_every_n_layers == 0.
    std::vector<std::string> layer_types;
    std::vector<std::string> architectures = {"ModernBertForSequenceClassification"};
    // Masked-LM head (ModernBertForMaskedLM): the decoder's bias, and the decoder weight tied to
    // the token embeddings (HF's defaults; a tied decoder.weight is absent from HF's files).
    bool decoder_bias = true;
    bool tie_word_embeddings = true;

    // "ModernBertForMaskedLM", "ModernBertForSequenceClassification" or "ModernBertModel": the
    // head a checkpoint has, from `architectures` (empty/unknown -> sequence classification).
    std::string architecture() const;

    int64_t head_dim() const { return hidden_size / num_attention_heads; }
    // Whether current layer i attends globally (else within the sliding window).
    bool is_global_layer(int64_t i) const;
    int64_t original_layer_id(int64_t i) const;
    // Checks ranges and consistency; throws InputError naming `origin` and the key.
    void finalize(const std::string& origin);
};

// From HF config.json content; unknown keys are ignored (HF configs carry many), known keys must
// have the right type. `origin` names the file in errors.
ModernBertConfig config_from_json(const nlohmann::json& j, const std::string& origin);
ModernBertConfig load_config(const std::string& path);
// A config.json HF's AutoModelForSequenceClassification loads (model_type modernbert) that also
// carries `greenknobs_layer_ids` and `layer_types`.
nlohmann::json to_hf_json(const ModernBertConfig& c);

// base (= data/modernbert/config.json) | cpu-small | cpu-tiny | test-tiny; all with ModernBERT's
// vocabulary, pad id, window 128, global every 3 layers, θ 160000/10000, mean pooling, 2 labels.
ModernBertConfig preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace gk::model
