// See lora.h.
#include "greenknobs/adapters/lora.h"

#include <cmath>
#include <set>

#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/checkpoint_io.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"

namespace gk::adapters {

LoraAdapter::LoraAdapter(model::LinearImpl& base, int r, double alpha, double dropout,
                         std::shared_ptr<model::LinearAdapter> inner)
    : scaling_(alpha / r), dropout_(dropout), inner_(std::move(inner)) {
    GK_CHECK(r > 0, "LoRA rank must be positive");
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(base.weight.device());
    auto a = torch::empty({r, base.in_features}, opts);
    // PEFT: kaiming_uniform_(a=√5), i.e. U(-1/√in, 1/√in); B = 0 so the adapted model starts equal
    // to the base.
    torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
    auto b = torch::zeros({base.out_features, r}, opts);
    a_ = base.register_module("lora_A", LoraFactor(a));
    b_ = base.register_module("lora_B", LoraFactor(b));
    base.weight.set_requires_grad(false);
    if (base.bias.defined()) {
        base.bias.set_requires_grad(false);
    }
}

torch::Tensor LoraAdapter::forward(model::LinearImpl& base, const torch::Tensor& x) {
    auto y = base_forward(inner_, base, x);  // [..., out]
    auto xd = dropout_ > 0 ? torch::dropout(x, dropout_, base.is_training()) : x;
    // Two skinny GEMMs, never the dense B·A: x·Aᵀ is [..., r].
    auto delta = model::linear(model::linear(xd, a_->weight), b_->weight);  // [..., out]
    return y + delta * scaling_;
}

torch::Tensor LoraAdapter::effective_weight(model::LinearImpl& base) {
    torch::NoGradGuard no_grad;
    return base_weight(inner_, base) +
           torch::matmul(b_->weight, a_->weight) * scaling_;  // [out, in]
}

void LoraAdapter::merge(model::LinearImpl& base) {
    torch::NoGradGuard no_grad;
    auto w = effective_weight(base).to(torch::kFloat32);
    if (inner_) {
        inner_->merge(
            base);  // restores an fp32 base.weight (the dequantized one) and drops its store
    }
    base.weight.set_(w.contiguous());
    base.unregister_module("lora_A");
    base.unregister_module("lora_B");
}

std::string LoraAdapter::kind() const { return inner_ ? inner_->kind() + "+lora" : "lora"; }

LoraReport apply_lora(torch::nn::Module& model, const config::LoraConfig& cfg) {
    if (cfg.targets.empty()) {
        throw InputError("lora.targets", "[]",
                         "expected at least one module suffix, e.g. \"attn.Wqkv\"");
    }
    if (cfg.r <= 0) {
        throw InputError("lora.r", std::to_string(cfg.r), "expected a positive rank");
    }
    if (cfg.dropout < 0 || cfg.dropout >= 1) {
        throw InputError("lora.dropout", std::to_string(cfg.dropout), "expected a value in [0, 1)");
    }
    auto linears = named_linears(model);
    LoraReport rep;
    std::vector<std::pair<std::string, std::shared_ptr<model::LinearImpl>>> chosen;
    for (const auto& target : cfg.targets) {
        int hits = 0;
        for (const auto& [name, lin] : linears) {
            if (name_matches(name, target)) {
                ++hits;
                chosen.emplace_back(name, lin);
            }
        }
        if (hits == 0) {
            std::string known;
            for (size_t i = 0; i < linears.size() && i < 8; ++i) {
                known += (i ? ", " : "") + linears[i].first;
            }
            throw InputError(
                "lora.targets", target,
                "matches no Linear of this model (it has e.g. " + known +
                    "); a LoRA target that matches nothing would silently train only the head");
        }
        rep.adapters_per_target[target] = hits;
    }
    // Validate everything before changing anything: a rejected config leaves the model as it was.
    std::set<std::string> seen;
    for (const auto& [name, lin] : chosen) {
        if (!seen.insert(name).second) {
            throw InputError("lora.targets", name, "is matched by two targets");
        }
        if (lin->adapter && lin->adapter->kind().find("lora") != std::string::npos) {
            throw InputError("lora.targets", name,
                             "already has a LoRA adapter (apply_lora ran twice?)");
        }
    }
    // Freeze the base; the head and classifier stay trainable (PEFT's SEQ_CLS modules_to_save).
    for (auto& item : model.named_parameters()) {
        item.value().set_requires_grad(is_head_param(item.key()));
    }
    for (const auto& [name, lin] : chosen) {
        // A targeted head.dense gets a frozen base too: LoRA means the base does not train.
        lin->adapter =
            std::make_shared<LoraAdapter>(*lin, cfg.r, cfg.alpha, cfg.dropout, lin->adapter);
        auto* lora = static_cast<LoraAdapter*>(lin->adapter.get());
        rep.adapter_params += lora->lora_A().numel() + lora->lora_B().numel();
    }
    for (const auto& item : model.named_parameters()) {
        if (item.value().requires_grad() && item.key().find(".lora_") == std::string::npos) {
            rep.trainable_modules.push_back(item.key());
        }
    }
    auto counts = count_params(model);
    rep.total_params = counts.total;
    rep.trainable_params = counts.trainable;
    log::info("lora: " + std::to_string(chosen.size()) + " adapters (r=" + std::to_string(cfg.r) +
              "), trainable " + std::to_string(rep.trainable_params) + " of " +
              std::to_string(rep.total_params) + " parameters");
    return rep;
}

int merge_lora(torch::nn::Module& model) { return merge_adapters(model); }

MergedSave save_hf_merged(const std::string& dir, model::ModernBertForSequenceClassification& m) {
    torch::NoGradGuard no_grad;
    MergedSave r;
    std::map<std::string, torch::Tensor> merged;  // "<linear>.weight" -> effective weight
    for (auto& [name, lin] : m->named_linears()) {
        if (!lin->adapter) {
            continue;
        }
        auto* a = dynamic_cast<Adapter*>(lin->adapter.get());
        GK_CHECK(a != nullptr,
                 name + ": a " + lin->adapter->kind() + " adapter has no effective weight to save");
        merged[name + ".weight"] = a->effective_weight(*lin);
        ++r.merged_linears;
    }
    fs::make_dirs(dir);
    torch::OrderedDict<std::string, torch::Tensor>
        params;  // the HF tensors, merged weights in place
    for (auto& item : m->named_parameters(/*recurse=*/true)) {
        const std::string& key = item.key();
        if (key.find(".lora_A.") != std::string::npos ||
            key.find(".lora_B.") != std::string::npos) {
            continue;  // folded into the weight above; not an HF tensor
        }
        auto it = merged.find(key);
        if (it == merged.end() && item.value().requires_grad()) {
            r.trainable_params += item.value().numel();
        }
        params.insert(key, it != merged.end() ? it->second : item.value());
    }
    model::write_parameters(fs::join(dir, "model.safetensors"), params);
    model::ModernBertConfig c = m->config();
    c.architectures = {"ModernBertForSequenceClassification"};
    fs::write_file_atomic(fs::join(dir, "config.json"), model::to_hf_json(c).dump(2) + "\n");
    return r;
}

}  // namespace gk::adapters
