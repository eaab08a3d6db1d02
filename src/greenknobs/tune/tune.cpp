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
#include "greenknobs/study/command_catalog.h"
#include "greenknobs/study/runner.h"
#include "greenknobs/study/store.h"
#include "greenknobs/tune/backend.h"
#include "greenknobs/tune/tune_report.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"

namespace gk::tune {

using nlohmann::json;

namespace {

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

}  // namespace

std::vector<std::vector<Outcome>> run_batch(const TuneOptions& opt, const std::string& batch,
                                            double fidelity, const std::string& catalog_text,
                                            const std::vector<Trial>& trials, int repeats,
                                            int64_t seed,
                                            const std::optional<knobs::Capabilities>& caps,
                                            const std::function<Outcome(const json&)>& outcome) {
    const std::string dir = fs::join(fs::join(opt.out_dir, "studies"), batch);
    fs::make_dirs(dir);
    const std::string catalog = fs::join(dir, "catalog.toml");
    fs::write_file_atomic(catalog, catalog_text);
    study::StudyOptions so;
    so.plan.catalog_path = catalog;
    for (const auto& t : trials) {
        so.plan.variants.push_back(t.id);
    }
    so.plan.repeats = repeats;
    so.plan.seed = seed;
    so.out_dir = dir;
    so.max_retries = opt.max_retries;
    so.train_bin = opt.train_bin;
    so.report = false;
    so.capabilities = caps;
    log::info("tune: batch " + batch + ": " + std::to_string(trials.size()) + " x " +
              std::to_string(repeats) + " run(s) at fidelity " + std::to_string(fidelity));
    const study::StudyResult sr = study::run_study(so);
    if (sr.interrupted_signal != 0) {
        throw Interrupted{sr.interrupted_signal};
    }
    // Results from the store: complete runs, else the last attempt's error.
    study::SqliteStore store(fs::join(dir, "study.sqlite"));  // tune's batches are local studies
    const int64_t id = store.study()->id;
    std::map<std::pair<std::string, int>, Outcome> by_key;
    for (const auto& row : store.runs(id)) {
        Outcome o;
        o.error = row.status + (row.error.empty() ? "" : ": " + row.error);
        by_key[{row.variant, row.repeat}] = o;  // rows come by attempt: the last one stays
    }
    for (const auto& row : store.complete_runs(id)) {
        Outcome o = outcome(json::parse(row.run_json));
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

void check_compare_id(const std::string& catalog_path, const std::string& id, bool baseline) {
    const bool ours =
        id == "B" || ((id[0] == 'M' || id[0] == 'C' || id[0] == 'P') && id.size() > 1 &&
                      std::isdigit(static_cast<unsigned char>(id[1])));
    if (ours || baseline) {
        throw InputError(catalog_path, id,
                         "cannot be compared: the baseline is verified anyway, and ids B, M<n>, "
                         "C<n>, P<n> name the tune's own candidates");
    }
}

namespace {

// The built-in pipeline: the knob registry's settings applied to a RunConfig, each batch a
// pipeline catalog at its fidelity, the picked configuration a run config.
class PipelineBackend : public Backend {
  public:
    explicit PipelineBackend(const TuneOptions& opt) : opt_(opt), base_(tune_base(opt)) {
        seed_ = opt.seed ? *opt.seed : static_cast<int64_t>(base_.train.seed);
        caps_ = opt.capabilities
                    ? *opt.capabilities
                    : knobs::detect_capabilities(config::to_string(base_.system.device),
                                                 base_.system.device == config::Device::kCuda);
        space_ = build_space(base_, caps_, opt.space);
        search_ = opt.search;
        if (!opt.compare.empty()) {
            if (opt.catalog_path.empty()) {
                throw InputError("--compare", "",
                                 "comparing with catalog variants needs --catalog");
            }
            const knobs::Catalog cat = knobs::load_catalog(opt.catalog_path);
            for (const auto& id : opt.compare) {
                const knobs::Variant& v = cat.find(id);
                check_compare_id(opt.catalog_path, id, v.baseline);
                search_.compare.push_back(Trial{id, v.knobs, id + " " + v.name});
            }
        }
    }

    json identity() const override { return {{"base_config_hash", config::config_hash(base_)}}; }
    int64_t seed() const override { return seed_; }
    const Space& space() const override { return space_; }
    const SearchOptions& search() const override { return search_; }
    std::string space_source() const override { return "the knob registry"; }

    // The full sizes fidelities scale from: the caps when set, else the dataset's splits (read
    // once, then kept in tune.json).
    json prepare(const json& stored) override {
        train_n_ = base_.data.max_train_samples;
        eval_n_ = base_.data.max_eval_samples;
        if (stored.is_object() && stored.contains("train_samples")) {
            train_n_ = stored["train_samples"].get<int64_t>();
            eval_n_ = stored["eval_samples"].get<int64_t>();
        } else if (train_n_ == 0 || eval_n_ == 0) {
            const data::Dataset d = data::load_dataset(base_.data, static_cast<uint64_t>(seed_));
            if (train_n_ == 0) {
                train_n_ = static_cast<int64_t>(d.train.size());
            }
            if (eval_n_ == 0) {
                eval_n_ = static_cast<int64_t>(std::max(d.validation.size(), d.test.size()));
            }
        }
        fs::make_dirs(opt_.out_dir);
        fs::write_file_atomic(fs::join(opt_.out_dir, "base.toml"), config::to_toml(base_));
        return {{"train_samples", train_n_}, {"eval_samples", eval_n_}};
    }

    std::vector<std::vector<Outcome>> run(const std::string& batch, double fidelity,
                                          const std::vector<Trial>& trials, int repeats) override {
        const config::RunConfig fbase = at_fidelity(base_, fidelity, train_n_, eval_n_);
        return run_batch(
            opt_, batch, fidelity,
            catalog_toml(fbase, trials,
                         "tune batch " + batch + " at fidelity " + std::to_string(fidelity)),
            trials, repeats, seed_, caps_, outcome_from_run_json);
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

    // The configuration at full fidelity, runnable as it is.
    std::string write_config(const Verified& v, size_t index, const std::string& note) override {
        config::RunConfig c =
            apply_knobs(base_, v.knobs, index == 0 ? "tuned" : "tuned-runner-up", "tune");
        c.inference.score_validation = false;  // the tune's measurement, not the user's work
        const std::string path =
            fs::join(opt_.out_dir, index == 0 ? "chosen.toml" : "runner-up.toml");
        fs::write_file_atomic(
            path, note + "# run it: " + run_hint("<this file>") + "\n" + config::to_toml(c));
        return path;
    }

    std::string run_hint(const std::string& path) const override {
        return "greenknobs train --config " + path + " --out DIR";
    }

  private:
    const TuneOptions& opt_;
    config::RunConfig base_;
    int64_t seed_ = 0;
    knobs::Capabilities caps_;
    Space space_;
    SearchOptions search_;
    int64_t train_n_ = 0, eval_n_ = 0;
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

// The tune's identity: what it tunes and how it searches. A resume must ask for the same.
json settings_json(const TuneOptions& opt, const Backend& backend) {
    const SearchOptions& s = backend.search();
    json out = backend.identity();
    out.update({{"seed", backend.seed()},
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
                {"max_levels", opt.space.max_levels}});
    return out;
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

bool is_command_tune(const TuneOptions& opt) {
    return !opt.catalog_path.empty() && study::is_command_catalog(opt.catalog_path);
}

TuneResult run_tune(const TuneOptions& opt) {
    if (opt.out_dir.empty()) {
        throw InputError("--out", "", "a tune directory is required");
    }
    const std::unique_ptr<Backend> backend =
        is_command_tune(opt) ? command_backend(opt) : pipeline_backend(opt);
    const json settings = settings_json(opt, *backend);
    const std::string settings_path = fs::join(opt.out_dir, "tune.json");
    json stored;
    if (fs::exists(settings_path)) {
        stored = json::parse(fs::read_file(settings_path), nullptr, false);
        json then = stored.is_object() && stored.contains("settings") ? stored["settings"] : json();
        if (then != settings) {
            throw InputError(settings_path, "settings",
                             "this directory holds a tune with other settings (" + then.dump() +
                                 "); resume it with the same command or use another --out");
        }
    }
    TuneResult result;
    result.space = backend->space();
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
    if (opt.dry_run) {
        return result;
    }
    check_search_options(backend->search());
    json record = {{"schema", "greenknobs.tune-settings/1"}, {"settings", settings}};
    record.update(backend->prepare(stored));
    fs::make_dirs(opt.out_dir);
    fs::write_file_atomic(settings_path, record.dump(2) + "\n");

    try {
        result.search = run_search(result.space.moves, *backend, backend->search());
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
    std::string chosen_hint;
    for (size_t i = 0; i < result.search.verified.size(); ++i) {
        const Verified& v = result.search.verified[i];
        if (v.role == "compare") {
            continue;
        }
        const bool picked = static_cast<int>(i) == result.search.picked;
        const std::string note =
            "# greenknobs tune: " + v.role + " configuration " + v.label + "\n# " +
            (picked ? "picked: " + result.search.pick_why : std::string("not picked")) + "\n";
        const std::string path = backend->write_config(v, i, note);
        if (picked) {
            result.chosen_toml = path;
            result.run_hint = backend->run_hint(path);
        }
    }
    if (opt.report) {
        TuneReportInput in;
        in.out_dir = opt.out_dir;
        in.settings = settings;
        in.budget = backend->search().budget;
        in.result = &result.search;
        in.space = &result.space;
        in.space_source = backend->space_source();
        in.run_hint = result.run_hint;
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

std::unique_ptr<Backend> pipeline_backend(const TuneOptions& opt) {
    return std::make_unique<PipelineBackend>(opt);
}

}  // namespace gk::tune
