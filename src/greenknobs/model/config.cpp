// See config.h. Defaults are HF's ModernBertConfig defaults, so a config.json that omits a key
// means what it means to HF.
#include "greenknobs/model/config.h"

#include <cmath>
#include <cstdio>

#include <unistd.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/json_strict.h"

namespace gk::model {
namespace {

const char* kGlobal = "full_attention";
const char* kLocal = "sliding_attention";

template <typename T>
void read_key(const nlohmann::json& j, const char* key, T& out, const std::string& origin);

template <>
void read_key<int64_t>(const nlohmann::json& j, const char* key, int64_t& out,
                       const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) {
        return;
    }
    const auto& v = j[key];
    if (v.is_number_integer()) {
        out = v.get<int64_t>();
    } else if (v.is_number_float() && std::fabs(v.get<double>()) < 9.0e18 &&
               v.get<double>() == std::trunc(v.get<double>())) {
        out = static_cast<int64_t>(v.get<double>());
    } else {
        throw InputError(origin, key, "expected an integer, got " + v.dump());
    }
}

template <>
void read_key<double>(const nlohmann::json& j, const char* key, double& out,
                      const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) {
        return;
    }
    if (!j[key].is_number() || !std::isfinite(j[key].get<double>())) {
        throw InputError(origin, key, "expected a finite number, got " + j[key].dump());
    }
    out = j[key].get<double>();
}

template <>
void read_key<bool>(const nlohmann::json& j, const char* key, bool& out,
                    const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) {
        return;
    }
    if (!j[key].is_boolean()) {
        throw InputError(origin, key, "expected true or false, got " + j[key].dump());
    }
    out = j[key].get<bool>();
}

template <>
void read_key<std::string>(const nlohmann::json& j, const char* key, std::string& out,
                           const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) {
        return;
    }
    if (!j[key].is_string()) {
        throw InputError(origin, key, "expected a string, got " + j[key].dump());
    }
    out = j[key].get<std::string>();
}

void check_activation(const std::string& act, const std::string& origin, const char* key) {
    if (act != "gelu" && act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "relu" &&
        act != "silu" && act != "gelu_python") {
        throw InputError(origin, key,
                         "unsupported activation '" + act +
                             "' (expected gelu, gelu_pytorch_tanh, gelu_new, "
                             "relu or silu)");
    }
}

// fp32 parameter bytes of the model a config describes (embeddings, layers, head, classifier),
// in long double so absurd sizes cannot overflow; an estimate for bounding allocations.
long double weight_bytes_estimate(const ModernBertConfig& c) {
    const long double h = static_cast<long double>(c.hidden_size);
    const long double i = static_cast<long double>(c.intermediate_size);
    const long double layer = h * 3 * h + h * h + h * 2 * i + i * h + 4 * h;
    const long double params = static_cast<long double>(c.vocab_size) * h +
                               static_cast<long double>(c.num_hidden_layers) * layer + h * h +
                               3 * h + static_cast<long double>(c.num_labels) * (h + 1);
    return params * 4;
}

// Physical memory of this machine in bytes (0 if unknown).
long double ram_bytes() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? static_cast<long double>(pages) * page : 0;
}

std::string bytes_text(long double b) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0Lf bytes (%.3Lg GB)", b, b / 1e9);
    return buf;
}

}  // namespace

bool ModernBertConfig::is_global_layer(int64_t i) const {
    if (i >= 0 && i < static_cast<int64_t>(layer_types.size())) {
        return layer_types[i] == kGlobal;
    }
    return original_layer_id(i) % global_attn_every_n_layers == 0;
}

int64_t ModernBertConfig::original_layer_id(int64_t i) const {
    if (i >= 0 && i < static_cast<int64_t>(layer_ids.size())) {
        return layer_ids[i];
    }
    return i;
}

void ModernBertConfig::finalize(const std::string& origin) {
    auto positive = [&](int64_t v, const char* key) {
        if (v <= 0) {
            throw InputError(origin, key, "must be > 0, got " + std::to_string(v));
        }
    };
    positive(vocab_size, "vocab_size");
    positive(hidden_size, "hidden_size");
    positive(intermediate_size, "intermediate_size");
    positive(num_hidden_layers, "num_hidden_layers");
    positive(num_attention_heads, "num_attention_heads");
    positive(global_attn_every_n_layers, "global_attn_every_n_layers");
    positive(local_attention, "local_attention");
    positive(num_labels, "num_labels");
    positive(max_position_embeddings, "max_position_embeddings");
    if (hidden_size % num_attention_heads != 0) {
        throw InputError(origin, "hidden_size",
                         std::to_string(hidden_size) +
                             " is not a multiple of num_attention_heads " +
                             std::to_string(num_attention_heads));
    }
    if (head_dim() % 2 != 0) {
        throw InputError(
            origin, "hidden_size",
            "head_dim " + std::to_string(head_dim()) + " must be even for rotary embeddings");
    }
    if (classifier_pooling != "cls" && classifier_pooling != "mean") {
        throw InputError(origin, "classifier_pooling",
                         "expected \"cls\" or \"mean\", got \"" + classifier_pooling + "\"");
    }
    check_activation(hidden_activation, origin, "hidden_activation");
    check_activation(classifier_activation, origin, "classifier_activation");
    if (norm_eps <= 0) {
        throw InputError(origin, "norm_eps", "must be > 0");
    }
    if (global_rope_theta <= 0 || local_rope_theta <= 0) {
        throw InputError(origin, "global_rope_theta", "rope thetas must be > 0");
    }
    if (pad_token_id >= vocab_size) {
        throw InputError(origin, "pad_token_id",
                         std::to_string(pad_token_id) + " is not below vocab_size " +
                             std::to_string(vocab_size));
    }
    // Empty lists mean "derived": ids 0..n-1, types from the every-n rule. So a preset whose depth
    // or rule is changed afterwards stays consistent; only explicit lists (a pruned model, HF's
    // layer_types) are checked.
    if (!layer_ids.empty() && static_cast<int64_t>(layer_ids.size()) != num_hidden_layers) {
        throw InputError(origin, "greenknobs_layer_ids",
                         "has " + std::to_string(layer_ids.size()) +
                             " ids but num_hidden_layers is " + std::to_string(num_hidden_layers));
    }
    for (size_t i = 0; i < layer_ids.size(); ++i) {
        if (layer_ids[i] < 0 || (i > 0 && layer_ids[i] <= layer_ids[i - 1])) {
            throw InputError(origin, "greenknobs_layer_ids",
                             "ids must be >= 0 and strictly increasing");
        }
    }
    if (!layer_types.empty() && static_cast<int64_t>(layer_types.size()) != num_hidden_layers) {
        throw InputError(origin, "layer_types",
                         "has " + std::to_string(layer_types.size()) +
                             " entries but num_hidden_layers is " +
                             std::to_string(num_hidden_layers));
    }
    for (const auto& t : layer_types) {
        if (t != kGlobal && t != kLocal) {
            throw InputError(
                origin, "layer_types",
                "expected \"full_attention\" or \"sliding_attention\", got \"" + t + "\"");
        }
    }
    if (!id2label.empty() && static_cast<int64_t>(id2label.size()) != num_labels) {
        throw InputError(origin, "id2label",
                         "has " + std::to_string(id2label.size()) + " labels but num_labels is " +
                             std::to_string(num_labels));
    }
    for (const auto& [id, label] : id2label) {
        if (id < 0 || id >= num_labels) {
            throw InputError(origin, "id2label",
                             "label id " + std::to_string(id) + " is not in 0.." +
                                 std::to_string(num_labels - 1));
        }
    }
    // Bound the sizes before anything is allocated: the weights alone must fit in this machine's
    // memory (training needs about 4x that with AdamW's state and the gradients).
    const long double weights = weight_bytes_estimate(*this);
    const long double ram = ram_bytes();
    if (ram > 0 && weights > ram) {
        throw InputError(origin, "hidden_size",
                         "model too large for this machine: its fp32 weights alone need " +
                             bytes_text(weights) + ", this machine has " + bytes_text(ram) +
                             " of memory (hidden_size " + std::to_string(hidden_size) +
                             ", intermediate_size " + std::to_string(intermediate_size) +
                             ", num_hidden_layers " + std::to_string(num_hidden_layers) +
                             ", vocab_size " + std::to_string(vocab_size) + ")");
    }
}

ModernBertConfig config_from_json(const nlohmann::json& j, const std::string& origin) {
    if (!j.is_object()) {
        throw InputError(origin, "", "expected a JSON object");
    }
    if (!j.contains("model_type")) {
        throw InputError(origin, "model_type",
                         "missing: a config.json says what it is (expected \"modernbert\")");
    }
    if (j["model_type"] != "modernbert") {
        throw InputError(origin, "model_type",
                         "expected \"modernbert\", got " + j["model_type"].dump());
    }
    // The keys that give the weights their shapes are required: HF would default them to
    // ModernBERT-base's, and a mismatch would then be blamed on the weights. The others default as
    // in HF's ModernBertConfig (docs/input-rules.md).
    for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads"}) {
        if (!j.contains(key) || j[key].is_null()) {
            throw InputError(origin, key,
                             "missing (required: it sets the weights' shapes; HF's default is "
                             "ModernBERT-base's)");
        }
    }
    ModernBertConfig c;
    read_key(j, "vocab_size", c.vocab_size, origin);
    read_key(j, "hidden_size", c.hidden_size, origin);
    read_key(j, "intermediate_size", c.intermediate_size, origin);
    read_key(j, "num_hidden_layers", c.num_hidden_layers, origin);
    read_key(j, "num_attention_heads", c.num_attention_heads, origin);
    read_key(j, "hidden_activation", c.hidden_activation, origin);
    read_key(j, "max_position_embeddings", c.max_position_embeddings, origin);
    read_key(j, "initializer_range", c.initializer_range, origin);
    read_key(j, "initializer_cutoff_factor", c.initializer_cutoff_factor, origin);
    // Some hand-written configs (the bundled tiny checkpoints) say layer_norm_eps; HF reads
    // norm_eps.
    read_key(j, "layer_norm_eps", c.norm_eps, origin);
    read_key(j, "norm_eps", c.norm_eps, origin);
    read_key(j, "norm_bias", c.norm_bias, origin);
    read_key(j, "pad_token_id", c.pad_token_id, origin);
    read_key(j, "eos_token_id", c.eos_token_id, origin);
    read_key(j, "bos_token_id", c.bos_token_id, origin);
    read_key(j, "cls_token_id", c.cls_token_id, origin);
    read_key(j, "sep_token_id", c.sep_token_id, origin);
    read_key(j, "attention_bias", c.attention_bias, origin);
    read_key(j, "attention_dropout", c.attention_dropout, origin);
    read_key(j, "global_attn_every_n_layers", c.global_attn_every_n_layers, origin);
    read_key(j, "global_rope_theta", c.global_rope_theta, origin);
    read_key(j, "local_rope_theta", c.local_rope_theta, origin);
    // Newer HF writes the thetas under rope_parameters.{full,sliding}_attention.rope_theta.
    if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
        const auto& rp = j["rope_parameters"];
        if (rp.contains(kGlobal) && rp[kGlobal].is_object()) {
            read_key(rp[kGlobal], "rope_theta", c.global_rope_theta, origin);
        }
        if (rp.contains(kLocal) && rp[kLocal].is_object()) {
            read_key(rp[kLocal], "rope_theta", c.local_rope_theta, origin);
        }
    }
    read_key(j, "local_attention", c.local_attention, origin);
    read_key(j, "embedding_dropout", c.embedding_dropout, origin);
    read_key(j, "mlp_bias", c.mlp_bias, origin);
    read_key(j, "mlp_dropout", c.mlp_dropout, origin);
    read_key(j, "classifier_pooling", c.classifier_pooling, origin);
    read_key(j, "classifier_dropout", c.classifier_dropout, origin);
    read_key(j, "classifier_bias", c.classifier_bias, origin);
    read_key(j, "classifier_activation", c.classifier_activation, origin);
    read_key(j, "decoder_bias", c.decoder_bias, origin);
    read_key(j, "tie_word_embeddings", c.tie_word_embeddings, origin);
    if (j.contains("architectures") && j["architectures"].is_array()) {
        c.architectures.clear();
        for (const auto& a : j["architectures"]) {
            if (!a.is_string()) {
                throw InputError(origin, "architectures", "expected strings");
            }
            c.architectures.push_back(a.get<std::string>());
        }
    }
    if (j.contains("id2label") && j["id2label"].is_object()) {
        for (const auto& [k, v] : j["id2label"].items()) {
            int64_t id = 0;
            try {
                size_t used = 0;
                id = std::stoll(k, &used);
                if (used != k.size()) {
                    throw std::invalid_argument(k);
                }
            } catch (const std::exception&) {
                throw InputError(origin, "id2label", "key \"" + k + "\" is not an integer");
            }
            if (!v.is_string()) {
                throw InputError(origin, "id2label." + k, "expected a string");
            }
            c.id2label[id] = v.get<std::string>();
        }
        c.num_labels = static_cast<int64_t>(c.id2label.size());
    }
    read_key(j, "num_labels", c.num_labels, origin);
    if (j.contains("greenknobs_layer_ids")) {
        if (!j["greenknobs_layer_ids"].is_array()) {
            throw InputError(origin, "greenknobs_layer_ids", "expected an array of integers");
        }
        for (const auto& v : j["greenknobs_layer_ids"]) {
            if (!v.is_number_integer()) {
                throw InputError(origin, "greenknobs_layer_ids",
                                 "expected integers, got " + v.dump());
            }
            c.layer_ids.push_back(v.get<int64_t>());
        }
    }
    if (j.contains("layer_types") && !j["layer_types"].is_null()) {
        if (!j["layer_types"].is_array()) {
            throw InputError(origin, "layer_types", "expected an array of strings");
        }
        for (const auto& v : j["layer_types"]) {
            if (!v.is_string()) {
                throw InputError(origin, "layer_types", "expected strings, got " + v.dump());
            }
            c.layer_types.push_back(v.get<std::string>());
        }
    }
    c.finalize(origin);
    return c;
}

ModernBertConfig load_config(const std::string& path) {
    // UTF-8, no byte order mark, no duplicate keys (nlohmann would keep the last silently).
    nlohmann::json j = parse_json_strict(fs::read_file(path), path);
    return config_from_json(j, path);
}

nlohmann::json to_hf_json(const ModernBertConfig& c) {
    nlohmann::json j;
    j["architectures"] = c.architectures;
    j["model_type"] = "modernbert";
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["hidden_activation"] = c.hidden_activation;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["initializer_range"] = c.initializer_range;
    j["initializer_cutoff_factor"] = c.initializer_cutoff_factor;
    j["norm_eps"] = c.norm_eps;
    j["norm_bias"] = c.norm_bias;
    j["pad_token_id"] = c.pad_token_id;
    j["eos_token_id"] = c.eos_token_id;
    j["bos_token_id"] = c.bos_token_id;
    j["cls_token_id"] = c.cls_token_id;
    j["sep_token_id"] = c.sep_token_id;
    j["attention_bias"] = c.attention_bias;
    j["attention_dropout"] = c.attention_dropout;
    j["global_attn_every_n_layers"] = c.global_attn_every_n_layers;
    j["global_rope_theta"] = c.global_rope_theta;
    j["local_rope_theta"] = c.local_rope_theta;
    j["local_attention"] = c.local_attention;
    j["embedding_dropout"] = c.embedding_dropout;
    j["mlp_bias"] = c.mlp_bias;
    j["mlp_dropout"] = c.mlp_dropout;
    j["classifier_pooling"] = c.classifier_pooling;
    j["classifier_dropout"] = c.classifier_dropout;
    j["classifier_bias"] = c.classifier_bias;
    j["classifier_activation"] = c.classifier_activation;
    j["num_labels"] = c.num_labels;
    j["decoder_bias"] = c.decoder_bias;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    nlohmann::json id2label = nlohmann::json::object();
    nlohmann::json label2id = nlohmann::json::object();
    for (int64_t i = 0; i < c.num_labels; ++i) {
        auto it = c.id2label.find(i);
        std::string name = it != c.id2label.end() ? it->second : "LABEL_" + std::to_string(i);
        id2label[std::to_string(i)] = name;
        label2id[name] = i;
    }
    j["id2label"] = id2label;
    j["label2id"] = label2id;
    // HF >= 4.5x reads layer_types for the rotary θ of each layer; HF still picks the sliding
    // window from the layer's position (i % global_attn_every_n_layers), so a bottom-pruned model
    // computes as saved only here.
    std::vector<std::string> types;
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        types.push_back(c.is_global_layer(i) ? kGlobal : kLocal);
        ids.push_back(c.original_layer_id(i));
    }
    j["layer_types"] = types;
    j["greenknobs_layer_ids"] = ids;
    j["torch_dtype"] = "float32";
    return j;
}

std::string ModernBertConfig::architecture() const {
    for (const auto& a : architectures) {
        if (a == "ModernBertForMaskedLM" || a == "ModernBertForSequenceClassification" ||
            a == "ModernBertModel") {
            return a;
        }
    }
    return "ModernBertForSequenceClassification";
}

std::vector<std::string> preset_names() { return {"base", "cpu-small", "cpu-tiny", "test-tiny"}; }

ModernBertConfig preset(const std::string& name) {
    ModernBertConfig c;  // HF defaults = ModernBERT-base (data/modernbert/config.json)
    c.classifier_pooling = "mean";
    c.num_labels = 2;
    if (name == "base") {
        // as is
    } else if (name == "cpu-small") {
        c.num_hidden_layers = 22;
        c.hidden_size = 64;
        c.num_attention_heads = 4;
        c.intermediate_size = 128;
    } else if (name == "cpu-tiny") {
        c.num_hidden_layers = 22;
        c.hidden_size = 32;
        c.num_attention_heads = 2;
        c.intermediate_size = 64;
    } else if (name == "test-tiny") {
        c.num_hidden_layers = 3;
        c.hidden_size = 32;
        c.num_attention_heads = 2;
        c.intermediate_size = 64;
    } else {
        throw InputError("model.preset", name,
                         "unknown preset (expected base, cpu-small, cpu-tiny or test-tiny)");
    }
    c.finalize("preset " + name);
    return c;
}

}  // namespace gk::model
