// The study-backed tune: base, space, one study per batch, outputs. See tune.h.
#include "greenknobs/tune/tune.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "greenknobs/data/dataset.h"
#include "greenknobs/knobs/capabilities.h"
#include "greenknobs/knobs/catalog.h"
#include "greenknobs/study/runner.h"
#include "greenknobs/study/store.h"
#include "greenknobs/tune/tune_report.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"

namespace gk::tune {

using nlohmann::json;

namespace {

struct Interrupted {
    int signal = 0;
};

double number_at(const json& doc, const char* pointer) {
    const json::json_pointer p(pointer);
    if (!doc.contains(p) || !doc.at(p).is_number()) {
        return NAN;
    }
    return doc.at(p).get<double>();
}

// A TOML inline value for a knob parameter (JSON scalars and arrays read the same in TOML, save
// that floats keep their decimal point, which nlohmann's dump does).
std::string inline_toml(const json& v) {
    if (v.is_object()) {
        std::string s;
        for (auto it = v.begin(); it != v.end(); ++it) {
            s += (s.empty() ? "" : ", ") + it.key() + " = " + inline_toml(it.value());
        }
        return "{ " + s + " }";
    }
    return v.dump();
}

std::string phase_of(const json& knob_set) {
    std::vector<std::string> phases;
    for (const auto& k : knobs::registry()) {
        if (knob_set.contains(k.name)) {
            const std::string p = knobs::to_string(k.phase);
            if (std::find(phases.begin(), phases.end(), p) == phases.end()) {
                phases.push_back(p);
            }
        }
    }
    std::string s;
    for (const auto& p : phases) {
        s += (s.empty() ? "" : "+") + p;
    }
    return s;
}

class StudyEvaluator : public Evaluator {
  public:
    StudyEvaluator(const TuneOptions& opt, const config::RunConfig& base, int64_t seed,
                   int64_t train_samples, int64_t eval_samples, knobs::Capabilities caps)
        : opt_(opt),
          base_(base),
          seed_(seed),
          train_samples_(train_samples),
          eval_samples_(eval_samples),
          caps_(std::move(caps)) {}

    std::vector<std::vector<Outcome>> run(const std::string& batch, double fidelity,
                                          const std::vector<Trial>& trials, int repeats) override {
        const std::string dir = fs::join(fs::join(opt_.out_dir, "studies"), batch);
        fs::make_dirs(dir);
        const std::string catalog = fs::join(dir, "catalog.toml");
        const config::RunConfig fbase = at_fidelity(base_, fidelity, train_samples_, eval_samples_);
        fs::write_file_atomic(catalog, catalog_toml(fbase, trials,
                                                    "tune batch " + batch + " at fidelity " +
                                                        std::to_string(fidelity)));
        study::StudyOptions so;
        so.plan.catalog_path = catalog;
        for (const auto& t : trials) {
            so.plan.variants.push_back(t.id);
        }
        so.plan.repeats = repeats;
        so.plan.seed = seed_;
        so.out_dir = dir;
        so.max_retries = opt_.max_retries;
        so.train_bin = opt_.train_bin;
        so.report = false;
        so.capabilities = caps_;
        log::info("tune: batch " + batch + ": " + std::to_string(trials.size()) + " x " +
                  std::to_string(repeats) + " run(s) at fidelity " + std::to_string(fidelity));
        const study::StudyResult sr = study::run_study(so);
        if (sr.interrupted_signal != 0) {
            throw Interrupted{sr.interrupted_signal};
        }
        // Results from the store: complete runs, else the last attempt's error.
        study::SqliteStore store(
            fs::join(dir, "study.sqlite"));  // tune's batches are local studies
        const int64_t id = store.study()->id;
        std::map<std::pair<std::string, int>, Outcome> by_key;
        for (const auto& row : store.runs(id)) {
            Outcome o;
            o.error = row.status + (row.error.empty() ? "" : ": " + row.error);
            by_key[{row.variant, row.repeat}] = o;  // rows come by attempt: the last one stays
        }
        for (const auto& row : store.complete_runs(id)) {
            Outcome o = outcome_from_run_json(json::parse(row.run_json));
            o.seq = row.seq;
            by_key[{row.variant, row.repeat}] = o;
        }
        std::vector<std::vector<Outcome>> out;
        for (const auto& t : trials) {
            std::vector<Outcome> reps;
            for (int r = 0; r < repeats; ++r) {
                auto it = by_key.find({t.id, r});
                Outcome o = it == by_key.end() ? Outcome{} : it->second;
                if (it == by_key.end()) {
                    o.error = "no run recorded";
                }
                reps.push_back(o);
            }
            out.push_back(reps);
        }
        return out;
    }

    std::string invalid(const json& knob_set) override {
        try {
            const config::RunConfig c = apply_knobs(base_, knob_set, "candidate", "tune");
            for (const auto& [name, why] : knobs::unsupported_knobs(c, caps_)) {
                if (knob_set.contains(name)) {
                    return name + " cannot run here: " + why.reason;
                }
            }
            return "";
        } catch (const InputError& e) {
            return e.what();
        }
    }

  private:
    const TuneOptions& opt_;
    config::RunConfig base_;
    int64_t seed_;
    int64_t train_samples_, eval_samples_;
    knobs::Capabilities caps_;
};

}  // namespace

config::RunConfig tune_base(const TuneOptions& opt) {
    if (opt.catalog_path.empty() == opt.config_path.empty()) {
        throw InputError("--catalog/--config", "",
                         "give exactly one: a catalog (its [base] is the baseline) or a run "
                         "config");
    }
    knobs::Catalog catalog;
    knobs::ConfigSources sources;
    if (opt.catalog_path.empty()) {
        sources.config_path = opt.config_path;
    } else {
        catalog = knobs::load_catalog(opt.catalog_path);
        sources.catalog = &catalog;
    }
    sources.sets = opt.sets;
    config::RunConfig base = knobs::resolve_sources(sources);
    config::validate(base, opt.catalog_path.empty() ? opt.config_path : opt.catalog_path);
    base.name = "B";
    base.knobs.clear();
    // Every run scores the validation split through its evaluation path (selection reads it).
    base.inference.score_validation = true;
    return base;
}

namespace {

json settings_json(const TuneOptions& opt, const config::RunConfig& base, int64_t seed) {
    const SearchOptions& s = opt.search;
    return {{"base_config_hash", config::config_hash(base)},
            {"seed", seed},
            {"budget", s.budget.text},
            {"max_runs", s.max_runs},
            {"fidelities", s.fidelities},
            {"eta", s.eta},
            {"verify_repeats", s.verify_repeats},
            {"min_gain_pct", s.min_gain_pct},
            {"screen_slack_points", s.screen_slack_points},
            {"screen_baselines", s.screen_baselines},
            {"knobs", opt.space.knobs},
            {"compare", opt.compare},
            {"max_levels", opt.space.max_levels}};
}

}  // namespace

Outcome outcome_from_run_json(const json& run) {
    Outcome o;
    if (!run.is_object() || run.value("status", "") != "complete") {
        o.error = run.is_object() ? run.value("status", "?") : "no run.json";
        return o;
    }
    o.ok = true;
    o.energy_j = number_at(run, "/energy/total/energy_j/total");
    o.duration_s = number_at(run, "/energy/total/duration_s");
    o.eval_latency_ms = number_at(run, "/metrics/latency_ms_per_batch");
    o.test_f1 = number_at(run, "/metrics/f1_vul");
    const json::json_pointer vp("/train/validation");
    if (run.contains(vp) && run.at(vp).is_array()) {
        const double best = number_at(run, "/train/best_epoch");
        for (const auto& e : run.at(vp)) {
            if (e.value("epoch", -1.0) == best && e.contains("f1_vul") && e["f1_vul"].is_number()) {
                o.val_f1 = e["f1_vul"].get<double>();
                o.val_samples = number_at(e, "/samples");
                o.val_positives = number_at(e, "/confusion/tp") + number_at(e, "/confusion/fn");
            }
        }
    }
    // Where the run scored the validation split through its evaluation path (the tune asks every
    // run to), that is the F1 selected on: it sees an inference knob's effect, the training
    // loop's validation does not. Its stage is the tune's measurement, not the pipeline's work:
    // left out of energy and time.
    const json::json_pointer dv("/evaluation/validation_metrics");
    if (run.contains(dv) && run.at(dv).is_object() && run.at(dv).contains("f1_vul")) {
        const json& v = run.at(dv);
        o.val_f1 = number_at(v, "/f1_vul");
        o.val_samples = number_at(v, "/samples");
        o.val_positives = number_at(v, "/confusion/tp") + number_at(v, "/confusion/fn");
        const json::json_pointer sp("/energy/stages");
        if (run.contains(sp) && run.at(sp).is_array()) {
            for (const auto& st : run.at(sp)) {
                if (st.value("name", "") == config::kScoreValidationStage) {
                    o.energy_j -= number_at(st, "/energy_j/total");
                    o.duration_s -= number_at(st, "/duration_s");
                }
            }
        }
    }
    if (!std::isfinite(o.energy_j) || !std::isfinite(o.val_f1)) {
        o.ok = false;
        o.error = "run.json has no total energy or no validation F1 at its best epoch";
    }
    return o;
}

config::RunConfig at_fidelity(const config::RunConfig& base, double fidelity, int64_t train_samples,
                              int64_t eval_samples) {
    config::RunConfig c = base;
    if (fidelity >= 1) {
        return c;
    }
    c.data.max_train_samples = std::max<int64_t>(
        16, static_cast<int64_t>(std::ceil(fidelity * static_cast<double>(train_samples))));
    const int64_t eval = std::max<int64_t>(
        200, static_cast<int64_t>(std::ceil(fidelity * static_cast<double>(eval_samples))));
    c.data.max_eval_samples = std::min(eval, eval_samples);
    return c;
}

std::string catalog_toml(const config::RunConfig& base, const std::vector<Trial>& trials,
                         const std::string& description) {
    std::ostringstream out;
    out << "# Written by greenknobs tune: one batch of the search (docs/tune.md).\n";
    out << "description = " << json(description).dump() << "\n";
    json b = config::to_json(base);
    b.erase("name");
    b.erase("knobs");
    for (auto it = b.begin(); it != b.end(); ++it) {
        out << "\n[base." << it.key() << "]\n" << config::json_to_toml(it.value());
    }
    out << "\n[[variant]]\nid = \"B\"\nname = \"baseline\"\nphase = \"baseline\"\n"
           "baseline = true\ndiffers_from_paper = \"tune baseline\"\n";
    for (const auto& t : trials) {
        if (t.id == "B") {
            continue;
        }
        out << "\n[[variant]]\nid = " << json(t.id).dump() << "\nname = " << json(t.label).dump()
            << "\nphase = " << json(phase_of(t.knobs)).dump()
            << "\nknobs = " << inline_toml(t.knobs)
            << "\ndiffers_from_paper = \"tune candidate\"\n";
    }
    return out.str();
}

TuneResult run_tune(const TuneOptions& opt) {
    if (opt.out_dir.empty()) {
        throw InputError("--out", "", "a tune directory is required");
    }
    const config::RunConfig base = tune_base(opt);
    const int64_t seed = opt.seed ? *opt.seed : static_cast<int64_t>(base.train.seed);

    // The settings are the tune's identity: a resume must ask for the same search.
    const json settings = settings_json(opt, base, seed);
    const std::string settings_path = fs::join(opt.out_dir, "tune.json");
    json stored;
    if (fs::exists(settings_path)) {
        stored = json::parse(fs::read_file(settings_path), nullptr, false);
        json now = settings;
        json then = stored.is_object() && stored.contains("settings") ? stored["settings"] : json();
        if (then != now) {
            throw InputError(settings_path, "settings",
                             "this directory holds a tune with other settings (" + then.dump() +
                                 "); resume it with the same command or use another --out");
        }
    }
    const knobs::Capabilities caps =
        opt.capabilities ? *opt.capabilities
                         : knobs::detect_capabilities(config::to_string(base.system.device),
                                                      base.system.device == config::Device::kCuda);
    TuneResult result;
    result.space = build_space(base, caps, opt.space);
    log::info("tune: " + std::to_string(result.space.moves.size()) + " candidate settings; " +
              std::to_string(result.space.excluded.size()) + " knob(s) excluded");
    std::string labels;
    for (const auto& m : result.space.moves) {
        labels += (labels.empty() ? "" : ", ") + m.id + " " + m.label;
    }
    log::info("tune: space: " + labels);
    for (const auto& e : result.space.excluded) {
        log::info("tune: excluded " + e.knob + ": " + e.why);
    }
    SearchOptions search = opt.search;
    if (!opt.compare.empty()) {
        if (opt.catalog_path.empty()) {
            throw InputError("--compare", "", "comparing with catalog variants needs --catalog");
        }
        const knobs::Catalog cat = knobs::load_catalog(opt.catalog_path);
        for (const auto& id : opt.compare) {
            const knobs::Variant& v = cat.find(id);
            const bool ours = id == "B" || ((id[0] == 'M' || id[0] == 'C') && id.size() > 1 &&
                                            std::isdigit(static_cast<unsigned char>(id[1])));
            if (ours || v.baseline) {
                throw InputError(opt.catalog_path, id,
                                 "cannot be compared: the baseline is verified anyway, and ids "
                                 "B, M<n>, C<n> name the tune's own candidates");
            }
            search.compare.push_back(Trial{id, v.knobs, id + " " + v.name});
        }
    }
    if (opt.dry_run) {
        return result;
    }
    check_search_options(search);
    // The full sizes fidelities scale from: the caps when set, else the dataset's splits (read
    // once, then kept in tune.json).
    int64_t train_n = base.data.max_train_samples;
    int64_t eval_n = base.data.max_eval_samples;
    if (stored.is_object() && stored.contains("train_samples")) {
        train_n = stored["train_samples"].get<int64_t>();
        eval_n = stored["eval_samples"].get<int64_t>();
    } else if (train_n == 0 || eval_n == 0) {
        const data::Dataset d = data::load_dataset(base.data, static_cast<uint64_t>(seed));
        if (train_n == 0) {
            train_n = static_cast<int64_t>(d.train.size());
        }
        if (eval_n == 0) {
            eval_n = static_cast<int64_t>(std::max(d.validation.size(), d.test.size()));
        }
    }
    fs::make_dirs(opt.out_dir);
    fs::write_file_atomic(settings_path, json{{"schema", "greenknobs.tune-settings/1"},
                                              {"settings", settings},
                                              {"train_samples", train_n},
                                              {"eval_samples", eval_n}}
                                                 .dump(2) +
                                             "\n");
    fs::write_file_atomic(fs::join(opt.out_dir, "base.toml"), config::to_toml(base));

    StudyEvaluator ev(opt, base, seed, train_n, eval_n, caps);
    try {
        result.search = run_search(result.space.moves, ev, search);
    } catch (const Interrupted& i) {
        result.interrupted_signal = i.signal;
        return result;
    }

    json doc = to_json(result.search);
    doc["settings"] = settings;
    json space = json::array();
    for (const auto& m : result.space.moves) {
        space.push_back({{"id", m.id}, {"knob", m.knob}, {"knobs", m.knobs}, {"label", m.label}});
    }
    json excluded = json::array();
    for (const auto& e : result.space.excluded) {
        excluded.push_back({{"knob", e.knob}, {"why", e.why}});
    }
    doc["space"] = {{"moves", space}, {"excluded", excluded}};
    result.search_json = fs::join(opt.out_dir, "search.json");
    fs::write_file_atomic(result.search_json, doc.dump(2) + "\n");

    // The picked configuration at full fidelity, runnable as it is; the runner-up beside it.
    for (size_t i = 0; i < result.search.verified.size(); ++i) {
        const Verified& v = result.search.verified[i];
        if (v.role == "compare") {
            continue;
        }
        config::RunConfig c =
            apply_knobs(base, v.knobs, i == 0 ? "tuned" : "tuned-runner-up", "tune");
        c.inference.score_validation = false;  // the tune's measurement, not the user's work
        const std::string header =
            "# greenknobs tune: " + v.role + " configuration " + v.label + "\n# " +
            (static_cast<int>(i) == result.search.picked ? "picked: " + result.search.pick_why
                                                         : std::string("not picked")) +
            "\n# run it: greenknobs train --config <this file> --out DIR\n";
        const std::string path = fs::join(opt.out_dir, i == 0 ? "chosen.toml" : "runner-up.toml");
        fs::write_file_atomic(path, header + config::to_toml(c));
        if (static_cast<int>(i) == result.search.picked) {
            result.chosen_toml = path;
        }
    }
    if (opt.report) {
        TuneReportInput in;
        in.out_dir = opt.out_dir;
        in.settings = settings;
        in.budget = opt.search.budget;
        in.result = &result.search;
        in.space = &result.space;
        // The verification batch is the last study directory.
        const std::string studies = fs::join(opt.out_dir, "studies");
        std::string last;
        for (const auto& e : std::filesystem::directory_iterator(studies)) {
            const std::string name = e.path().filename().string();
            if (name.find("-verify-") != std::string::npos && name > last) {
                last = name;
            }
        }
        in.verify_study_dir = last.empty() ? "" : fs::join(studies, last);
        in.render_figures = opt.render_figures;
        result.report_html = write_tune_report(in);
    }
    return result;
}

}  // namespace gk::tune
