// ModernBertForMaskedLM (see masked_lm.h).
#include "greenknobs/model/masked_lm.h"

#include <cmath>
#include <set>

#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/checkpoint_io.h"
#include "greenknobs/model/safetensors.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"

namespace gk::model {

MlmDecoderImpl::MlmDecoderImpl(int64_t vocab_size, bool with_bias) {
    if (with_bias) {
        bias = register_parameter("bias", torch::zeros({vocab_size}));
    }
}

ModernBertForMaskedLMImpl::ModernBertForMaskedLMImpl(const ModernBertConfig& c) : config_(c) {
    if (!config_.tie_word_embeddings) {
        throw InputError("model config", "tie_word_embeddings",
                         "false is not supported: the masked-LM decoder shares the token "
                         "embeddings, as in HF's ModernBertForMaskedLM");
    }
    config_.architectures = {"ModernBertForMaskedLM"};
    encoder_ = ModernBertForSequenceClassification(config_);
    model = register_module("model", encoder_->model);
    head = register_module("head", encoder_->head);
    decoder = register_module("decoder", MlmDecoder(config_.vocab_size, config_.decoder_bias));
}

void ModernBertForMaskedLMImpl::train(bool on) {
    torch::nn::Module::train(on);
    encoder_->train(on);  // the owner's own flag (dropout decisions outside the submodules)
}

torch::Tensor ModernBertForMaskedLMImpl::predict(const torch::Tensor& states) {
    torch::Tensor h = head(states);
    const torch::Tensor& w = model->embeddings->tok_embeddings->weight;  // [vocab, H], tied
    torch::Tensor logits = model::linear(h, w, decoder->bias);
    return logits.scalar_type() == torch::kFloat ? logits : logits.to(torch::kFloat);
}

torch::Tensor ModernBertForMaskedLMImpl::forward(const torch::Tensor& input_ids,
                                                 const torch::Tensor& attention_mask) {
    return predict(encoder_->token_states(input_ids, attention_mask));  // [B, S, vocab]
}

torch::Tensor ModernBertForMaskedLMImpl::forward_at(const torch::Tensor& input_ids,
                                                    const torch::Tensor& attention_mask,
                                                    const torch::Tensor& select) {
    GK_CHECK(select.sizes() == input_ids.sizes(), "select must match input_ids' shape");
    torch::Tensor states = encoder_->token_states(input_ids, attention_mask);     // [B, S, H]
    torch::Tensor rows = torch::nonzero(select.reshape({-1})).reshape({-1});      // [N]
    return predict(states.reshape({-1, states.size(-1)}).index_select(0, rows));  // [N, vocab]
}

// ---- checkpoints ----

ModernBertForMaskedLM load_hf_masked_lm(const std::string& dir) {
    const std::string config_path = fs::join(dir, "config.json");
    const std::string weights_path = fs::join(dir, "model.safetensors");
    ModernBertConfig c = load_config(config_path);
    const std::string arch = c.architecture();
    if (arch == "ModernBertForSequenceClassification") {
        throw InputError(config_path, "architectures",
                         "a sequence-classification checkpoint has no masked-LM decoder (expected "
                         "ModernBertForMaskedLM or a bare ModernBertModel)");
    }
    SafetensorsFile f = SafetensorsFile::read(weights_path);
    const auto file_name = hf_file_names(hf_encoder_prefix(f));
    const bool bare = arch == "ModernBertModel";

    ModernBertForMaskedLM m(c);
    for (int64_t i = 0; i < m->num_layers(); ++i) {
        auto l = m->encoder()->layer(i);
        if (!l->has_attn_norm() &&
            f.find(file_name("model.layers." + std::to_string(i) + ".attn_norm.weight"))) {
            l->add_attn_norm(c);
        }
    }
    // A bare encoder keeps the fresh head and decoder bias.
    const std::set<std::string> used = copy_parameters(
        f, m->named_parameters(/*recurse=*/true), file_name,
        [&](const std::string& ours) {
            return bare && (ours.rfind("head.", 0) == 0 || ours.rfind("decoder.", 0) == 0);
        },
        weights_path, config_path);
    for (const auto& t : f.tensors()) {
        if (used.count(t.name)) {
            continue;
        }
        if (t.name == "decoder.weight") {
            // Tied: some writers store the copy anyway. Accept it only if it is the embeddings.
            torch::Tensor w = tensor_from(f, t);
            const auto& emb = m->model->embeddings->tok_embeddings->weight;
            if (w.sizes() != emb.sizes() || !torch::equal(w, emb)) {
                throw InputError(weights_path, t.name,
                                 "differs from model.embeddings.tok_embeddings.weight: untied "
                                 "decoders are not supported (tie_word_embeddings)");
            }
            continue;
        }
        throw InputError(weights_path, t.name,
                         "tensor not used by the masked-LM model " + config_path +
                             " describes (e.g. a bias where the config says none)");
    }
    if (bare) {
        log::info(weights_path +
                  ": bare encoder checkpoint: masked-LM head and decoder bias "
                  "freshly initialised");
    }
    return m;
}

void save_hf_masked_lm(const std::string& dir, ModernBertForMaskedLM& m) {
    fs::make_dirs(dir);
    write_parameters(fs::join(dir, "model.safetensors"), m->named_parameters(/*recurse=*/true));
    ModernBertConfig c = m->encoder()->config();  // pruned depth and layer ids included
    c.architectures = {"ModernBertForMaskedLM"};
    fs::write_file_atomic(fs::join(dir, "config.json"), to_hf_json(c).dump(2) + "\n");
}

}  // namespace gk::model
