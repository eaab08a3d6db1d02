// `greenknobs tune` on a command catalog (docs/byo.md, "Tuning a command"): the space is the
// catalog's [[knob]]s (one setting each; knobs of one group are one knob's alternative settings),
// each batch a command catalog at its fidelity, the scores the command's own metrics, the picked
// configuration a command spec that `greenknobs measure --spec` runs.
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "greenknobs/study/command_catalog.h"
#include "greenknobs/tune/backend.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"

namespace gk::tune {

using nlohmann::json;

namespace {

double metric(const json& run, const std::string& name) {
    if (name.empty() || !run.contains("metrics") || !run["metrics"].is_object()) {
        return NAN;
    }
    const json& m = run["metrics"];
    return m.contains(name) && m[name].is_number() ? m[name].get<double>() : NAN;
}

std::string fidelity_text(double f) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", f);
    return buf;
}

// TOML: a basic string and an inline table of strings (JSON's escapes are TOML's).
std::string toml_string(const std::string& s) { return json(s).dump(); }

std::string toml_env(const std::map<std::string, std::string>& env) {
    std::string s;
    for (const auto& [k, v] : env) {
        s += (s.empty() ? "" : ", ") + toml_string(k) + " = " + toml_string(v);
    }
    return "{ " + s + " }";
}

class CommandBackend : public Backend {
  public:
    explicit CommandBackend(const TuneOptions& opt)
        : opt_(opt), cc_(study::load_command_catalog(opt.catalog_path)) {
        const std::string& path = opt.catalog_path;
        if (cc_.tune_validation_metric.empty()) {
            throw InputError(path, "tune",
                             "no [tune] table: name the validation metric the command reports "
                             "(validation_metric = \"...\"); selection reads it, never the "
                             "primary metric (docs/byo.md, \"Tuning a command\")");
        }
        if (cc_.primary_metric.empty()) {
            throw InputError(path, "report.primary_metric",
                             "missing: the tune verifies the pick on the command's test score");
        }
        if (cc_.primary_declared &&
            (!cc_.primary_higher_is_better || cc_.primary_range != std::vector<double>{0, 1})) {
            throw InputError(path, "report.primary_metric",
                             "the tune's budget is in points of a 0-1 score where higher is "
                             "better (f1_drop=1.0 allows 0.01); declare range = [0, 1] and "
                             "higher_is_better = true, or report such a score");
        }
        if (!opt.sets.empty()) {
            throw InputError("--set", opt.sets.front(),
                             "--set tunes the built-in pipeline; a command's arguments live in its "
                             "catalog's [base] and [[knob]]s");
        }
        search_ = opt.search;
        if (std::isfinite(search_.budget.eval_latency_ms) && cc_.tune_latency_metric.empty()) {
            throw InputError("--budget", "eval_latency_ms",
                             path +
                                 "'s [tune] names no latency_metric: the command reports no "
                                 "latency to hold to a limit");
        }
        const bool can_scale = !cc_.tune_fidelity_arg.empty() || !cc_.tune_fidelity_env.empty();
        if (!can_scale) {
            bool below = false;
            for (double f : search_.fidelities) {
                below = below || f < 1;
            }
            if (below && opt.fidelities_given) {
                throw InputError("--fidelities", "",
                                 path +
                                     "'s [tune] names no fidelity_arg or fidelity_env, so "
                                     "every run is at full fidelity: give --fidelities 1 or "
                                     "leave it out");
            }
            search_.fidelities = {1.0};
        }
        seed_ = opt.seed ? *opt.seed : cc_.seed;

        std::set<std::string> wanted(opt.space.knobs.begin(), opt.space.knobs.end());
        for (const auto& w : wanted) {
            bool known = false;
            for (const auto& k : cc_.knobs) {
                known = known || k.name == w || k.group == w;
            }
            if (!known) {
                throw InputError("--knobs", w, "no knob or group of that name in " + path);
            }
        }
        int next = 1;
        for (const auto& k : cc_.knobs) {
            if (!wanted.empty() && !wanted.count(k.name) && !wanted.count(k.group)) {
                continue;
            }
            char id[16];
            std::snprintf(id, sizeof id, "M%02d", next++);
            space_.moves.push_back(
                Move{id, k.group, json{{k.name, json::object()}}, k.name, k.changes});
        }
        for (const auto& id : opt.compare) {
            const study::CommandVariant& v = cc_.find(id);
            check_compare_id(path, id, v.baseline);
            json knobs = json::object();
            for (const auto& k : v.knobs) {
                knobs[k] = json::object();
            }
            search_.compare.push_back(Trial{id, knobs, id + " " + v.name});
        }
    }

    json identity() const override {
        return {{"catalog_sha256", sha256_file_hex(opt_.catalog_path)}};
    }
    int64_t seed() const override { return seed_; }
    const Space& space() const override { return space_; }
    const SearchOptions& search() const override { return search_; }
    std::string space_source() const override { return "the catalog's [[knob]]s"; }
    json prepare(const json&) override { return json::object(); }

    std::vector<std::vector<Outcome>> run(const std::string& batch, double fidelity,
                                          const std::vector<Trial>& trials, int repeats) override {
        return run_batch(opt_, batch, fidelity, batch_toml(batch, fidelity, trials), trials,
                         repeats, seed_, std::nullopt, [this](const json& run) {
                             return outcome_from_command_run_json(run, cc_.tune_validation_metric,
                                                                  cc_.primary_metric,
                                                                  cc_.tune_latency_metric);
                         });
    }

    std::string invalid(const json& knob_set) override {
        std::map<std::string, std::string> by_group;
        for (auto it = knob_set.begin(); it != knob_set.end(); ++it) {
            const study::CommandKnob* k = find(it.key());
            if (k == nullptr) {
                return "no knob '" + it.key() + "' in " + opt_.catalog_path;
            }
            auto [at, fresh] = by_group.emplace(k->group, k->name);
            if (!fresh) {
                return at->second + " and " + k->name + " are settings of one knob (group " +
                       k->group + ")";
            }
        }
        return "";
    }

    // The knobs' names in catalog order (the order their arguments are added).
    std::string describe(const json& knob_set) override {
        std::string s;
        for (const auto& k : cc_.knobs) {
            if (knob_set.contains(k.name)) {
                s += (s.empty() ? "" : " + ") + k.name;
            }
        }
        return s.empty() ? "baseline" : s;
    }

    // The spec of repeat 0 at full fidelity, as a study would run it.
    std::string write_config(const Verified& v, size_t index, const std::string& note) override {
        study::CommandCatalog c = cc_;
        study::CommandVariant tuned;
        tuned.id = index == 0 ? "tuned" : "tuned-runner-up";
        tuned.name = v.label;
        tuned.phase = "tuned";
        for (const auto& k : cc_.knobs) {
            if (v.knobs.contains(k.name)) {
                tuned.knobs.push_back(k.name);
            }
        }
        c.variants = {tuned};
        json spec = c.spec(tuned.id, 0, seed_);
        spec["tune"] = {{"role", v.role}, {"label", v.label}, {"note", note}};
        const std::string path =
            fs::join(opt_.out_dir, index == 0 ? "chosen.json" : "runner-up.json");
        fs::write_file_atomic(path, spec.dump(2) + "\n");
        return path;
    }

    std::string run_hint(const std::string& path) const override {
        return "greenknobs measure --spec " + path + " --out DIR";
    }

  private:
    const study::CommandKnob* find(const std::string& name) const {
        for (const auto& k : cc_.knobs) {
            if (k.name == name) {
                return &k;
            }
        }
        return nullptr;
    }

    // The batch as a command catalog: the base asked for `fidelity` (argument and/or variable,
    // left out at full fidelity, so those runs are the user's command exactly), every knob, "B"
    // as the baseline and each trial as a variant.
    std::string batch_toml(const std::string& batch, double fidelity,
                           const std::vector<Trial>& trials) const {
        std::vector<std::string> argv = cc_.argv;
        std::map<std::string, std::string> env = cc_.env;
        if (fidelity < 1) {
            if (!cc_.tune_fidelity_arg.empty()) {
                argv.push_back(cc_.tune_fidelity_arg);
                argv.push_back(fidelity_text(fidelity));
            }
            if (!cc_.tune_fidelity_env.empty()) {
                env[cc_.tune_fidelity_env] = fidelity_text(fidelity);
            }
        }
        std::ostringstream out;
        out << "# Written by greenknobs tune: one batch of the search of " << opt_.catalog_path
            << " (docs/byo.md).\n";
        out << "description = "
            << toml_string("tune batch " + batch + " at fidelity " + fidelity_text(fidelity))
            << "\n\n[base]\nargv = " << json(argv).dump() << "\n";
        if (!cc_.cwd.empty()) {
            out << "cwd = " << toml_string(cc_.cwd) << "\n";
        }
        if (!env.empty()) {
            out << "env = " << toml_env(env) << "\n";
        }
        if (!cc_.seed_arg.empty()) {
            out << "seed_arg = " << toml_string(cc_.seed_arg) << "\n";
        }
        if (!cc_.seed_env.empty()) {
            out << "seed_env = " << toml_string(cc_.seed_env) << "\n";
        }
        out << "seed = " << cc_.seed
            << "\n\n[report]\nprimary_metric = " << toml_string(cc_.primary_metric)
            << "\nprimary_label = " << toml_string(cc_.primary_label) << "\n";
        if (!cc_.eval_stage.empty()) {
            out << "eval_stage = " << toml_string(cc_.eval_stage) << "\n";
        }
        for (const auto& k : cc_.knobs) {
            out << "\n[[knob]]\nname = " << toml_string(k.name)
                << "\nphase = " << toml_string(k.phase) << "\nchanges = " << toml_string(k.changes)
                << "\nargs = " << json(k.args).dump() << "\n";
            if (!k.env.empty()) {
                out << "env = " << toml_env(k.env) << "\n";
            }
        }
        out << "\n[[variant]]\nid = \"B\"\nname = \"baseline\"\nbaseline = true\n";
        for (const auto& t : trials) {
            if (t.id == "B") {
                continue;
            }
            std::vector<std::string> names;
            for (const auto& k : cc_.knobs) {
                if (t.knobs.contains(k.name)) {
                    names.push_back(k.name);
                }
            }
            out << "\n[[variant]]\nid = " << toml_string(t.id)
                << "\nname = " << toml_string(t.label) << "\nknobs = " << json(names).dump()
                << "\n";
        }
        return out.str();
    }

    const TuneOptions& opt_;
    study::CommandCatalog cc_;
    SearchOptions search_;
    Space space_;
    int64_t seed_ = 0;
};

}  // namespace

Outcome outcome_from_command_run_json(const json& run, const std::string& validation,
                                      const std::string& test, const std::string& latency) {
    Outcome o;
    if (!run.is_object() || run.value("status", "") != "complete") {
        o.error = run.is_object() ? run.value("status", "?") : "no run.json";
        return o;
    }
    o.ok = true;
    const json::json_pointer ep("/energy/total/energy_j/total");
    const json::json_pointer dp("/energy/total/duration_s");
    o.energy_j = run.contains(ep) && run.at(ep).is_number() ? run.at(ep).get<double>() : NAN;
    o.duration_s = run.contains(dp) && run.at(dp).is_number() ? run.at(dp).get<double>() : NAN;
    o.val_f1 = metric(run, validation);
    o.test_f1 = metric(run, test);
    o.eval_latency_ms = metric(run, latency);
    if (!std::isfinite(o.energy_j) || !std::isfinite(o.val_f1)) {
        o.ok = false;
        o.error = "run.json has no total energy or no metric '" + validation + "'";
    }
    return o;
}

std::unique_ptr<Backend> command_backend(const TuneOptions& opt) {
    return std::make_unique<CommandBackend>(opt);
}

}  // namespace gk::tune
