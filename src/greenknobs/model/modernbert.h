// ModernBERT for sequence classification, computed as HF's modeling_modernbert.py does (eager path)
// and with HF's parameter names, so HF checkpoints load and ours load in HF. Also the knobs that
// live inside the model: attention kernel (eager | sdpa), unpadding, per-layer gradient
// checkpointing and layer pruning.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "greenknobs/model/attention_kernels.h"
#include "greenknobs/model/config.h"
#include "greenknobs/model/fused_attention.h"
#include "greenknobs/model/linear.h"

namespace gk::model {

// LayerNorm with an optional bias (LibTorch 1.13's LayerNorm always has one). Casts its input to
// the weight's dtype: under 1.13 CPU bf16 autocast layer_norm would otherwise get bf16 input with
// fp32 weight and throw.
class NormImpl : public torch::nn::Module {
  public:
    NormImpl(int64_t dim, double eps, bool with_bias);
    // [..., dim] -> [..., dim] in the weight's dtype
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;  // [dim]
    torch::Tensor bias;    // [dim] or undefined
    double eps;
};
TORCH_MODULE(Norm);

// cos and sin of the rotary embedding, HF layout: [..., S, head_dim] with the head_dim/2
// frequencies θ^(-2i/d) repeated twice (rotate_half convention). position_ids: [B or 1, S] int64.
std::pair<torch::Tensor, torch::Tensor> rotary_cos_sin(const torch::Tensor& position_ids,
                                                       int64_t head_dim, double theta);
// q*cos + rotate_half(q)*sin. x: [B, heads, S, d]; cos/sin: [B or 1, S, d].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos,
                           const torch::Tensor& sin);

// Additive attention bias [B, 1, S, S] (0 = visible, dtype's lowest = hidden) from a [B, S] 0/1
// padding mask; window > 0 also hides key j from query i when |i - j| > window / 2 (HF's sliding
// window).
torch::Tensor attention_bias(const torch::Tensor& attention_mask, int64_t window,
                             torch::ScalarType dtype);
// The same for a packed (unpadded) sequence: tokens t, u see each other iff seq_ids match (and,
// with window > 0, |pos_t - pos_u| <= window / 2). seq_ids, positions: [T] int64 -> [1, 1, T, T].
torch::Tensor packed_attention_bias(const torch::Tensor& seq_ids, const torch::Tensor& positions,
                                    int64_t window, torch::ScalarType dtype);

// Rows of a padded batch whose attention runs together, over the group's longest row only.
struct RowGroup {
    torch::Tensor rows;  // [n] int64: batch rows, longest first
    int64_t len = 0;     // the longest of them
    torch::Tensor bias_global,
        bias_local;  // [n, 1, len, len] additive (local: undefined if banded)
};

// Per-forward inputs each layer needs, built once per forward.
struct LayerInputs {
    torch::Tensor cos_global, sin_global;  // [B or 1, S, head_dim]
    torch::Tensor cos_local, sin_local;
    torch::Tensor bias_global;  // [B or 1, 1, S, S] additive, or undefined = no mask
    torch::Tensor bias_local;
    // q/k rotary tables of every token on the flat token axis (B*S padded, T unpadded), q's half
    // carrying the 1/sqrt(d) scale (not for sdpa, which scales itself): [N, 2, 1, head_dim].
    torch::Tensor rope_cos2_global, rope_sin2_global;
    torch::Tensor rope_cos2_local, rope_sin2_local;
    // Defined: that layer type runs the block-gather kernel (attention_kernels.h) instead of the
    // [B, heads, S, S] eager/sdpa path: always when unpadded, and for local layers of a padded
    // batch whose window band is much shorter than S.
    BlockPlan plan_global, plan_local;
    // Unpadded mode: indices [T] of the real tokens in the flattened [B*S] batch (undefined =
    // padded mode); hidden states are then [T, H].
    torch::Tensor indices;
    // Padded eager path of the classifier: rows grouped by length (plan_row_groups); each group's
    // attention is computed over its own longest row, and the rows come back in batch order
    // through row_order_inverse ([B]). Empty = one [B, heads, S, S] attention.
    std::vector<RowGroup> row_groups;
    torch::Tensor row_order_inverse;
    // Set (on the CPU; see set_fused_attention): every layer runs fused_attention over these
    // sequences of the flat token axis instead of any of the above (which are then not built).
    bool fused = false;
    TokenSpans spans;
    int64_t window = 0;    // local layers' sliding window
    double q_scale = 1.0;  // q's factor after rotation (1/sqrt(d))
    int64_t batch = 0;
    int64_t seq = 0;
    bool sdpa = false;
};

class ModernBertEmbeddingsImpl : public torch::nn::Module {
  public:
    explicit ModernBertEmbeddingsImpl(const ModernBertConfig& c);
    torch::Tensor forward(const torch::Tensor& input_ids);  // [B, S] int64 -> [B, S, H]
    torch::nn::Embedding tok_embeddings{nullptr};
    Norm norm{nullptr};
    double dropout_p;
};
TORCH_MODULE(ModernBertEmbeddings);

class ModernBertAttentionImpl : public torch::nn::Module {
  public:
    explicit ModernBertAttentionImpl(const ModernBertConfig& c);
    // x: [B, S, H] (or [T, H] unpadded) -> same shape. Global layers use the global θ and mask,
    // local layers the local θ and the sliding-window mask.
    torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in, bool is_global);
    Linear Wqkv{nullptr};
    Linear Wo{nullptr};
    int64_t num_heads;
    int64_t head_dim;
    double dropout_p;
};
TORCH_MODULE(ModernBertAttention);

// GeGLU: Wi -> chunk(2) -> act(input) * gate -> Wo.
class ModernBertMLPImpl : public torch::nn::Module {
  public:
    explicit ModernBertMLPImpl(const ModernBertConfig& c);
    torch::Tensor forward(const torch::Tensor& x);  // [..., H] -> [..., H]
    Linear Wi{nullptr};
    Linear Wo{nullptr};
    std::string activation;
    double dropout_p;
    // GeGLU as one fused CPU kernel where it can run (geglu.h); false: LibTorch's ops.
    bool fused_geglu = true;
    // What the last forward ran: "fused-cpu" or "aten" (empty before any forward).
    std::string last_kernel;
};
TORCH_MODULE(ModernBertMLP);

class ModernBertEncoderLayerImpl : public torch::nn::Module {
  public:
    // original_id: the layer's id in the unpruned model (0 = no attn_norm, global iff id % n == 0).
    ModernBertEncoderLayerImpl(const ModernBertConfig& c, int64_t original_id, bool is_global);
    torch::Tensor forward(const torch::Tensor& x, const LayerInputs& in);  // [B, S, H] or [T, H]
    // Gives the layer an attn_norm (for checkpoints that carry one on layer 0).
    void add_attn_norm(const ModernBertConfig& c);
    bool has_attn_norm() const { return !attn_norm.is_empty(); }

    Norm attn_norm{
        nullptr};  // registered as "attn_norm" only when present (HF: Identity on layer 0)
    ModernBertAttention attn{nullptr};
    Norm mlp_norm{nullptr};
    ModernBertMLP mlp{nullptr};
    int64_t original_id;
    bool is_global;
};
TORCH_MODULE(ModernBertEncoderLayer);

class ModernBertModelImpl : public torch::nn::Module {
  public:
    explicit ModernBertModelImpl(const ModernBertConfig& c);
    ModernBertEmbeddings embeddings{nullptr};
    torch::nn::ModuleList layers{nullptr};
    Norm final_norm{nullptr};
};
TORCH_MODULE(ModernBertModel);

// dense -> act -> norm.
class ModernBertPredictionHeadImpl : public torch::nn::Module {
  public:
    explicit ModernBertPredictionHeadImpl(const ModernBertConfig& c);
    torch::Tensor forward(const torch::Tensor& x);  // [B, H] -> [B, H]
    Linear dense{nullptr};
    Norm norm{nullptr};
    std::string activation;
};
TORCH_MODULE(ModernBertPredictionHead);

class ModernBertForSequenceClassificationImpl : public torch::nn::Module {
  public:
    // Weights follow HF's _init_weights (truncated normal, per-module std) for training from
    // scratch.
    explicit ModernBertForSequenceClassificationImpl(const ModernBertConfig& c);

    // input_ids [B, S] int64, attention_mask [B, S] int64 (1 = real token) -> logits [B,
    // num_labels] float.
    torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
    // The pooled encoder output before the head: [B, H].
    torch::Tensor pooled(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
    // Every token's last hidden state (after final_norm): [B, S, H]. Pad positions hold what the
    // padded encoder computes for them (zeros in unpadded mode); callers select real tokens.
    torch::Tensor token_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

    // "eager" (HF's eager path) | "sdpa" (LibTorch's scaled-dot-product kernel); equal within
    // tolerance.
    void set_attention(const std::string& kind);
    const std::string& attention() const { return attention_; }
    // The attention kernel the last forward ran (before any forward: what the settings select):
    // "eager" (HF's [B, heads, S, S] matmul-softmax-matmul), "eager-banded" (eager on global
    // layers, the block-gather band on local ones), "sdpa-math" (LibTorch 1.13's
    // _scaled_dot_product_attention, a math composite) or "sdpa" (2.x's
    // scaled_dot_product_attention, which picks its own backend), "unpadded-banded" (the
    // block-gather kernel on real tokens only, banded on local layers); "-grouped" after eager or
    // eager-banded: the batch's rows grouped by length (set_group_rows); "fused-cpu" and
    // "unpadded-fused-cpu": a forward on the CPU through fused_attention (padded rows or unpadded;
    // set_fused_attention). docs/perf/attention.md.
    std::string attention_kernel() const;
    // The kernel the last forward in training mode ran (validation between epochs runs in eval
    // mode, and may fuse); before any, attention_kernel().
    std::string train_attention_kernel() const;
    // Drop pad tokens before the encoder: all real tokens of the batch packed into one [1, T, H]
    // sequence with per-sequence positions and a block-diagonal mask. Same logits as padded within
    // tolerance.
    void set_unpad(bool on) { unpad_ = on; }
    bool unpad() const { return unpad_; }
    // Padded eager path (the default): group the batch's rows by length and compute each group's
    // attention over its own longest row (kernel "eager-grouped"), when that skips at least a
    // fifth of the score entries. The logits and gradients are those of the full [B, S, S]
    // attention (pads are hidden keys either way); only pad positions' hidden states differ, so
    // token_states never groups. On by default.
    void set_group_rows(bool on) { group_rows_ = on; }
    bool group_rows() const { return group_rows_; }
    // Forwards on the CPU (no trace; in training only without attention dropout) run attention as
    // one kernel with its own backward (fused_attention.h) where the sequences are prefixes of
    // their rows: padded rows read through pooled() (forward), rows without pads (any caller), or
    // unpadded. The logits and gradients are those of the other kernels within fp32 rounding;
    // with padding, pad positions' states are not the padded encoder's, so token_states fuses only
    // batches without pads. `sdpa` on a padded batch keeps LibTorch's kernel (it is the knob). On
    // by default (decision 0009).
    void set_fused_attention(bool on) { fused_attention_ = on; }
    bool fused_attention() const { return fused_attention_; }
    // GeGLU as one fused CPU kernel (geglu.h; on by default) or LibTorch's chunk, gelu and mul.
    void set_fused_geglu(bool on);
    // The GeGLU kernel the last forward ran: "fused-cpu" or "aten" (before any forward: what the
    // setting selects on the CPU).
    std::string mlp_kernel() const;
    // Recompute each encoder layer's activations in backward (custom autograd Function).
    void set_grad_checkpointing(bool on) { grad_checkpointing_ = on; }
    bool grad_checkpointing() const { return grad_checkpointing_; }

    // Every projection by HF module name: model.layers.<i>.attn.Wqkv, .attn.Wo, .mlp.Wi, .mlp.Wo,
    // head.dense, classifier.
    std::vector<std::pair<std::string, Linear>> named_linears();
    int64_t num_layers() const;
    const ModernBertConfig& config() const { return config_; }
    ModernBertConfig& mutable_config() { return config_; }
    ModernBertEncoderLayer layer(int64_t i) const;
    // Re-draws every weight with HF's _init_weights rules (the constructor already does this).
    void init_weights();
    // Replaces the classifier with a fresh [num_labels, H] one (HF init) and updates the config.
    void reset_classifier(int64_t num_labels);

    ModernBertModel model{nullptr};
    ModernBertPredictionHead head{nullptr};
    Linear classifier{nullptr};

  private:
    // Embeddings -> layers -> final_norm. Returns [B, S, H], or [T, H] over in->indices when
    // unpadding; fills `in` (rotary tables, masks, indices) for the caller.
    // real_tokens_only: the caller reads real tokens only (pooled), so pad positions' states may
    // differ from the padded encoder's: rows may be grouped by length, and padded rows may fuse.
    torch::Tensor encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                         LayerInputs* in, bool real_tokens_only = false);
    torch::Tensor run_layers(torch::Tensor x, const LayerInputs& in);

    ModernBertConfig config_;
    std::string attention_ = "eager";
    bool unpad_ = false;
    bool group_rows_ = true;
    bool fused_attention_ = true;
    bool grad_checkpointing_ = false;
    std::string last_kernel_;
    std::string last_train_kernel_;
};
TORCH_MODULE(ModernBertForSequenceClassification);

// Removes n encoder layers: from = "top" drops the last n (nearest the output), "bottom" the first
// n. Kept layers keep their original global/local type and attn_norm-ness; the config is updated. n
// >= layers or a bad `from` -> InputError. Rebuild the optimizer afterwards.
void prune_layers(ModernBertForSequenceClassification& m, int n, const std::string& from);

// Loads an HF checkpoint directory (config.json + model.safetensors). ModernBertModel checkpoints
// (no head or classifier) get fresh ones. Missing tensor, wrong shape or dtype, or a config that
// contradicts the weights
// -> InputError naming the file and tensor.
ModernBertForSequenceClassification load_hf_checkpoint(const std::string& dir);
// Writes dir/model.safetensors (contiguous fp32, HF names) and dir/config.json. Merge adapters
// first.
void save_hf(const std::string& dir, ModernBertForSequenceClassification& m);

struct ParamCounts {
    int64_t total = 0;
    int64_t trainable = 0;
    int64_t weights_bytes = 0;  // parameters and buffers, at their stored dtype
};
ParamCounts count_params(torch::nn::Module& m);

}  // namespace gk::model
