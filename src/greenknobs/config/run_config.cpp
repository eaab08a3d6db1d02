// RunConfig serialisation. Strictness lives in merge_json: the defaults' JSON is the schema, so a
// key that is not there, or a value of another type, is an InputError that names the file and the
// key.
#include "greenknobs/config/run_config.h"

#include <charconv>
#include <cmath>
#include <sstream>

#include <toml++/toml.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/text_check.h"

namespace gk::config {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DataConfig, path, format, mode, validation_fraction,
                                                test_fraction, max_train_samples, max_eval_samples,
                                                dedup, near_dup_threshold)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TokenizerConfig, path, max_length, threads, cache,
                                                cache_dir)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ModelConfig, preset, init, init_from, pooling,
                                                prune_layers, prune_from, attention, unpad,
                                                group_rows, fused_attention, bf16_matmul)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LoraConfig, enabled, r, alpha, dropout, targets,
                                                merge)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(QuantizationConfig, bits, block_size)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, epochs, batch_size, grad_accum, lr,
                                                weight_decay, warmup_ratio, max_grad_norm,
                                                optimizer, precision, grad_checkpointing,
                                                loader_workers, pin_memory, group_by_length,
                                                early_stopping_patience, validate_epochs, compile,
                                                seed, validation_batch_size,
                                                validation_bucket_by_length)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(InferenceConfig, engine, dtype, batch_size,
                                                bucket_by_length, score_validation)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SystemConfig, device, threads, power_limit_w)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EnergyConfig, sample_period_s, idle_baseline_s,
                                                country, carbon_g_per_kwh, pue, cpu_tdp_w, scope)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunConfig, name, knobs, data, tokenizer, model,
                                                lora, quantization, train, inference, system,
                                                energy)

namespace {

const char* type_name(const nlohmann::json& v) {
    if (v.is_boolean()) {
        return "boolean";
    }
    if (v.is_number_integer()) {
        return "integer";
    }
    if (v.is_number()) {
        return "number";
    }
    if (v.is_string()) {
        return "string";
    }
    if (v.is_array()) {
        return "array";
    }
    if (v.is_object()) {
        return "table";
    }
    return "null";
}

// Can a value of `v`'s type stand where `schema`'s type is expected?
bool compatible(const nlohmann::json& schema, const nlohmann::json& v) {
    if (schema.is_number_float()) {
        return v.is_number();
    }
    if (schema.is_number_unsigned()) {
        return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    }
    if (schema.is_number_integer()) {
        return v.is_number_integer();
    }
    if (schema.is_array()) {
        return v.is_array();
    }
    return schema.type() == v.type();
}

nlohmann::json toml_node_to_json(const toml::node& n) {
    if (auto* t = n.as_table()) {
        nlohmann::json o = nlohmann::json::object();
        for (auto&& [k, v] : *t) {
            o[std::string(k.str())] = toml_node_to_json(v);
        }
        return o;
    }
    if (auto* a = n.as_array()) {
        nlohmann::json arr = nlohmann::json::array();
        for (auto&& v : *a) {
            arr.push_back(toml_node_to_json(v));
        }
        return arr;
    }
    if (auto* s = n.as_string()) {
        return s->get();
    }
    if (auto* i = n.as_integer()) {
        return i->get();
    }
    if (auto* f = n.as_floating_point()) {
        return f->get();
    }
    if (auto* b = n.as_boolean()) {
        return b->get();
    }
    // Dates and times: no key takes one; say where rather than passing a null on.
    const auto& src = n.source();
    throw InputError(src.path ? std::string(*src.path) : std::string("TOML"),
                     std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column),
                     "a date or time value; no key takes one");
}

// The first leaf where `a` and `b` differ ("train.epochs"), or "".
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b,
                             const std::string& prefix) {
    if (a.is_object() && b.is_object()) {
        for (auto it = a.begin(); it != a.end(); ++it) {
            const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
            if (!b.contains(it.key())) {
                return key;
            }
            std::string d = first_difference(it.value(), b[it.key()], key);
            if (!d.empty()) {
                return d;
            }
        }
        return "";
    }
    return a == b ? "" : prefix;
}

// The merged JSON as a RunConfig, refusing values that do not survive the conversion (an integer
// beyond the field's range would otherwise wrap silently, e.g. epochs = 4294967297 → 1).
// Every closed-set key holds one of its spellings (choices.h), checked here so that the error names
// the key; the enums' from_json could not.
template <typename E>
void check_spelling(const nlohmann::json& merged, const char* section, const char* key,
                    const std::string& origin) {
    const nlohmann::json& v = merged.at(section).at(key);
    if (v.is_string()) {
        parse_or_throw<E>(v.get<std::string>(), origin, std::string(section) + "." + key);
    }
}

RunConfig decode(const nlohmann::json& merged, const std::string& origin) {
    check_spelling<DataFormat>(merged, "data", "format", origin);
    check_spelling<DataMode>(merged, "data", "mode", origin);
    check_spelling<Dedup>(merged, "data", "dedup", origin);
    check_spelling<WeightsInit>(merged, "model", "init", origin);
    check_spelling<EnergyScope>(merged, "energy", "scope", origin);
    check_spelling<Pooling>(merged, "model", "pooling", origin);
    check_spelling<PruneFrom>(merged, "model", "prune_from", origin);
    check_spelling<Attention>(merged, "model", "attention", origin);
    check_spelling<Bf16Matmul>(merged, "model", "bf16_matmul", origin);
    check_spelling<Optimizer>(merged, "train", "optimizer", origin);
    check_spelling<Precision>(merged, "train", "precision", origin);
    check_spelling<Compile>(merged, "train", "compile", origin);
    check_spelling<Engine>(merged, "inference", "engine", origin);
    check_spelling<EvalDtype>(merged, "inference", "dtype", origin);
    check_spelling<Device>(merged, "system", "device", origin);
    RunConfig c = merged.get<RunConfig>();
    const nlohmann::json back = to_json(c);
    const std::string key = first_difference(merged, back, "");
    if (!key.empty()) {
        std::string shown;
        try {
            std::string p = "/" + key;
            for (auto& ch : p) {
                ch = ch == '.' ? '/' : ch;
            }
            shown = merged.at(nlohmann::json::json_pointer(p)).dump();
        } catch (const std::exception&) {
            shown = "the value";
        }
        throw InputError(origin, key, shown + " is out of range for this key");
    }
    return c;
}

std::string toml_value(const nlohmann::json& v) {
    if (v.is_string()) {
        return nlohmann::json(v.get<std::string>())
            .dump();  // JSON string escaping is valid TOML basic string
    }
    if (v.is_number_float()) {
        // Shortest text that reads back to the same double (1e-4, not 0.00010000000000000000479).
        char buf[64];
        auto res = std::to_chars(buf, buf + sizeof buf, v.get<double>());
        std::string s(buf, res.ptr);
        if (s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos &&
            s.find("nan") == std::string::npos) {
            s += ".0";
        }
        return s;
    }
    if (v.is_array()) {
        std::string out = "[";
        for (size_t i = 0; i < v.size(); ++i) {
            out += (i ? ", " : "") + toml_value(v[i]);
        }
        return out + "]";
    }
    return v.dump();
}

void require(bool ok, const std::string& origin, const std::string& key, const std::string& what) {
    if (!ok) {
        throw InputError(origin, key, what);
    }
}

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed) {
        if (v == a) {
            return true;
        }
    }
    return false;
}

std::string choices(std::initializer_list<const char*> allowed) {
    std::string s;
    for (const char* a : allowed) {
        s += (s.empty() ? "" : " | ") + std::string(a);
    }
    return s;
}

#define GK_REQUIRE_ONE_OF(value, key, ...)             \
    require(one_of(value, {__VA_ARGS__}), origin, key, \
            "got '" + (value) + "', expected one of " + choices({__VA_ARGS__}))

}  // namespace

std::string pretrained_dir(const std::string& preset) {
    return "data/pretrained/" + preset + "-code";
}

nlohmann::json to_json(const RunConfig& c) {
    nlohmann::json j = c;
    return j;
}

void merge_json(nlohmann::json& base, const nlohmann::json& overlay, const std::string& origin,
                const std::string& prefix) {
    if (!overlay.is_object()) {
        throw InputError(origin, prefix.empty() ? "(top level)" : prefix, "expected a table");
    }
    for (auto it = overlay.begin(); it != overlay.end(); ++it) {
        std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
        if (!base.contains(it.key())) {
            throw InputError(origin, key, "unknown key");
        }
        nlohmann::json& target = base[it.key()];
        if (target.is_object()) {
            merge_json(target, it.value(), origin, key);
            continue;
        }
        if (!compatible(target, it.value())) {
            throw InputError(
                origin, key,
                std::string("expected ") +
                    (target.is_number_unsigned() ? "a non-negative integer" : type_name(target)) +
                    ", got " + type_name(it.value()) + " " + it.value().dump());
        }
        if (target.is_array()) {
            for (const auto& e : it.value()) {
                if (!e.is_string()) {
                    throw InputError(origin, key, "expected an array of strings");
                }
            }
        }
        if (target.is_number_float()) {
            if (!std::isfinite(it.value().get<double>())) {
                throw InputError(origin, key, "expected a finite number, got " + it.value().dump());
            }
            target = it.value().get<double>();
        } else {
            target = it.value();
        }
    }
}

RunConfig from_json(const nlohmann::json& j, const std::string& origin) {
    nlohmann::json merged = to_json(RunConfig{});
    merge_json(merged, j, origin);
    RunConfig c = decode(merged, origin);
    validate(c, origin);
    return c;
}

nlohmann::json toml_to_json(const std::string& text, const std::string& origin) {
    const std::string enc = foreign_encoding(text);
    if (!enc.empty() && enc != "a UTF-8 byte order mark") {
        throw InputError(
            origin, "1",
            "starts with " + enc + ": TOML is UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)");
    }
    try {
        toml::table t = toml::parse(text, origin);
        return toml_node_to_json(t);
    } catch (const toml::parse_error& e) {
        const auto& src = e.source();
        throw InputError(origin,
                         std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column),
                         std::string(e.description()));
    }
}

RunConfig load_toml(const std::string& path, const RunConfig& base) {
    nlohmann::json j = toml_to_json(fs::read_file(path), path);
    if (j.empty()) {
        throw InputError(path, "",
                         "no settings: the file is empty or only comments (to run on the defaults, "
                         "leave out --config; `greenknobs train --print-config` lists every key)");
    }
    nlohmann::json merged = to_json(base);
    merge_json(merged, j, path);
    RunConfig c = decode(merged, path);
    validate(c, path);
    return c;
}

void apply_set_json(nlohmann::json& j, const std::string& assignment) {
    const std::string origin = "--set";
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
        throw InputError(origin, assignment, "expected section.key=value");
    }
    std::string key = assignment.substr(0, eq);
    std::string value = assignment.substr(eq + 1);
    // Config strings end up in run records and TOML files, both UTF-8.
    if (std::string problem = utf8_problem(value); !problem.empty()) {
        throw InputError(origin, key, "the value is " + problem);
    }
    // Walk to the parent object, checking each part exists.
    nlohmann::json* node = &j;
    std::string part;
    std::istringstream parts(key);
    std::vector<std::string> path;
    while (std::getline(parts, part, '.')) {
        path.push_back(part);
    }
    if (path.empty()) {
        throw InputError(origin, key, "unknown key");
    }
    for (size_t i = 0; i + 1 < path.size(); ++i) {
        if (!node->is_object() || !node->contains(path[i])) {
            throw InputError(origin, key, "unknown key");
        }
        node = &(*node)[path[i]];
    }
    if (!node->is_object() || !node->contains(path.back()) || (*node)[path.back()].is_object()) {
        throw InputError(origin, key, "unknown key");
    }
    const nlohmann::json& current = (*node)[path.back()];
    nlohmann::json parsed;
    if (current.is_string()) {
        parsed = value;
    } else if (current.is_array()) {
        parsed = nlohmann::json::array();
        std::istringstream items(value);
        std::string item;
        while (std::getline(items, item, ',')) {
            if (!item.empty()) {
                parsed.push_back(item);
            }
        }
    } else {
        // Numbers and booleans: parse as a TOML value so 1e-4, true and 3 all work.
        nlohmann::json t = toml_to_json("v = " + value, origin + " " + key);
        parsed = t["v"];
    }
    nlohmann::json overlay = parsed;
    for (size_t i = path.size(); i-- > 0;) {
        overlay = nlohmann::json{{path[i], overlay}};
    }
    merge_json(j, overlay, origin);
}

void apply_set(RunConfig& c, const std::string& assignment) {
    nlohmann::json j = to_json(c);
    apply_set_json(j, assignment);
    RunConfig out = decode(j, "--set");
    validate(out, "--set");
    c = out;
}

void validate(const RunConfig& c, const std::string& origin) {
    require(c.data.validation_fraction >= 0 && c.data.test_fraction > 0 &&
                c.data.validation_fraction + c.data.test_fraction < 1,
            origin, "data.validation_fraction",
            "fractions must be in [0,1) with test > 0 and validation + test < 1");
    require(c.data.max_train_samples >= 0, origin, "data.max_train_samples", "must be >= 0");
    require(c.data.max_eval_samples >= 0, origin, "data.max_eval_samples", "must be >= 0");
    require(c.data.near_dup_threshold > 0 && c.data.near_dup_threshold <= 1, origin,
            "data.near_dup_threshold", "must be in (0,1]");
    require(c.tokenizer.max_length >= 8 && c.tokenizer.max_length <= 8192, origin,
            "tokenizer.max_length", "must be in [8, 8192]");
    require(c.tokenizer.threads >= 0, origin, "tokenizer.threads", "must be >= 0");
    GK_REQUIRE_ONE_OF(c.model.preset, "model.preset", "base", "cpu-small", "cpu-tiny", "test-tiny");
    require(c.model.prune_layers >= 0, origin, "model.prune_layers", "must be >= 0");
    require(c.lora.r >= 1 && c.lora.r <= 1024, origin, "lora.r", "must be in [1, 1024]");
    require(c.lora.alpha > 0, origin, "lora.alpha", "must be > 0");
    require(c.lora.dropout >= 0 && c.lora.dropout < 1, origin, "lora.dropout", "must be in [0,1)");
    for (const auto& t : c.lora.targets) {
        GK_REQUIRE_ONE_OF(t, "lora.targets", "attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo",
                          "head.dense");
    }
    require(!c.lora.enabled || !c.lora.targets.empty(), origin, "lora.targets",
            "LoRA needs at least one target");
    require(c.quantization.bits == 0 || c.quantization.bits == 8 || c.quantization.bits == 4,
            origin, "quantization.bits",
            "got " + std::to_string(c.quantization.bits) + ", expected 0, 4 or 8");
    require(c.quantization.block_size >= 16 && c.quantization.block_size <= 4096, origin,
            "quantization.block_size", "must be in [16, 4096]");
    require(c.quantization.bits == 0 || c.lora.enabled, origin, "quantization.bits",
            "quantized base weights are frozen: enable lora (the QLoRA recipe)");
    require(c.train.epochs >= 1, origin, "train.epochs", "must be >= 1");
    require(c.train.batch_size >= 1, origin, "train.batch_size", "must be >= 1");
    require(c.train.grad_accum >= 1, origin, "train.grad_accum", "must be >= 1");
    require(c.train.lr > 0 && c.train.lr < 1, origin, "train.lr", "must be in (0,1)");
    require(c.train.weight_decay >= 0, origin, "train.weight_decay", "must be >= 0");
    require(c.train.warmup_ratio >= 0 && c.train.warmup_ratio < 1, origin, "train.warmup_ratio",
            "must be in [0,1)");
    require(c.train.max_grad_norm >= 0, origin, "train.max_grad_norm", "must be >= 0 (0 = off)");
    require(c.train.loader_workers >= 0 && c.train.loader_workers <= 64, origin,
            "train.loader_workers", "must be in [0, 64]");
    require(c.train.early_stopping_patience >= 0, origin, "train.early_stopping_patience",
            "must be >= 0");
    require(c.train.validate_epochs || c.train.early_stopping_patience == 0, origin,
            "train.validate_epochs",
            "early stopping (train.early_stopping_patience > 0) needs the per-epoch validation");
    require(c.train.validation_batch_size >= 1, origin, "train.validation_batch_size",
            "must be >= 1");
    require(c.inference.dtype != EvalDtype::kInt8 || c.inference.engine == Engine::kPacked, origin,
            "inference.dtype", "int8 needs inference.engine = packed");
    require(c.inference.batch_size >= 1, origin, "inference.batch_size", "must be >= 1");
    require(c.system.threads >= 0, origin, "system.threads", "must be >= 0");
    require(c.system.power_limit_w >= 0, origin, "system.power_limit_w", "must be >= 0");
    require(c.energy.sample_period_s >= 0.001 && c.energy.sample_period_s <= 10, origin,
            "energy.sample_period_s", "must be in [0.001, 10]");
    require(c.energy.idle_baseline_s >= 0, origin, "energy.idle_baseline_s", "must be >= 0");
    require(c.energy.pue >= 1.0 && c.energy.pue <= 3.0, origin, "energy.pue", "must be in [1, 3]");
    require(c.energy.carbon_g_per_kwh >= 0, origin, "energy.carbon_g_per_kwh", "must be >= 0");
    require(c.energy.cpu_tdp_w >= 0, origin, "energy.cpu_tdp_w", "must be >= 0");
}

std::string canonical_json(const RunConfig& c) {
    // nlohmann::json objects are std::map-backed: keys come out sorted, so the dump is canonical.
    nlohmann::json j = to_json(c);
    j.erase("name");   // a label, not behaviour
    j.erase("knobs");  // informational; the fields are the truth
    return j.dump();
}

std::string config_hash(const RunConfig& c) { return sha256_hex(canonical_json(c)); }

std::string json_to_toml(const nlohmann::json& j) {
    std::ostringstream out;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_object()) {
            out << it.key() << " = " << toml_value(it.value()) << "\n";
        }
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.value().is_object()) {
            out << "\n[" << it.key() << "]\n";
            for (auto kv = it.value().begin(); kv != it.value().end(); ++kv) {
                out << kv.key() << " = " << toml_value(kv.value()) << "\n";
            }
        }
    }
    return out.str();
}

std::string to_toml(const RunConfig& c) { return json_to_toml(to_json(c)); }

}  // namespace gk::config
