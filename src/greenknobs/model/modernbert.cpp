// See modernbert.h. Follows HF modeling_modernbert.py's eager path op for op (fp32 softmax,
// additive masks with the dtype's lowest value, rotate_half rotary, GeGLU), so logits match HF
// within float tolerance. Recomputation lives in recompute.cpp, HF checkpoints in
// checkpoint_io.cpp.
#include "greenknobs/model/modernbert.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/csrc/jit/frontend/tracer.h>

#include "greenknobs/model/autocast.h"
#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/geglu.h"
#include "greenknobs/model/recompute.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/order.h"

namespace gk::model {
namespace {

torch::Tensor maybe_dropout(const torch::Tensor& x, double p, bool training) {
    if (p <= 0.0 || !training) {
        return x;
    }
    return torch::dropout(x, p, training);
}

// HF's eager attention core: q k^T (+ additive bias, promoted to fp32 when q is bf16: float's
// lowest would round to -inf in bf16 and turn fully masked rows into NaN), softmax in fp32, back to
// v's dtype, dropout, times v. q, k, v: [n, heads, L, d] -> [n, heads, L, d].
torch::Tensor eager_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                         const torch::Tensor& bias, double dropout_p, bool training) {
    torch::Tensor scores = model::matmul(q, k.transpose(2, 3));  // [n, heads, L, L]
    if (bias.defined()) {
        if (scores.scalar_type() == bias.scalar_type()) {
            scores.add_(bias);  // in place: bmm's backward does not need its output
        } else {
            scores = scores + bias;
        }
    }
    torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat).to(v.scalar_type());
    probs = maybe_dropout(probs, dropout_p, training);
    return model::matmul(probs, v);
}

// Truncated normal in place, as torch.nn.init.trunc_normal_ draws it: inverse-CDF of a uniform over
// [Φ(a), Φ(b)], then clamped to [a, b] against rounding.
void trunc_normal_(torch::Tensor t, double std, double cutoff) {
    torch::NoGradGuard no_grad;
    const double a = -cutoff * std;
    const double b = cutoff * std;
    auto norm_cdf = [](double v) { return (1.0 + std::erf(v / std::sqrt(2.0))) / 2.0; };
    const double l = norm_cdf(a / std);
    const double u = norm_cdf(b / std);
    t.uniform_(2 * l - 1, 2 * u - 1);
    t.erfinv_();
    t.mul_(std * std::sqrt(2.0));
    t.clamp_(a, b);
}

void init_linear(Linear& lin, double std, double cutoff) {
    trunc_normal_(lin->weight, std, cutoff);
    if (lin->bias.defined()) {
        torch::NoGradGuard no_grad;
        lin->bias.zero_();
    }
}

}  // namespace

// ---- Norm ----

NormImpl::NormImpl(int64_t dim, double eps_in, bool with_bias) : eps(eps_in) {
    weight = register_parameter("weight", torch::ones({dim}));
    if (with_bias) {
        bias = register_parameter("bias", torch::zeros({dim}));
    }
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
    const torch::Tensor& in =
        x.scalar_type() == weight.scalar_type() ? x : x.to(weight.scalar_type());
    return torch::layer_norm(in, {weight.size(0)}, weight, bias, eps);
}

// ---- rotary embeddings and masks ----

std::pair<torch::Tensor, torch::Tensor> rotary_cos_sin(const torch::Tensor& position_ids,
                                                       int64_t head_dim, double theta) {
    torch::NoGradGuard no_grad;
    auto fopt = torch::TensorOptions().dtype(torch::kFloat).device(position_ids.device());
    auto exponents = torch::arange(0, head_dim, 2, fopt.dtype(torch::kLong)).to(torch::kFloat) /
                     static_cast<double>(head_dim);
    auto inv_freq = 1.0 / torch::pow(theta, exponents);                    // [d/2]
    auto freqs = position_ids.to(torch::kFloat).unsqueeze(-1) * inv_freq;  // [B, S, d/2]
    auto emb = torch::cat({freqs, freqs}, -1);                             // [B, S, d]
    return {emb.cos(), emb.sin()};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos,
                           const torch::Tensor& sin) {
    const int64_t half = x.size(-1) / 2;
    auto x1 = x.narrow(-1, 0, half);
    auto x2 = x.narrow(-1, half, half);
    auto rotated = torch::cat({-x2, x1}, -1);
    return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

torch::Tensor attention_bias(const torch::Tensor& attention_mask, int64_t window,
                             torch::ScalarType dtype) {
    torch::NoGradGuard no_grad;
    const int64_t s = attention_mask.size(1);
    const double lowest = dtype == torch::kFloat64    ? std::numeric_limits<double>::lowest()
                          : dtype == torch::kBFloat16 ? -3.3895313892515355e38
                          : dtype == torch::kHalf
                              ? -65504.0
                              : static_cast<double>(std::numeric_limits<float>::lowest());
    auto opts = torch::TensorOptions().dtype(dtype).device(attention_mask.device());
    auto key_hidden = (attention_mask == 0).unsqueeze(1).unsqueeze(1);   // [B, 1, 1, S]
    auto hidden = key_hidden.expand({attention_mask.size(0), 1, s, s});  // [B, 1, S, S]
    if (window > 0) {
        auto rows = torch::arange(s, opts.dtype(torch::kLong));
        auto distance = (rows.unsqueeze(0) - rows.unsqueeze(1)).abs();  // [S, S]
        hidden = torch::logical_or(hidden, (distance > window / 2).unsqueeze(0).unsqueeze(0));
    }
    return torch::zeros(hidden.sizes(), opts).masked_fill(hidden, lowest);
}

torch::Tensor packed_attention_bias(const torch::Tensor& seq_ids, const torch::Tensor& positions,
                                    int64_t window, torch::ScalarType dtype) {
    torch::NoGradGuard no_grad;
    const double lowest = static_cast<double>(std::numeric_limits<float>::lowest());
    auto hidden = seq_ids.unsqueeze(0) != seq_ids.unsqueeze(1);  // [T, T]
    if (window > 0) {
        auto distance = (positions.unsqueeze(0) - positions.unsqueeze(1)).abs();
        hidden = torch::logical_or(hidden, distance > window / 2);
    }
    auto opts = torch::TensorOptions().dtype(dtype).device(seq_ids.device());
    return torch::zeros(hidden.sizes(), opts).masked_fill(hidden, lowest).unsqueeze(0).unsqueeze(0);
}

// ---- modules ----

ModernBertEmbeddingsImpl::ModernBertEmbeddingsImpl(const ModernBertConfig& c)
    : dropout_p(c.embedding_dropout) {
    // padding_idx keeps the pad row's gradient at zero, as HF's
    // nn.Embedding(padding_idx=pad_token_id) does.
    tok_embeddings = register_module(
        "tok_embeddings",
        torch::nn::Embedding(
            torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size).padding_idx(c.pad_token_id)));
    norm = register_module("norm", Norm(c.hidden_size, c.norm_eps, c.norm_bias));
}

torch::Tensor ModernBertEmbeddingsImpl::forward(const torch::Tensor& input_ids) {
    return maybe_dropout(norm(tok_embeddings(input_ids)), dropout_p, is_training());
}

ModernBertAttentionImpl::ModernBertAttentionImpl(const ModernBertConfig& c)
    : num_heads(c.num_attention_heads), head_dim(c.head_dim()), dropout_p(c.attention_dropout) {
    Wqkv = register_module("Wqkv", Linear(c.hidden_size, 3 * c.hidden_size, c.attention_bias));
    Wo = register_module("Wo", Linear(c.hidden_size, c.hidden_size, c.attention_bias));
}

torch::Tensor ModernBertAttentionImpl::forward(const torch::Tensor& x, const LayerInputs& in,
                                               bool is_global) {
    const torch::Tensor& bias = is_global ? in.bias_global : in.bias_local;
    const BlockPlan& plan = is_global ? in.plan_global : in.plan_local;
    const int64_t hidden = num_heads * head_dim;
    torch::Tensor qkv = Wqkv(x);  // [B, S, 3H] or, unpadded, [T, 3H]
    const int64_t n = qkv.numel() / (3 * hidden);
    auto qkv4 = qkv.view({n, 3, num_heads, head_dim});  // [N, 3, heads, d], N = B*S or T
    if (in.fused) {  // rotary and attention in one kernel (no attention dropout: see encode)
        torch::Tensor out =
            fused_attention(qkv4, (is_global ? in.cos_global : in.cos_local)[0],
                            (is_global ? in.sin_global : in.sin_local)[0], in.q_scale, in.spans,
                            is_global ? 0 : in.window);  // [N, H]
        return maybe_dropout(Wo(x.dim() == 3 ? out.view({x.size(0), x.size(1), hidden}) : out),
                             dropout_p, is_training());
    }
    // q and k rotated together, q already scaled by 1/sqrt(d) (HF scales the [S, S] scores: the
    // same value, bit-identical when 1/sqrt(d) is a power of two as for d = 16, 64).
    torch::Tensor qk =
        rotary_qk(qkv4.narrow(1, 0, 2), is_global ? in.rope_cos2_global : in.rope_cos2_local,
                  is_global ? in.rope_sin2_global : in.rope_sin2_local);  // [N, 2, heads, d]
    torch::Tensor v = qkv4.select(1, 2);                                  // [N, heads, d]
    torch::Tensor out;
    if (plan.defined()) {
        out = block_attention(qk, v, plan, dropout_p, is_training());  // [N, H]
        if (x.dim() == 3) {
            out = out.view({x.size(0), x.size(1), hidden});
        }
        return maybe_dropout(Wo(out), dropout_p, is_training());
    }
    GK_CHECK(x.dim() == 3, "padded attention needs [batch, seq, hidden] input");
    const int64_t b = x.size(0);
    torch::Tensor q =
        qk.select(1, 0).view({b, -1, num_heads, head_dim}).transpose(1, 2);  // [B, heads, S, d]
    torch::Tensor k = qk.select(1, 1).view({b, -1, num_heads, head_dim}).transpose(1, 2);
    v = v.view({b, -1, num_heads, head_dim}).transpose(1, 2);
    if (in.sdpa) {
        // LibTorch's CPU sdpa (1.13: a math composite) runs its inner matmul in bf16 under autocast
        // and adds the fp32 mask's lowest into it, which rounds to -inf: a pad query outside every
        // window of a local layer has no visible key, its softmax row is NaN and the NaN spreads
        // (V12 + V7, V30). On CPU the kernel therefore runs in fp32 with autocast off; the
        // projections keep their autocast dtype.
        const bool cuda = q.is_cuda();
        const bool guard = !cuda && autocast_enabled(cuda);
        if (guard) {
            set_autocast_enabled(cuda, false);
            q = q.to(torch::kFloat);
            k = k.to(torch::kFloat);
        }
        if (v.scalar_type() != q.scalar_type()) {
            v = v.to(q.scalar_type());
        }
        c10::optional<torch::Tensor> mask;
        if (bias.defined()) {
            mask = bias.scalar_type() == q.scalar_type() ? bias : bias.to(q.scalar_type());
        }
        const double p = is_training() ? dropout_p : 0.0;
#if TORCH_VERSION_MAJOR >= 2
        out = at::scaled_dot_product_attention(q, k, v, mask, p, /*is_causal=*/false);
#else
        out = std::get<0>(at::_scaled_dot_product_attention(q, k, v, mask, p,
                                                            /*need_attn_weights=*/false,
                                                            /*is_causal=*/false));
#endif
        if (guard) {
            set_autocast_enabled(cuda, true);
        }
    } else if (!in.row_groups.empty()) {
        // Each length group over its own longest row (narrowed before the gather, so only what is
        // computed is copied); positions past a group's length are pads: zeros.
        const int64_t s = q.size(2);
        std::vector<torch::Tensor> parts;
        parts.reserve(in.row_groups.size());
        for (const RowGroup& g : in.row_groups) {
            torch::Tensor og = eager_core(gather_rows(q.narrow(2, 0, g.len), g.rows),
                                          gather_rows(k.narrow(2, 0, g.len), g.rows),
                                          gather_rows(v.narrow(2, 0, g.len), g.rows),
                                          is_global ? g.bias_global : g.bias_local, dropout_p,
                                          is_training());  // [n, heads, len, d]
            parts.push_back(g.len < s ? torch::constant_pad_nd(og, {0, 0, 0, s - g.len}) : og);
        }
        out = gather_rows(torch::cat(parts, 0), in.row_order_inverse);  // [B, heads, S, d]
    } else {
        out = eager_core(q, k, v, bias, dropout_p, is_training());  // [B, heads, S, d]
    }
    out = out.transpose(1, 2).contiguous().view({b, -1, hidden});  // [B, S, H]
    return maybe_dropout(Wo(out), dropout_p, is_training());
}

ModernBertMLPImpl::ModernBertMLPImpl(const ModernBertConfig& c)
    : activation(c.hidden_activation), dropout_p(c.mlp_dropout) {
    Wi = register_module("Wi", Linear(c.hidden_size, 2 * c.intermediate_size, c.mlp_bias));
    Wo = register_module("Wo", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

torch::Tensor ModernBertMLPImpl::forward(const torch::Tensor& x) {
    torch::Tensor h = geglu(Wi(x), activation, fused_geglu, &last_kernel);  // Wi: [..., 2I]
    return Wo(maybe_dropout(h, dropout_p, is_training()));
}

ModernBertEncoderLayerImpl::ModernBertEncoderLayerImpl(const ModernBertConfig& c,
                                                       int64_t original_id_in, bool is_global_in)
    : original_id(original_id_in), is_global(is_global_in) {
    if (original_id != 0) {
        attn_norm = register_module("attn_norm", Norm(c.hidden_size, c.norm_eps, c.norm_bias));
    }
    attn = register_module("attn", ModernBertAttention(c));
    mlp_norm = register_module("mlp_norm", Norm(c.hidden_size, c.norm_eps, c.norm_bias));
    mlp = register_module("mlp", ModernBertMLP(c));
}

void ModernBertEncoderLayerImpl::add_attn_norm(const ModernBertConfig& c) {
    if (!has_attn_norm()) {
        attn_norm = register_module("attn_norm", Norm(c.hidden_size, c.norm_eps, c.norm_bias));
    }
}

torch::Tensor ModernBertEncoderLayerImpl::forward(const torch::Tensor& x, const LayerInputs& in) {
    torch::Tensor normed = has_attn_norm() ? attn_norm(x) : x;
    torch::Tensor h = x + attn(normed, in, is_global);
    return h + mlp(mlp_norm(h));
}

ModernBertModelImpl::ModernBertModelImpl(const ModernBertConfig& c) {
    embeddings = register_module("embeddings", ModernBertEmbeddings(c));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        layers->push_back(ModernBertEncoderLayer(c, c.original_layer_id(i), c.is_global_layer(i)));
    }
    final_norm = register_module("final_norm", Norm(c.hidden_size, c.norm_eps, c.norm_bias));
}

ModernBertPredictionHeadImpl::ModernBertPredictionHeadImpl(const ModernBertConfig& c)
    : activation(c.classifier_activation) {
    dense = register_module("dense", Linear(c.hidden_size, c.hidden_size, c.classifier_bias));
    norm = register_module("norm", Norm(c.hidden_size, c.norm_eps, c.norm_bias));
}

torch::Tensor ModernBertPredictionHeadImpl::forward(const torch::Tensor& x) {
    return norm(activate(dense(x), activation));
}

// ---- the classifier ----

ModernBertForSequenceClassificationImpl::ModernBertForSequenceClassificationImpl(
    const ModernBertConfig& c)
    : config_(c) {
    config_.finalize("model config");
    model = register_module("model", ModernBertModel(config_));
    head = register_module("head", ModernBertPredictionHead(config_));
    classifier = register_module(
        "classifier", Linear(config_.hidden_size, config_.num_labels, /*with_bias=*/true));
    init_weights();
}

void ModernBertForSequenceClassificationImpl::init_weights() {
    const double cutoff =
        config_.initializer_cutoff_factor > 0 ? config_.initializer_cutoff_factor : 3.0;
    const double std_in = config_.initializer_range;
    const double std_out =
        config_.initializer_range / std::sqrt(2.0 * static_cast<double>(config_.num_hidden_layers));
    const double std_final = 1.0 / std::sqrt(static_cast<double>(config_.hidden_size));
    trunc_normal_(model->embeddings->tok_embeddings->weight, config_.initializer_range, cutoff);
    for (int64_t i = 0; i < num_layers(); ++i) {
        auto l = layer(i);
        init_linear(l->attn->Wqkv, std_in, cutoff);
        init_linear(l->attn->Wo, std_out, cutoff);
        init_linear(l->mlp->Wi, std_in, cutoff);
        init_linear(l->mlp->Wo, std_out, cutoff);
    }
    init_linear(head->dense, std_out, cutoff);
    init_linear(classifier, std_final, cutoff);
    torch::NoGradGuard no_grad;
    for (auto& m : modules(/*include_self=*/false)) {
        if (auto* n = m->as<NormImpl>()) {
            n->weight.fill_(1.0);
            if (n->bias.defined()) {
                n->bias.zero_();
            }
        }
    }
}

void ModernBertForSequenceClassificationImpl::reset_classifier(int64_t num_labels) {
    if (num_labels <= 0) {
        throw InputError("num_labels", std::to_string(num_labels), "must be > 0");
    }
    config_.num_labels = num_labels;
    config_.id2label.clear();
    classifier =
        replace_module("classifier", Linear(config_.hidden_size, num_labels, /*with_bias=*/true));
    const double cutoff =
        config_.initializer_cutoff_factor > 0 ? config_.initializer_cutoff_factor : 3.0;
    init_linear(classifier, 1.0 / std::sqrt(static_cast<double>(config_.hidden_size)), cutoff);
}

std::string ModernBertForSequenceClassificationImpl::attention_kernel() const {
    if (!last_kernel_.empty()) {
        return last_kernel_;
    }
    if (unpad_) {
        return "unpadded-banded";
    }
    if (attention_ == "sdpa") {
        return TORCH_VERSION_MAJOR >= 2 ? "sdpa" : "sdpa-math";
    }
    return "eager";
}

std::string ModernBertForSequenceClassificationImpl::train_attention_kernel() const {
    return last_train_kernel_.empty() ? attention_kernel() : last_train_kernel_;
}

void ModernBertForSequenceClassificationImpl::set_fused_geglu(bool on) {
    for (int64_t i = 0; i < num_layers(); ++i) {
        layer(i)->mlp->fused_geglu = on;
    }
}

std::string ModernBertForSequenceClassificationImpl::mlp_kernel() const {
    if (num_layers() == 0) {
        return "none";
    }
    const auto& mlp = layer(0)->mlp;
    if (!mlp->last_kernel.empty()) {
        return mlp->last_kernel;
    }
    // What a forward would run: asked of geglu_kernel with an fp32 output of Wi on its device.
    const torch::Tensor& w = mlp->Wi->weight;
    const auto options = torch::TensorOptions()
                             .dtype(torch::kFloat)
                             .device(w.defined() ? w.device() : torch::Device(torch::kCPU));
    return geglu_kernel(torch::empty({1, 2}, options), mlp->activation, mlp->fused_geglu);
}

void ModernBertForSequenceClassificationImpl::set_attention(const std::string& kind) {
    if (kind != "eager" && kind != "sdpa") {
        throw InputError("model.attention", kind, "expected eager or sdpa");
    }
    attention_ = kind;
}

int64_t ModernBertForSequenceClassificationImpl::num_layers() const {
    return static_cast<int64_t>(model->layers->size());
}

ModernBertEncoderLayer ModernBertForSequenceClassificationImpl::layer(int64_t i) const {
    return ModernBertEncoderLayer(
        model->layers->ptr<ModernBertEncoderLayerImpl>(static_cast<size_t>(i)));
}

std::vector<std::pair<std::string, Linear>>
ModernBertForSequenceClassificationImpl::named_linears() {
    std::vector<std::pair<std::string, Linear>> out;
    for (int64_t i = 0; i < num_layers(); ++i) {
        auto l = layer(i);
        const std::string p = "model.layers." + std::to_string(i) + ".";
        out.emplace_back(p + "attn.Wqkv", l->attn->Wqkv);
        out.emplace_back(p + "attn.Wo", l->attn->Wo);
        out.emplace_back(p + "mlp.Wi", l->mlp->Wi);
        out.emplace_back(p + "mlp.Wo", l->mlp->Wo);
    }
    out.emplace_back("head.dense", head->dense);
    out.emplace_back("classifier", classifier);
    return out;
}

namespace {

// Each row's count of real tokens when every row is a non-empty prefix of real tokens (right
// padding); empty otherwise (a hole, left padding, or an empty row).
std::vector<int64_t> prefix_lengths(const torch::Tensor& attention_mask) {
    const int64_t b = attention_mask.size(0);
    const int64_t s = attention_mask.size(1);
    torch::Tensor m = attention_mask.to(torch::kCPU, torch::kLong).contiguous();
    const int64_t* mp = m.data_ptr<int64_t>();
    std::vector<int64_t> len(static_cast<size_t>(b));
    for (int64_t r = 0; r < b; ++r) {
        int64_t n = 0;
        while (n < s && mp[r * s + n] != 0) {
            ++n;
        }
        for (int64_t j = n; j < s; ++j) {
            if (mp[r * s + j] != 0) {
                return {};  // a hole or left padding: not a prefix
            }
        }
        if (n == 0) {
            return {};
        }
        len[static_cast<size_t>(r)] = n;
    }
    return len;
}

// Groups a padded batch's rows by length for the eager path (LayerInputs::row_groups): rows sorted
// longest first and cut into up to four groups of equal count, each attending over its longest
// row. Only for right-padded rows (each row a prefix of real tokens), and only when the groups
// skip at least a fifth of the B·S² score entries. Host work on B lengths; the masks are built
// once per forward, as the ungrouped ones are.
void plan_row_groups(const torch::Tensor& attention_mask, int64_t window, bool local_banded,
                     torch::ScalarType dtype, LayerInputs* in) {
    torch::NoGradGuard no_grad;
    const int64_t b = attention_mask.size(0);
    const int64_t s = attention_mask.size(1);
    if (b < 2) {
        return;
    }
    const std::vector<int64_t> len = prefix_lengths(attention_mask);
    if (len.empty()) {
        return;
    }
    std::vector<int64_t> order = util::longest_first_of_lengths(len);
    const int64_t groups = std::min<int64_t>(4, b);
    const int64_t per = (b + groups - 1) / groups;
    double grouped = 0;
    for (int64_t start = 0; start < b; start += per) {
        const double l =
            static_cast<double>(len[static_cast<size_t>(order[static_cast<size_t>(start)])]);
        grouped += static_cast<double>(std::min(per, b - start)) * l * l;
    }
    if (grouped > 0.8 * static_cast<double>(b) * static_cast<double>(s * s)) {
        return;
    }
    auto lopt = torch::TensorOptions().dtype(torch::kLong);
    torch::Tensor inverse = torch::empty({b}, lopt);
    for (int64_t k = 0; k < b; ++k) {
        inverse[order[static_cast<size_t>(k)]] = k;
    }
    for (int64_t start = 0; start < b; start += per) {
        const int64_t n = std::min(per, b - start);
        RowGroup g;
        g.rows = torch::tensor(
                     std::vector<int64_t>(order.begin() + start, order.begin() + start + n), lopt)
                     .to(attention_mask.device());
        g.len = len[static_cast<size_t>(order[static_cast<size_t>(start)])];
        torch::Tensor mask_g = attention_mask.index_select(0, g.rows).narrow(1, 0, g.len);
        g.bias_global = attention_bias(mask_g, 0, dtype);
        if (!local_banded) {
            g.bias_local = attention_bias(mask_g, window, dtype);
        }
        in->row_groups.push_back(std::move(g));
    }
    in->row_order_inverse = inverse.to(attention_mask.device());
}

}  // namespace

torch::Tensor ModernBertForSequenceClassificationImpl::run_layers(torch::Tensor x,
                                                                  const LayerInputs& in) {
    const bool ckpt = grad_checkpointing_ && torch::GradMode::is_enabled();
    // In training, replay the CPU RNG in the recompute (as torch.utils.checkpoint's
    // preserve_rng_state): dropout anywhere in a layer, ours or an adapter's (LoRA dropout), must
    // draw the same mask twice.
    const bool save_rng = is_training();
    for (int64_t i = 0; i < num_layers(); ++i) {
        auto l = layer(i);
        if (ckpt) {
            x = forward_recomputed(*l, x, in, save_rng);
        } else {
            x = l->forward(x, in);
        }
    }
    return x;
}

torch::Tensor ModernBertForSequenceClassificationImpl::encode(const torch::Tensor& input_ids,
                                                              const torch::Tensor& attention_mask,
                                                              LayerInputs* in_out,
                                                              bool real_tokens_only) {
    LayerInputs& in = *in_out;
    const int64_t b = input_ids.size(0);
    const int64_t s = input_ids.size(1);
    const int64_t d = config_.head_dim();
    const int64_t window = config_.local_attention;
    in.sdpa = attention_ == "sdpa";
    in.window = window;
    in.batch = b;
    in.seq = s;
    auto positions =
        torch::arange(s, input_ids.options().dtype(torch::kLong)).unsqueeze(0);  // [1, S]
    std::tie(in.cos_global, in.sin_global) =
        rotary_cos_sin(positions, d, config_.global_rope_theta);
    std::tie(in.cos_local, in.sin_local) = rotary_cos_sin(positions, d, config_.local_rope_theta);
    const auto dtype = model->final_norm->weight.scalar_type();
    // A traced forward (compile knob) must not depend on host-side plans built from one batch.
    const bool tracing = torch::jit::tracer::isTracing();
    // sdpa scales q itself; every other kernel gets q pre-scaled through the rotary tables.
    const bool unpadded = unpad_ && !tracing;
    const double q_scale = in.sdpa && !unpadded ? 1.0 : 1.0 / std::sqrt(static_cast<double>(d));
    in.q_scale = q_scale;
    // On the CPU (no trace; in training without attention dropout, which the kernel does not
    // draw): attention as one kernel where the sequences are prefixes of their rows; rows with
    // pads only when the caller reads real tokens only (pooled: the pad positions' states differ
    // from the padded encoder's), and not for sdpa on a padded batch (the attention knob's own
    // kernel). Batches without pads (masked-LM pretraining's packed rows) fuse for any caller.
    const bool may_fuse = fused_attention_ && input_ids.device().is_cpu() &&
                          fused_attention_supported(model->final_norm->weight) &&
                          (!is_training() || config_.attention_dropout == 0.0);
    std::vector<int64_t> row_lens;  // padded rows that fuse: their real tokens
    if (!unpadded && may_fuse && !in.sdpa) {
        row_lens = prefix_lengths(attention_mask);
        const bool pads =
            std::any_of(row_lens.begin(), row_lens.end(), [s](int64_t len) { return len < s; });
        if (pads && !real_tokens_only) {
            row_lens.clear();
        }
    }

    torch::Tensor hidden;
    torch::Tensor cos_g, sin_g, cos_l, sin_l;  // [N, d] on the flat token axis
    if (unpadded) {
        torch::NoGradGuard no_grad;
        in.indices = torch::nonzero(attention_mask.reshape({-1})).reshape({-1});  // [T]
        // Sequence lengths and original positions on the host (nonzero has synchronised already).
        torch::Tensor idx_cpu = in.indices.to(torch::kCPU);
        const int64_t t = idx_cpu.size(0);
        const int64_t* ip = idx_cpu.data_ptr<int64_t>();
        std::vector<int64_t> lens;
        std::vector<int64_t> pos(static_cast<size_t>(t));
        int64_t row = -1;
        for (int64_t i = 0; i < t; ++i) {
            const int64_t r = ip[i] / s;
            pos[static_cast<size_t>(i)] = ip[i] % s;
            if (r != row) {
                lens.push_back(0);
                row = r;
            }
            ++lens.back();
        }
        // Rows without holes or left padding (positions 0, 1, ... within each) fuse.
        bool consecutive = may_fuse;
        std::vector<int64_t> starts(lens.size());
        for (size_t q = 0, i = 0; q < lens.size() && consecutive;
             i += static_cast<size_t>(lens[q]), ++q) {
            starts[q] = static_cast<int64_t>(i);
            consecutive = pos[i] == 0 && pos[i + static_cast<size_t>(lens[q]) - 1] == lens[q] - 1;
        }
        if (consecutive) {
            in.fused = true;
            in.spans = TokenSpans{std::move(starts), lens};
        } else {
            in.plan_global = make_block_plan(lens, pos, /*window=*/0, kBlockQ, input_ids.device());
            in.plan_local = make_block_plan(lens, pos, window, kBlockQ, input_ids.device());
            auto pos_t = in.indices.remainder(s);  // [T]
            cos_g = in.cos_global[0].index_select(0, pos_t);
            sin_g = in.sin_global[0].index_select(0, pos_t);
            cos_l = in.cos_local[0].index_select(0, pos_t);
            sin_l = in.sin_local[0].index_select(0, pos_t);
        }
        last_kernel_ = in.fused ? "unpadded-fused-cpu" : "unpadded-banded";
    } else if (!row_lens.empty()) {
        // Each row's real tokens; pads (read only through pooled()) never computed.
        in.fused = true;
        for (int64_t r = 0; r < b; ++r) {
            in.spans.start.push_back(r * s);
        }
        in.spans.len = std::move(row_lens);
        last_kernel_ = "fused-cpu";
    } else {
        // Built from the mask every time, as HF does (no data-dependent branch, so a traced forward
        // stays valid for batches with and without padding).
        in.bias_global = attention_bias(attention_mask, 0, dtype);  // [B, 1, S, S]
        bool banded = false;
        if (!in.sdpa && !tracing && window > 0) {
            // Local layers over the window band only, when the band is well short of S.
            BlockPlan band = make_block_plan(std::vector<int64_t>(static_cast<size_t>(b), s), {},
                                             window, kBlockQ, input_ids.device());
            if (band.block_k * 5 <= s * 4) {
                torch::NoGradGuard no_grad;
                auto key_bias = (attention_mask.reshape({-1}) == 0).to(torch::kFloat) *
                                static_cast<double>(std::numeric_limits<float>::lowest());
                in.plan_local = with_key_bias(band, key_bias);
                banded = true;
            }
        }
        if (!banded) {
            in.bias_local = attention_bias(attention_mask, window, dtype);  // [B, 1, S, S]
        }
        if (real_tokens_only && group_rows_ && !in.sdpa && !tracing) {
            plan_row_groups(attention_mask, window, banded, dtype, &in);
        }
        last_kernel_ = in.sdpa ? (TORCH_VERSION_MAJOR >= 2 ? "sdpa" : "sdpa-math")
                               : std::string(banded ? "eager-banded" : "eager") +
                                     (in.row_groups.empty() ? "" : "-grouped");
    }
    if (is_training()) {
        last_train_kernel_ = last_kernel_;
    }
    if (!in.fused) {  // (the fused kernel rotates from the [S, d] tables by position)
        if (!in.indices.defined()) {  // padded: every row at positions 0 .. S-1
            cos_g = in.cos_global[0].repeat({b, 1});
            sin_g = in.sin_global[0].repeat({b, 1});
            cos_l = in.cos_local[0].repeat({b, 1});
            sin_l = in.sin_local[0].repeat({b, 1});
        }
        std::tie(in.rope_cos2_global, in.rope_sin2_global) =
            rotary_tables_qk(cos_g, sin_g, q_scale);
        std::tie(in.rope_cos2_local, in.rope_sin2_local) = rotary_tables_qk(cos_l, sin_l, q_scale);
    }
    if (in.indices.defined()) {
        auto ids = input_ids.reshape({-1}).index_select(0, in.indices);  // [T]
        hidden = model->embeddings(ids);                                 // [T, H]
    } else {
        hidden = model->embeddings(input_ids);  // [B, S, H]
    }
    hidden = run_layers(hidden, in);
    return model->final_norm(hidden);
}

namespace {

torch::Tensor checked_mask(const torch::Tensor& input_ids, const torch::Tensor& attention_mask_in) {
    GK_CHECK(input_ids.dim() == 2, "input_ids must be [batch, seq]");
    torch::Tensor attention_mask =
        attention_mask_in.defined() ? attention_mask_in : torch::ones_like(input_ids);
    GK_CHECK(attention_mask.sizes() == input_ids.sizes(),
             "attention_mask must match input_ids' shape");
    return attention_mask;
}
}  // namespace

torch::Tensor ModernBertForSequenceClassificationImpl::token_states(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask_in) {
    const torch::Tensor attention_mask = checked_mask(input_ids, attention_mask_in);
    LayerInputs in;
    torch::Tensor hidden = encode(input_ids, attention_mask, &in);
    if (!in.indices.defined()) {
        return hidden;  // [B, S, H]
    }
    const int64_t b = input_ids.size(0);
    const int64_t s = input_ids.size(1);
    auto full = torch::zeros({b * s, hidden.size(-1)}, hidden.options());
    return full.index_copy(0, in.indices, hidden).view({b, s, hidden.size(-1)});
}

torch::Tensor ModernBertForSequenceClassificationImpl::pooled(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask_in) {
    const torch::Tensor attention_mask = checked_mask(input_ids, attention_mask_in);
    const int64_t b = input_ids.size(0);
    const int64_t s = input_ids.size(1);
    LayerInputs in;
    torch::Tensor hidden = encode(input_ids, attention_mask, &in, /*real_tokens_only=*/true);

    torch::Tensor mask_f = attention_mask.to(hidden.scalar_type());
    if (in.indices.defined()) {
        auto rows =
            torch::arange(b, input_ids.options().dtype(torch::kLong)).unsqueeze(1).expand({b, s});
        auto seq_of_token = rows.reshape({-1}).index_select(0, in.indices);  // [T]
        if (config_.classifier_pooling == "cls") {
            // Position 0 of each row, as the padded path takes it (sequences are right-padded).
            auto first = torch::arange(b, rows.options()) * s;
            auto where = torch::full({b * s}, -1, rows.options());
            where.index_copy_(0, in.indices, torch::arange(in.indices.size(0), rows.options()));
            auto pos = where.index_select(0, first);
            GK_CHECK((pos >= 0).all().item<bool>(),
                     "cls pooling with unpadding needs a real token at position 0");
            return hidden.index_select(0, pos);  // [B, H]
        }
        auto sums =
            torch::zeros({b, hidden.size(-1)}, hidden.options()).index_add(0, seq_of_token, hidden);
        return sums / mask_f.sum(1, /*keepdim=*/true);  // [B, H]
    }
    if (config_.classifier_pooling == "cls") {
        return hidden.select(1, 0);  // [B, H]
    }
    return (hidden * mask_f.unsqueeze(-1)).sum(1) / mask_f.sum(1, /*keepdim=*/true);  // [B, H]
}

torch::Tensor ModernBertForSequenceClassificationImpl::forward(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
    torch::Tensor p = pooled(input_ids, attention_mask);
    p = maybe_dropout(head(p), config_.classifier_dropout, is_training());
    torch::Tensor logits = classifier(p);  // [B, num_labels]
    return logits.scalar_type() == torch::kFloat ? logits : logits.to(torch::kFloat);
}

// ---- pruning ----

void prune_layers(ModernBertForSequenceClassification& m, int n, const std::string& from) {
    const int64_t depth = m->num_layers();
    if (from != "top" && from != "bottom") {
        throw InputError("model.prune_from", from, "expected top or bottom");
    }
    if (n < 0 || n >= depth) {
        throw InputError("model.prune_layers", std::to_string(n),
                         "must be >= 0 and below the model's " + std::to_string(depth) + " layers");
    }
    if (n == 0) {
        return;
    }
    const int64_t first = from == "bottom" ? n : 0;
    const int64_t last = from == "bottom" ? depth : depth - n;  // exclusive
    torch::nn::ModuleList kept;
    ModernBertConfig& c = m->mutable_config();
    std::vector<int64_t> ids;
    std::vector<std::string> types;
    for (int64_t i = first; i < last; ++i) {
        kept->push_back(m->layer(i));
        ids.push_back(c.original_layer_id(i));
        types.push_back(c.is_global_layer(i) ? "full_attention" : "sliding_attention");
    }
    m->model->layers = m->model->replace_module("layers", kept);
    c.num_hidden_layers = last - first;
    c.layer_ids = ids;
    c.layer_types = types;
}

ParamCounts count_params(torch::nn::Module& m) {
    ParamCounts c;
    for (const auto& p : m.parameters(/*recurse=*/true)) {
        c.total += p.numel();
        if (p.requires_grad()) {
            c.trainable += p.numel();
        }
        c.weights_bytes += p.numel() * static_cast<int64_t>(p.element_size());
    }
    for (const auto& b : m.buffers(/*recurse=*/true)) {
        c.weights_bytes += b.numel() * static_cast<int64_t>(b.element_size());
    }
    return c;
}

}  // namespace gk::model
