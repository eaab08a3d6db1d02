// Command catalogs: strict loading (every key known, every knob real, combinations consistent) and
// the per-run command specs of a plan. See command_catalog.h and docs/byo.md.
#include "greenknobs/study/command_catalog.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "greenknobs/config/run_config.h"
#include "greenknobs/energy/protocol.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"

namespace gk::study {

namespace {

using nlohmann::json;

const std::set<std::string> kPhases = {"data", "model", "training", "system", "inference"};

void only_keys(const json& t, const std::set<std::string>& allowed, const std::string& path,
               const std::string& where) {
    for (const auto& [k, v] : t.items()) {
        if (!allowed.count(k)) {
            std::string list;
            for (const auto& a : allowed) {
                list += (list.empty() ? "" : ", ") + a;
            }
            throw InputError(path, where.empty() ? k : where + "." + k,
                             "unknown key (expected one of: " + list + ")");
        }
    }
}

std::string str(const json& t, const std::string& key, const std::string& path,
                const std::string& where, bool required, const std::string& fallback = "") {
    if (!t.contains(key)) {
        if (required) {
            throw InputError(path, where + "." + key, "missing (required)");
        }
        return fallback;
    }
    if (!t[key].is_string()) {
        throw InputError(path, where + "." + key, "expected a string, got " + t[key].dump());
    }
    return t[key].get<std::string>();
}

std::vector<std::string> strings(const json& t, const std::string& key, const std::string& path,
                                 const std::string& where) {
    std::vector<std::string> out;
    if (!t.contains(key)) {
        return out;
    }
    if (!t[key].is_array()) {
        throw InputError(path, where + "." + key, "expected an array of strings");
    }
    for (const auto& x : t[key]) {
        if (!x.is_string()) {
            throw InputError(path, where + "." + key, "expected strings, got " + x.dump());
        }
        out.push_back(x.get<std::string>());
    }
    return out;
}

std::map<std::string, std::string> env_table(const json& t, const std::string& path,
                                             const std::string& where) {
    std::map<std::string, std::string> out;
    if (!t.contains("env")) {
        return out;
    }
    if (!t["env"].is_object()) {
        throw InputError(path, where + ".env", "expected a table NAME = \"value\"");
    }
    for (const auto& [k, v] : t["env"].items()) {
        if (k.empty() || k.find('=') != std::string::npos) {
            throw InputError(path, where + ".env." + k, "not a valid variable name");
        }
        if (v.is_string()) {
            out[k] = v.get<std::string>();
        } else if (v.is_number() || v.is_boolean()) {
            out[k] = v.dump();
        } else {
            throw InputError(path, where + ".env." + k, "expected a string, got " + v.dump());
        }
    }
    return out;
}

// [report] primary_metric = { name = "...", higher_is_better = ..., range = [lo, hi], budget = x }
void read_primary_table(const json& t, const std::string& path, CommandCatalog* c) {
    const std::string where = "report.primary_metric";
    only_keys(t, {"name", "higher_is_better", "range", "budget"}, path, where);
    c->primary_declared = true;
    c->primary_metric = str(t, "name", path, where, true);
    if (c->primary_metric.empty()) {
        throw InputError(path, where + ".name", "must name the metric the command reports");
    }
    if (!t.contains("higher_is_better") || !t["higher_is_better"].is_boolean()) {
        // Required: a guess would turn the recommendation upside down for a loss.
        throw InputError(path, where + ".higher_is_better",
                         "expected true (an accuracy, F1) or false (a loss, an error rate)");
    }
    c->primary_higher_is_better = t["higher_is_better"].get<bool>();
    if (t.contains("range")) {
        const json& r = t["range"];
        if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number() ||
            !(r[0].get<double>() < r[1].get<double>()) || !std::isfinite(r[0].get<double>()) ||
            !std::isfinite(r[1].get<double>())) {
            throw InputError(path, where + ".range",
                             "expected [low, high] with low < high, got " + r.dump());
        }
        c->primary_range = {r[0].get<double>(), r[1].get<double>()};
    }
    if (t.contains("budget")) {
        if (!t["budget"].is_number() || !(t["budget"].get<double>() >= 0) ||
            !std::isfinite(t["budget"].get<double>())) {
            throw InputError(path, where + ".budget",
                             "expected a number >= 0 (the worsening accepted, in the Δ's units), "
                             "got " +
                                 t["budget"].dump());
        }
        c->primary_budget = t["budget"].get<double>();
    }
}

}  // namespace

bool is_command_catalog(const std::string& path) {
    if (!fs::exists(path)) {
        return false;
    }
    json doc = config::toml_to_json(fs::read_file(path), path);
    return doc.contains("base") && doc["base"].is_object() && doc["base"].contains("argv");
}

const CommandVariant& CommandCatalog::find(const std::string& id) const {
    for (const auto& v : variants) {
        if (v.id == id) {
            return v;
        }
    }
    throw InputError(path, "variant", "no variant '" + id + "' in this catalog");
}

const CommandKnob& CommandCatalog::knob(const std::string& name) const {
    for (const auto& k : knobs) {
        if (k.name == name) {
            return k;
        }
    }
    throw InputError(path, "knob", "no knob '" + name + "' in this catalog");
}

CommandCatalog load_command_catalog(const std::string& path) {
    json doc = config::toml_to_json(fs::read_file(path), path);
    only_keys(doc, {"description", "base", "report", "knob", "variant", "slurm", "tune"}, path, "");
    CommandCatalog c;
    c.path = path;
    c.description = str(doc, "description", path, "", false);
    if (!doc.contains("base") || !doc["base"].is_object()) {
        throw InputError(path, "base", "missing [base] with argv = [\"cmd\", ...]");
    }
    const json& base = doc["base"];
    only_keys(base, {"argv", "cwd", "env", "seed", "seed_arg", "seed_env"}, path, "base");
    c.argv = strings(base, "argv", path, "base");
    if (c.argv.empty() || c.argv[0].empty()) {
        throw InputError(path, "base.argv", "must name a command");
    }
    c.cwd = str(base, "cwd", path, "base", false);
    c.env = env_table(base, path, "base");
    c.seed_arg = str(base, "seed_arg", path, "base", false);
    c.seed_env = str(base, "seed_env", path, "base", false);
    if (base.contains("seed")) {
        if (!base["seed"].is_number_integer() || base["seed"].get<int64_t>() < 0) {
            throw InputError(path, "base.seed", "expected a non-negative integer");
        }
        c.seed = base["seed"].get<int64_t>();
    }
    if (doc.contains("report")) {
        const json& r = doc["report"];
        only_keys(r, {"primary_metric", "primary_label", "eval_stage"}, path, "report");
        if (r.contains("primary_metric") && r["primary_metric"].is_object()) {
            read_primary_table(r["primary_metric"], path, &c);
        } else {
            c.primary_metric = str(r, "primary_metric", path, "report", false);
        }
        c.primary_label = str(r, "primary_label", path, "report", false, c.primary_metric);
        c.eval_stage = str(r, "eval_stage", path, "report", false);
    }
    if (doc.contains("knob")) {
        if (!doc["knob"].is_array()) {
            throw InputError(path, "knob", "expected [[knob]] tables");
        }
        size_t i = 0;
        for (const auto& t : doc["knob"]) {
            const std::string where = "knob[" + std::to_string(i++) + "]";
            only_keys(t, {"name", "phase", "changes", "args", "env", "group"}, path, where);
            CommandKnob k;
            k.name = str(t, "name", path, where, true);
            k.group = str(t, "group", path, where, false, k.name);
            if (k.group.empty()) {
                throw InputError(path, where + ".group", "empty (leave it out: the knob's name)");
            }
            k.phase = str(t, "phase", path, where, true);
            k.changes = str(t, "changes", path, where, true);
            k.args = strings(t, "args", path, where);
            k.env = env_table(t, path, where);
            if (!kPhases.count(k.phase)) {
                throw InputError(
                    path, where + ".phase",
                    "got '" + k.phase + "', expected data | model | training | system | inference");
            }
            if (k.args.empty() && k.env.empty()) {
                throw InputError(path, where,
                                 "knob '" + k.name + "' changes nothing (no args, no env)");
            }
            for (const auto& other : c.knobs) {
                if (other.name == k.name) {
                    throw InputError(path, where + ".name", "knob '" + k.name + "' twice");
                }
            }
            c.knobs.push_back(k);
        }
    }
    if (doc.contains("tune")) {
        const json& t = doc["tune"];
        if (!t.is_object()) {
            throw InputError(path, "tune", "expected a [tune] table");
        }
        only_keys(t, {"validation_metric", "fidelity_arg", "fidelity_env", "latency_metric"}, path,
                  "tune");
        c.tune_validation_metric = str(t, "validation_metric", path, "tune", true);
        c.tune_fidelity_arg = str(t, "fidelity_arg", path, "tune", false);
        c.tune_fidelity_env = str(t, "fidelity_env", path, "tune", false);
        c.tune_latency_metric = str(t, "latency_metric", path, "tune", false);
        if (c.tune_validation_metric.empty()) {
            throw InputError(path, "tune.validation_metric",
                             "must name the metric the command reports for its validation split");
        }
        if (c.tune_validation_metric == c.primary_metric) {
            throw InputError(path, "tune.validation_metric",
                             "is the primary metric, which the tune reads as the test score: "
                             "selection must not see test data; report a validation metric");
        }
    }
    if (!doc.contains("variant") || !doc["variant"].is_array() || doc["variant"].empty()) {
        throw InputError(path, "variant", "no [[variant]] tables");
    }
    size_t i = 0;
    std::set<std::string> ids;
    for (const auto& t : doc["variant"]) {
        const std::string where = "variant[" + std::to_string(i++) + "]";
        only_keys(t, {"id", "name", "knobs", "combines", "baseline"}, path, where);
        CommandVariant v;
        v.id = str(t, "id", path, where, true);
        if (v.id.empty() || !ids.insert(v.id).second) {
            throw InputError(path, where + ".id", "empty or repeated id '" + v.id + "'");
        }
        v.knobs = strings(t, "knobs", path, v.id);
        v.combines = strings(t, "combines", path, v.id);
        if (t.contains("baseline")) {
            if (!t["baseline"].is_boolean()) {
                throw InputError(path, v.id + ".baseline", "expected true or false");
            }
            v.baseline = t["baseline"].get<bool>();
        }
        if (v.baseline && !v.knobs.empty()) {
            throw InputError(path, v.id + ".knobs", "the baseline turns no knob");
        }
        if (!v.baseline && v.knobs.empty()) {
            throw InputError(path, v.id + ".knobs", "a variant must turn at least one knob");
        }
        std::vector<std::string> phases, names;
        for (const auto& kn : v.knobs) {
            const CommandKnob& k = c.knob(kn);  // unknown knob: InputError
            if (std::find(phases.begin(), phases.end(), k.phase) == phases.end()) {
                phases.push_back(k.phase);
            }
            names.push_back(k.changes);
        }
        std::string phase, name;
        for (const auto& p : phases) {
            phase += (phase.empty() ? "" : "+") + p;
        }
        for (const auto& n : names) {
            name += (name.empty() ? "" : " + ") + n;
        }
        v.phase = v.baseline ? "baseline" : phase;
        v.name = str(t, "name", path, v.id, false, v.baseline ? "Baseline" : name);
        c.variants.push_back(v);
    }
    int baselines = 0;
    for (auto& v : c.variants) {
        baselines += v.baseline ? 1 : 0;
        if (v.knobs.size() > 1 && v.combines.empty()) {
            // Inferred: the single-knob variants of its knobs, when the catalog has them all.
            for (const auto& kn : v.knobs) {
                for (const auto& s : c.variants) {
                    if (s.knobs.size() == 1 && s.knobs[0] == kn) {
                        v.combines.push_back(s.id);
                        break;
                    }
                }
            }
            if (v.combines.size() != v.knobs.size()) {
                v.combines.clear();
            }
        }
        std::set<std::string> covered;
        for (const auto& id : v.combines) {
            const CommandVariant& s = c.find(id);
            if (s.knobs.size() != 1) {
                throw InputError(path, v.id + ".combines",
                                 "'" + id + "' is not a single-knob variant");
            }
            covered.insert(s.knobs[0]);
        }
        if (!v.combines.empty() &&
            covered != std::set<std::string>(v.knobs.begin(), v.knobs.end())) {
            throw InputError(path, v.id + ".combines",
                             "the combined variants' knobs are not exactly this variant's knobs");
        }
    }
    if (baselines != 1) {
        throw InputError(path, "variant",
                         "exactly one variant must have baseline = true (found " +
                             std::to_string(baselines) + ")");
    }
    return c;
}

knobs::Catalog CommandCatalog::as_catalog() const {
    knobs::Catalog cat;
    cat.path = path;
    cat.description = description;
    for (const auto& v : variants) {
        knobs::Variant kv;
        kv.id = v.id;
        kv.name = v.name;
        kv.phase = v.phase;
        kv.baseline = v.baseline;
        kv.combines = v.combines;
        kv.knobs = json::object();
        for (const auto& kn : v.knobs) {
            const CommandKnob& k = knob(kn);
            kv.knobs[kn] = {{"args", k.args}, {"env", k.env}, {"changes", k.changes}};
        }
        cat.variants.push_back(kv);
    }
    return cat;
}

json CommandCatalog::spec(const std::string& variant, int repeat, int64_t base_seed) const {
    const CommandVariant& v = find(variant);
    std::vector<std::string> run_argv = argv;
    std::map<std::string, std::string> run_env = env;
    json applied = json::array();
    for (const auto& kn : v.knobs) {
        const CommandKnob& k = knob(kn);
        run_argv.insert(run_argv.end(), k.args.begin(), k.args.end());
        for (const auto& [name, value] : k.env) {
            run_env[name] = value;
        }
        applied.push_back({{"name", k.name},
                           {"params", {{"args", k.args}, {"env", k.env}}},
                           {"phase", k.phase},
                           {"changes", k.changes}});
    }
    // Repeats must differ: repeat r runs with seed + r.
    const std::string run_seed = std::to_string(base_seed + repeat);
    if (!seed_arg.empty()) {
        run_argv.push_back(seed_arg);
        run_argv.push_back(run_seed);
    }
    if (!seed_env.empty()) {
        run_env[seed_env] = run_seed;
    }
    json s = {{"argv", run_argv},
              {"cwd", cwd},
              {"env", run_env},
              {"name", v.id},
              {"variant", v.id},
              {"repeat", repeat},
              {"seed", base_seed + repeat},
              {"knobs", applied}};
    if (!primary_metric.empty()) {
        s["primary_metric"] = primary_metric;
    }
    if (primary_declared) {
        // Only with the table form, so the specs (and hashes) of string-form catalogs stay as they
        // were; run.json keeps the spec as `config`, which is where the report reads it.
        s["primary"] = {{"name", primary_metric},
                        {"label", primary_label},
                        {"higher_is_better", primary_higher_is_better},
                        {"range", primary_range.empty() ? json(nullptr) : json(primary_range)},
                        {"budget", primary_budget < 0 ? json(nullptr) : json(primary_budget)}};
    }
    if (!eval_stage.empty()) {
        s["eval_stage"] = eval_stage;
    }
    s["config_hash"] = energy::command_spec_hash(s);
    return s;
}

Plan make_command_plan(const PlanOptions& opt) {
    if (opt.repeats < 1) {
        throw InputError("--repeats", std::to_string(opt.repeats), "expected at least 1");
    }
    if (!opt.sets.empty()) {
        throw InputError("--set", opt.sets.front(),
                         "--set tunes the built-in pipeline; a command study's arguments live in "
                         "its catalog's [base] and [[knob]]s");
    }
    CommandCatalog cc = load_command_catalog(opt.catalog_path);
    Plan plan;
    plan.catalog = cc.as_catalog();
    plan.catalog_sha256 = sha256_file_hex(opt.catalog_path);
    plan.repeats = opt.repeats;
    if (opt.variants.empty()) {
        for (const auto& v : cc.variants) {
            plan.variants.push_back(v.id);
        }
    } else {
        std::set<std::string> wanted;
        for (const auto& id : opt.variants) {
            cc.find(id);
            if (!wanted.insert(id).second) {
                throw InputError("--variants", id, "listed twice");
            }
        }
        for (const auto& v : cc.variants) {
            if (wanted.count(v.id)) {
                plan.variants.push_back(v.id);
            }
        }
    }
    plan.seed = opt.seed ? *opt.seed : cc.seed;
    if (plan.seed < 0) {
        throw InputError("--seed", std::to_string(plan.seed), "expected a non-negative integer");
    }
    int seq = 0;
    for (const auto& [variant, repeat] :
         interleaved_order(plan.variants, plan.repeats, static_cast<uint64_t>(plan.seed))) {
        PlannedRun run;
        run.seq = seq++;
        run.variant = variant;
        run.repeat = repeat;
        run.command = cc.spec(variant, repeat, plan.seed);
        if (opt.idle_s) {
            run.command["idle_s"] = *opt.idle_s;
            run.command["config_hash"] = energy::command_spec_hash(run.command);
        }
        run.config_hash = run.command["config_hash"].get<std::string>();
        plan.runs.push_back(std::move(run));
    }
    return plan;
}

}  // namespace gk::study
