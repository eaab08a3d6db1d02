// HF checkpoints of the classifier: load_hf_checkpoint / save_hf (declared in modernbert.h), and
// the pieces every HF loader shares (checkpoint_io.h).
#include "greenknobs/model/checkpoint_io.h"

#include <set>

#include "greenknobs/model/config.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"

namespace gk::model {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        out += (i ? "," : "") + std::to_string(s[i]);
    }
    return out + "]";
}

torch::Tensor tensor_from(const SafetensorsFile& f, const StTensorInfo& t) {
    torch::ScalarType st;
    switch (t.dtype) {
        case StDtype::kF32:
            st = torch::kFloat;
            break;
        case StDtype::kF16:
            st = torch::kHalf;
            break;
        case StDtype::kBF16:
            st = torch::kBFloat16;
            break;
        case StDtype::kF64:
            st = torch::kDouble;
            break;
        default:
            throw InputError(f.origin(), t.name,
                             "dtype " + st_dtype_name(t.dtype) +
                                 " is not a floating-point weight (expected F32, "
                                 "BF16, F16 or F64)");
    }
    // from_blob does not own the bytes: clone, then widen to the model's fp32.
    auto raw =
        torch::from_blob(const_cast<char*>(f.data(t)), t.shape, torch::TensorOptions().dtype(st));
    return raw.to(torch::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

std::string checkpoint_architecture(const std::string& dir) {
    return load_config(fs::join(dir, "config.json")).architecture();
}

std::string hf_encoder_prefix(const SafetensorsFile& f) {
    return !f.find("model.embeddings.tok_embeddings.weight") &&
                   f.find("embeddings.tok_embeddings.weight")
               ? ""
               : "model.";
}

std::function<std::string(const std::string&)> hf_file_names(const std::string& encoder_prefix) {
    return [encoder_prefix](const std::string& ours) {
        return ours.rfind("model.", 0) == 0 ? encoder_prefix + ours.substr(6) : ours;
    };
}

std::set<std::string> copy_parameters(
    const SafetensorsFile& f, const torch::OrderedDict<std::string, torch::Tensor>& params,
    const std::function<std::string(const std::string&)>& file_name,
    const std::function<bool(const std::string&)>& skip, const std::string& weights_path,
    const std::string& config_path) {
    std::set<std::string> used;
    torch::NoGradGuard no_grad;
    for (const auto& item : params) {
        const std::string& ours = item.key();
        if (skip(ours)) {
            continue;
        }
        const std::string name = file_name(ours);
        const StTensorInfo* t = f.find(name);
        if (!t) {
            throw InputError(weights_path, name, "missing tensor (" + config_path + " implies it)");
        }
        std::vector<int64_t> want(item.value().sizes().begin(), item.value().sizes().end());
        if (t->shape != want) {
            throw InputError(weights_path, name,
                             "shape " + shape_str(t->shape) + " but " + config_path + " implies " +
                                 shape_str(want));
        }
        item.value().copy_(tensor_from(f, *t));
        used.insert(name);
    }
    return used;
}

void write_parameters(const std::string& path,
                      const torch::OrderedDict<std::string, torch::Tensor>& params) {
    std::vector<torch::Tensor> keep;  // owns the fp32 contiguous copies while writing
    std::vector<StTensorView> views;
    for (const auto& item : params) {
        torch::Tensor t = item.value().detach().to(torch::kCPU).to(torch::kFloat).contiguous();
        keep.push_back(t);
        StTensorView v;
        v.name = item.key();
        v.dtype = StDtype::kF32;
        v.shape.assign(t.sizes().begin(), t.sizes().end());
        v.data = t.data_ptr();
        v.nbytes = static_cast<size_t>(t.numel()) * sizeof(float);
        views.push_back(v);
    }
    write_safetensors(path, views, {{"format", "pt"}});
}

ModernBertForSequenceClassification load_hf_checkpoint(const std::string& dir) {
    const std::string config_path = fs::join(dir, "config.json");
    const std::string weights_path = fs::join(dir, "model.safetensors");
    ModernBertConfig c = load_config(config_path);
    SafetensorsFile f = SafetensorsFile::read(weights_path);

    const std::string prefix = hf_encoder_prefix(f);
    const auto file_name = hf_file_names(prefix);

    // Layers in the file beyond the config's depth: the config contradicts the weights.
    std::set<int64_t> file_layers;
    for (const auto& t : f.tensors()) {
        const std::string lp = prefix + "layers.";
        if (t.name.rfind(lp, 0) == 0) {
            const std::string rest = t.name.substr(lp.size());
            const size_t digits = rest.find_first_not_of("0123456789");
            if (digits == 0 || digits == std::string::npos || rest[digits] != '.') {
                throw InputError(weights_path, t.name, "expected " + lp + "<index>.<name>");
            }
            file_layers.insert(std::stoll(rest.substr(0, digits)));
        }
    }
    if (!file_layers.empty() && *file_layers.rbegin() >= c.num_hidden_layers) {
        throw InputError(weights_path, prefix + "layers." + std::to_string(*file_layers.rbegin()),
                         "the file has layer " + std::to_string(*file_layers.rbegin()) + " but " +
                             config_path +
                             " says num_hidden_layers = " + std::to_string(c.num_hidden_layers));
    }
    if (!f.find("classifier.weight") && c.architectures.size() == 1 &&
        c.architectures[0] == "ModernBertForSequenceClassification") {
        log::warn(weights_path +
                  ": no classifier in a ModernBertForSequenceClassification checkpoint; "
                  "a fresh one is initialised");
    }
    if (const StTensorInfo* cls = f.find("classifier.weight")) {
        if (!cls->shape.empty() && cls->shape[0] != c.num_labels) {
            throw InputError(weights_path, "classifier.weight",
                             "has " + std::to_string(cls->shape[0]) + " labels but " + config_path +
                                 " says num_labels = " + std::to_string(c.num_labels));
        }
    }

    ModernBertForSequenceClassification m(c);
    for (int64_t i = 0; i < m->num_layers(); ++i) {
        auto l = m->layer(i);
        if (!l->has_attn_norm() &&
            f.find(file_name("model.layers." + std::to_string(i) + ".attn_norm.weight"))) {
            l->add_attn_norm(c);  // e.g. data/tiny-modernbert-random: layer 0 carries an attn_norm
        }
    }

    auto group_present = [&](const std::string& group) {
        for (const auto& t : f.tensors()) {
            if (t.name.rfind(group, 0) == 0) {
                return true;
            }
        }
        return false;
    };
    // A masked-LM checkpoint (ModernBertForMaskedLM) starts a classifier as HF's
    // ModernBertForSequenceClassification.from_pretrained does: both classes name their prediction
    // head (dense, act, norm) `head`, so the encoder and the head are loaded; the decoder serves
    // only token prediction and is dropped; the classifier is freshly initialised.
    const bool from_mlm = c.architecture() == "ModernBertForMaskedLM";
    const bool have_head = group_present("head.");
    const bool have_classifier = group_present("classifier.");
    int64_t dropped_mlm = 0;

    // A ModernBertModel checkpoint keeps the freshly initialised head/classifier.
    const std::set<std::string> used = copy_parameters(
        f, m->named_parameters(/*recurse=*/true), file_name,
        [&](const std::string& ours) {
            return (ours.rfind("head.", 0) == 0 && !have_head) ||
                   (ours.rfind("classifier.", 0) == 0 && !have_classifier);
        },
        weights_path, config_path);
    for (const auto& t : f.tensors()) {
        if (used.count(t.name)) {
            continue;
        }
        if (from_mlm && t.name.rfind("decoder.", 0) == 0) {
            ++dropped_mlm;
            continue;
        }
        const bool encoder = prefix.empty() ? t.name.rfind("embeddings.", 0) == 0 ||
                                                  t.name.rfind("layers.", 0) == 0 ||
                                                  t.name.rfind("final_norm.", 0) == 0
                                            : t.name.rfind(prefix, 0) == 0;
        if (encoder || t.name.rfind("head.", 0) == 0 || t.name.rfind("classifier.", 0) == 0) {
            throw InputError(weights_path, t.name,
                             "tensor not used by the model " + config_path +
                                 " describes (e.g. a bias where "
                                 "the config says none)");
        }
        log::info(weights_path + ": ignoring " + t.name);
    }
    if (from_mlm) {
        m->mutable_config().architectures = {"ModernBertForSequenceClassification"};
        log::info(weights_path + ": masked-LM checkpoint: encoder and prediction head loaded (as " +
                  "HF's from_pretrained does); its decoder (" + std::to_string(dropped_mlm) +
                  " tensors) dropped; classifier freshly initialised");
    }
    return m;
}

void save_hf(const std::string& dir, ModernBertForSequenceClassification& m) {
    for (auto& [name, lin] : m->named_linears()) {
        // An attached adapter means the weights below are not what the model computes with (and
        // LoRA's own tensors are not HF names): merge first.
        GK_CHECK(lin->adapter == nullptr, "save_hf: " + name + " still has a " +
                                              lin->adapter->kind() +
                                              " adapter; merge adapters before saving");
    }
    fs::make_dirs(dir);
    write_parameters(fs::join(dir, "model.safetensors"), m->named_parameters(/*recurse=*/true));
    ModernBertConfig c = m->config();
    c.architectures = {"ModernBertForSequenceClassification"};
    fs::write_file_atomic(fs::join(dir, "config.json"), to_hf_json(c).dump(2) + "\n");
}

}  // namespace gk::model
