// Aggregation over run records. Values come straight from run.json; a missing or null number is
// skipped (and so lowers n) rather than read as zero, so "n/a" in a run never becomes a fake
// measurement.
#include "greenknobs/analysis/aggregate.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace gk::analysis {

const std::vector<std::string>& pipeline_stages() {
    static const std::vector<std::string> kStages = {"load_dataset", "tokenize", "load_model",
                                                     "train",        "save",     "evaluate"};
    return kStages;
}

const StageAggregate* VariantAggregate::stage(const std::string& path) const {
    for (const auto& s : stages) {
        if (s.path == path) {
            return &s;
        }
    }
    return nullptr;
}

const VariantAggregate* StudyAggregate::find(const std::string& variant) const {
    for (const auto& v : variants) {
        if (v.variant == variant) {
            return &v;
        }
    }
    return nullptr;
}

std::string provenance_label(const nlohmann::json& provenance) {
    if (!provenance.is_object()) {
        return "unknown";
    }
    std::vector<std::pair<std::string, std::string>> parts;
    std::set<std::string> kinds;
    for (const auto& [component, value] : provenance.items()) {
        if (!value.is_string() || value.get<std::string>() == "n/a") {
            continue;
        }
        parts.emplace_back(component, value.get<std::string>());
        kinds.insert(value.get<std::string>());
    }
    if (parts.empty()) {
        return "n/a";
    }
    if (kinds.size() == 1) {
        return *kinds.begin();
    }
    std::string out;
    for (const auto& [component, kind] : parts) {
        out += (out.empty() ? "" : ", ") + component + " " + kind;
    }
    return out;
}

namespace {

void push_if_finite(Sample& s, double v, int repeat) {
    if (std::isfinite(v)) {
        s.values.push_back(v);
        s.repeats.push_back(repeat);
    }
}

void finish(Sample& s) { s.summary = summarize(s.values); }

std::string merge_labels(const std::set<std::string>& labels) {
    if (labels.empty()) {
        return "n/a";
    }
    if (labels.size() == 1) {
        return *labels.begin();
    }
    std::string out = "mixed (";
    bool first = true;
    for (const auto& l : labels) {
        out += (first ? "" : " | ") + l;
        first = false;
    }
    return out + ")";
}

// Matches the two samples repeat by repeat: true (and a[i], b[i] the values of one repeat, in
// repeat order) when both have exactly the same repeats, each once; otherwise why not.
bool pair_by_repeat(const Sample& v, const Sample& base, const std::string& v_id,
                    const std::string& base_id, std::vector<double>* a, std::vector<double>* b,
                    std::string* why) {
    if (v.repeats.size() != v.values.size() || base.repeats.size() != base.values.size()) {
        *why = "repeats unknown";
        return false;
    }
    std::map<int, double> va;
    std::map<int, double> vb;
    for (size_t i = 0; i < v.values.size(); ++i) {
        if (!va.emplace(v.repeats[i], v.values[i]).second) {
            *why = v_id + " has two values for repeat " + std::to_string(v.repeats[i]);
            return false;
        }
    }
    for (size_t i = 0; i < base.values.size(); ++i) {
        if (!vb.emplace(base.repeats[i], base.values[i]).second) {
            *why = base_id + " has two values for repeat " + std::to_string(base.repeats[i]);
            return false;
        }
    }
    for (const auto& [r, x] : va) {
        if (!vb.count(r)) {
            *why = base_id + " has no repeat " + std::to_string(r) + " to pair with " + v_id + "'s";
            return false;
        }
    }
    for (const auto& [r, x] : vb) {
        if (!va.count(r)) {
            *why = v_id + " has no repeat " + std::to_string(r) + " to pair with " + base_id + "'s";
            return false;
        }
    }
    for (const auto& [r, x] : va) {
        a->push_back(x);
        b->push_back(vb.at(r));
    }
    return true;
}

Interval scaled(Interval ci, double scale) {
    if (ci.valid) {
        const double lo = ci.low * scale;
        const double hi = ci.high * scale;
        ci.low = std::min(lo, hi);
        ci.high = std::max(lo, hi);
    }
    return ci;
}

TTestResult scaled(TTestResult t, double scale) {
    t.diff *= scale;
    t.diff_ci = scaled(t.diff_ci, scale);
    return t;
}

// Δ of `v` vs `base`; `scale` turns fractions into points (F1 × 100). `pct_headline`: the report
// shows the relative Δ (energy, time), so the verdict comes from the test on it.
Delta make_delta(const Sample& v, const Sample& base, double scale, bool pct_headline,
                 const std::string& v_id, const std::string& base_id) {
    Delta d;
    if (v.empty() || base.empty()) {
        d.verdict = "not tested (no values)";
        return d;
    }
    d.available = true;
    std::vector<double> a;
    std::vector<double> b;
    std::string why;
    if (pair_by_repeat(v, base, v_id, base_id, &a, &b, &why)) {
        d.paired = true;
        d.method = kPairedT;
        d.test = paired_t_test(a, b);
        d.abs = d.test.diff * scale;
        d.abs_ci = scaled(d.test.diff_ci, scale);
        std::vector<double> diffs(a.size());
        bool base_zero = false;
        for (size_t i = 0; i < a.size(); ++i) {
            diffs[i] = a[i] - b[i];
            base_zero = base_zero || b[i] == 0.0;
        }
        d.abs_boot_ci = scaled(bootstrap_mean_ci(diffs, kBootstrapSeed), scale);
        if (base_zero) {
            d.pct_test.method = kPairedT;
            d.pct_test.why_invalid = "baseline is 0 in a repeat";
            d.pct_ci.why_invalid = d.pct_boot_ci.why_invalid = d.pct_test.why_invalid;
        } else {
            std::vector<double> rel(a.size());
            for (size_t i = 0; i < a.size(); ++i) {
                rel[i] = 100.0 * (a[i] - b[i]) / b[i];
            }
            // Constant relative differences with varying absolute ones (or the reverse) are
            // judged by the absolute test's spread check, which knows the data's scale.
            d.pct_test =
                d.test.valid || d.test.why_invalid == "n = 1" ? paired_t_test(rel) : d.test;
            if (!d.test.valid) {
                d.pct_test.diff = mean(rel);
            }
            d.pct = d.pct_test.diff;
            d.pct_ci = d.pct_test.diff_ci;
            d.pct_boot_ci = bootstrap_mean_ci(rel, kBootstrapSeed);
        }
    } else {
        d.method = kWelch;
        d.why_unpaired = why;
        d.test = welch_t_test(v.values, base.values);
        d.abs = d.test.diff * scale;
        d.abs_ci = scaled(d.test.diff_ci, scale);
        auto diff_of_means = [](const std::vector<double>& m) { return m[0] - m[1]; };
        d.abs_boot_ci = scaled(
            bootstrap_means_ci({v.values, base.values}, diff_of_means, kBootstrapSeed), scale);
        const double base_mean = base.mean();
        if (base_mean != 0.0) {
            d.pct_test = scaled(d.test, 100.0 / base_mean);
            d.pct = d.pct_test.diff;
            d.pct_ci = d.pct_test.diff_ci;
            d.pct_boot_ci = bootstrap_means_ci(
                {v.values, base.values},
                [](const std::vector<double>& m) { return 100.0 * (m[0] - m[1]) / m[1]; },
                kBootstrapSeed);
        } else {
            d.pct_test.method = kWelch;
            d.pct_test.why_invalid = "baseline is 0";
            d.pct_ci.why_invalid = d.pct_boot_ci.why_invalid = d.pct_test.why_invalid;
        }
    }
    if (!d.abs_ci.valid && d.abs_ci.why_invalid.empty()) {
        d.abs_ci.why_invalid = d.test.why_invalid;
    }
    if (!d.pct_ci.valid && d.pct_ci.why_invalid.empty()) {
        d.pct_ci.why_invalid = d.pct_test.why_invalid;
    }
    d.verdict = significance_verdict(pct_headline ? d.pct_test : d.test);
    return d;
}

}  // namespace

Delta compare_samples(const Sample& v, const Sample& base, double scale, bool pct_headline,
                      const std::string& v_id, const std::string& base_id) {
    return make_delta(v, base, scale, pct_headline, v_id, base_id);
}

std::string delta_methods(const VariantAggregate& v) {
    // The Table I Δ columns first, so the label speaks about what the table shows.
    const std::vector<std::pair<const char*, const Delta*>> deltas = {
        {"ΔTotal", &v.d_total_energy},
        {"ΔF1 vul", &v.d_f1_vul_points},
        {"ΔF1 w", &v.d_f1_weighted_points},
        {"ΔEval", &v.d_eval_time},
        {"Δtime", &v.d_total_time},
        {"Δeval energy", &v.d_eval_energy},
        {"ΔMCC", &v.d_mcc},
        {"Δaccuracy", &v.d_accuracy_points}};
    int pairs = -1;
    bool same_pairs = true;
    std::vector<std::string> welch;
    for (const auto& [name, d] : deltas) {
        if (!d->available) {
            continue;
        }
        if (d->paired) {
            same_pairs = same_pairs && (pairs < 0 || pairs == d->test.n_pairs);
            pairs = pairs < 0 ? d->test.n_pairs : pairs;
        } else {
            welch.push_back(std::string(name) + ": " + d->why_unpaired);
        }
    }
    std::string paired_part;
    if (pairs >= 0) {
        paired_part =
            std::string(kPairedT) +
            (same_pairs ? ", " + std::to_string(pairs) + " pair" + (pairs == 1 ? "" : "s") : "");
    }
    if (welch.empty()) {
        return paired_part;
    }
    std::set<std::string> reasons;
    for (const auto& w : welch) {
        reasons.insert(w.substr(w.find(": ") + 2));
    }
    std::string welch_part = std::string(kWelch) + " (";
    if (pairs < 0 && reasons.size() == 1) {
        welch_part += *reasons.begin();  // every Δ of the row, for the same reason
    } else {
        for (size_t i = 0; i < welch.size(); ++i) {
            welch_part += (i ? "; " : "") + welch[i];
        }
    }
    welch_part += ")";
    return paired_part.empty() ? welch_part : paired_part + "; " + welch_part;
}

StudyAggregate aggregate(const std::vector<RunRecord>& runs, const std::string& baseline,
                         const std::vector<VariantInfo>& infos) {
    StudyAggregate study;
    study.baseline = baseline;
    study.runs = static_cast<int>(runs.size());

    std::vector<std::string> ids;
    for (const auto& r : runs) {
        if (std::find(ids.begin(), ids.end(), r.variant) == ids.end()) {
            ids.push_back(r.variant);
        }
    }
    std::sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
        if ((a == baseline) != (b == baseline)) {
            return a == baseline;
        }
        return variant_id_less(a, b);
    });

    std::set<std::string> hosts;
    std::set<std::string> cpus;
    std::set<std::string> sources;
    std::map<std::string, std::set<std::string>> component_kinds;

    for (const auto& id : ids) {
        VariantAggregate v;
        v.variant = id;
        v.name = id;
        for (const auto& info : infos) {
            if (info.id == id) {
                v.name = info.name.empty() ? id : info.name;
                v.phase = info.phase;
                v.combines = info.combines;
            }
        }
        // Stage order: the pipeline's, nested validation right after train, then anything else
        // seen.
        std::vector<std::string> paths = {"load_dataset", "tokenize", "load_model", "train",
                                          kValidateStage, "save",     "evaluate"};
        std::map<std::string, StageAggregate> stage_map;
        std::map<std::string, std::set<std::string>> stage_prov;
        std::set<std::string> total_prov;
        std::set<std::string> knobs;
        for (const auto& r : runs) {
            if (r.variant != id) {
                continue;
            }
            ++v.n_runs;
            const auto& doc = r.run;
            if (doc.contains("machine") && doc["machine"].is_object()) {
                if (study.machine.is_null()) {
                    study.machine = doc["machine"];
                }
                hosts.insert(doc["machine"].value("hostname", ""));
                cpus.insert(doc["machine"].value("cpu_model", ""));
            }
            if (doc.contains("/knobs/applied"_json_pointer) && doc["knobs"]["applied"].is_array()) {
                for (const auto& k : doc["knobs"]["applied"]) {
                    if (k.is_object() && k.contains("name")) {
                        knobs.insert(k["name"].get<std::string>());
                    }
                }
            }
            const nlohmann::json empty = nlohmann::json::object();
            const auto& energy = doc.contains("energy") ? doc["energy"] : empty;
            if (energy.contains("sources") && energy["sources"].is_array()) {
                for (const auto& s : energy["sources"]) {
                    if (s.value("used", false)) {
                        sources.insert(s.value("name", "?") + " (" + s.value("component", "?") +
                                       ", " + s.value("provenance", "?") + ")");
                    }
                }
            }
            double run_flops = 0.0;  // Σ of the stages' model_flops work (each stage its own)
            if (energy.contains("stages") && energy["stages"].is_array()) {
                for (const auto& st : energy["stages"]) {
                    const std::string path = st.value("path", st.value("name", ""));
                    if (path.empty()) {
                        continue;
                    }
                    const double flops = json_number(st, "/work/model_flops");
                    if (std::isfinite(flops)) {
                        run_flops += flops;
                    }
                    if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
                        paths.push_back(path);
                    }
                    auto& agg = stage_map[path];
                    agg.path = path;
                    push_if_finite(agg.energy_j, json_number(st, "/energy_j/total"), r.repeat);
                    push_if_finite(agg.duration_s, json_number(st, "/duration_s"), r.repeat);
                    if (st.contains("provenance")) {
                        stage_prov[path].insert(provenance_label(st["provenance"]));
                        for (const auto& [component, kind] : st["provenance"].items()) {
                            if (kind.is_string() && kind.get<std::string>() != "n/a") {
                                component_kinds[component].insert(kind.get<std::string>());
                            }
                        }
                    }
                    if (path == doc.value("eval_stage", std::string("evaluate"))) {
                        push_if_finite(v.eval_energy_j, json_number(st, "/energy_j/total"),
                                       r.repeat);
                        push_if_finite(v.eval_duration_s, json_number(st, "/duration_s"), r.repeat);
                    }
                }
            }
            if (energy.contains("total") && energy["total"].is_object()) {
                push_if_finite(v.total_energy_j, json_number(energy["total"], "/energy_j/total"),
                               r.repeat);
                push_if_finite(v.total_duration_s, json_number(energy["total"], "/duration_s"),
                               r.repeat);
                push_if_finite(v.total_energy_low_j,
                               json_number(energy["total"], "/energy_range_j/total/low"), r.repeat);
                push_if_finite(v.total_energy_high_j,
                               json_number(energy["total"], "/energy_range_j/total/high"),
                               r.repeat);
                if (energy["total"].contains("provenance")) {
                    total_prov.insert(provenance_label(energy["total"]["provenance"]));
                }
            }
            if (run_flops > 0) {
                const double tflop = run_flops / 1e12;
                push_if_finite(v.model_tflop, tflop, r.repeat);
                push_if_finite(v.j_per_tflop,
                               json_number(energy.contains("total") ? energy["total"] : empty,
                                           "/energy_j/total") /
                                   tflop,
                               r.repeat);
            }
            // A command study names its own accuracy metric (docs/byo.md); the pipeline's is
            // f1_vul.
            const std::string primary = doc.value("primary_metric", std::string("f1_vul"));
            if (primary != "f1_vul") {
                study.primary_metric = primary;
            }
            const nlohmann::json* declared = doc.contains("config") && doc["config"].is_object() &&
                                                     doc["config"].contains("primary") &&
                                                     doc["config"]["primary"].is_object()
                                                 ? &doc["config"]["primary"]
                                                 : nullptr;
            if (declared != nullptr) {
                const auto& d = *declared;
                study.primary_label = d.value("label", std::string());
                study.primary_higher_is_better = d.value("higher_is_better", true);
                const auto& range = d.contains("range") ? d["range"] : nlohmann::json();
                if (range.is_array() && range.size() == 2 && range[0].is_number() &&
                    range[1].is_number() && range[1].get<double>() > range[0].get<double>()) {
                    study.primary_in_points = true;
                    study.primary_scale = 100.0 / (range[1].get<double>() - range[0].get<double>());
                } else {
                    study.primary_in_points = false;
                    study.primary_scale = 1.0;
                }
                study.primary_budget = d.contains("budget") && d["budget"].is_number()
                                           ? d["budget"].get<double>()
                                           : -1.0;
            }
            push_if_finite(v.f1_vul, json_number(doc, "/metrics/" + primary), r.repeat);
            push_if_finite(v.f1_weighted, json_number(doc, "/metrics/f1_weighted"), r.repeat);
            push_if_finite(v.mcc, json_number(doc, "/metrics/mcc"), r.repeat);
            push_if_finite(v.accuracy, json_number(doc, "/metrics/accuracy"), r.repeat);
            push_if_finite(v.latency_ms_per_batch,
                           json_number(doc, "/metrics/latency_ms_per_batch"), r.repeat);
        }
        for (const auto& p : paths) {
            auto it = stage_map.find(p);
            if (it == stage_map.end()) {
                continue;
            }
            finish(it->second.energy_j);
            finish(it->second.duration_s);
            it->second.provenance = merge_labels(stage_prov[p]);
            v.stages.push_back(it->second);
        }
        for (Sample* s :
             {&v.total_energy_j, &v.total_duration_s, &v.eval_energy_j, &v.eval_duration_s,
              &v.total_energy_low_j, &v.total_energy_high_j, &v.f1_vul, &v.f1_weighted, &v.mcc,
              &v.accuracy, &v.latency_ms_per_batch, &v.model_tflop, &v.j_per_tflop}) {
            finish(*s);
        }
        v.total_provenance = merge_labels(total_prov);
        v.eval_provenance =
            stage_prov.count("evaluate") ? merge_labels(stage_prov["evaluate"]) : "n/a";
        v.knobs.assign(knobs.begin(), knobs.end());
        study.variants.push_back(std::move(v));
    }

    const VariantAggregate* base = study.find(baseline);
    study.has_baseline = base != nullptr;
    if (base != nullptr) {
        const VariantAggregate base_copy = *base;  // variants is modified below
        for (auto& v : study.variants) {
            if (v.variant == baseline) {
                for (Delta* d : {&v.d_total_energy, &v.d_total_time, &v.d_eval_energy,
                                 &v.d_eval_time, &v.d_f1_vul_points, &v.d_f1_weighted_points,
                                 &v.d_mcc, &v.d_accuracy_points}) {
                    d->verdict = "baseline";
                }
                continue;
            }
            v.d_total_energy = make_delta(v.total_energy_j, base_copy.total_energy_j, 1.0, true,
                                          v.variant, baseline);
            v.d_total_time = make_delta(v.total_duration_s, base_copy.total_duration_s, 1.0, true,
                                        v.variant, baseline);
            v.d_eval_energy = make_delta(v.eval_energy_j, base_copy.eval_energy_j, 1.0, true,
                                         v.variant, baseline);
            v.d_eval_time = make_delta(v.eval_duration_s, base_copy.eval_duration_s, 1.0, true,
                                       v.variant, baseline);
            v.d_f1_vul_points = make_delta(v.f1_vul, base_copy.f1_vul, study.primary_scale, false,
                                           v.variant, baseline);
            v.d_f1_weighted_points =
                make_delta(v.f1_weighted, base_copy.f1_weighted, 100.0, false, v.variant, baseline);
            v.d_mcc = make_delta(v.mcc, base_copy.mcc, 1.0, false, v.variant, baseline);
            v.d_accuracy_points =
                make_delta(v.accuracy, base_copy.accuracy, 100.0, false, v.variant, baseline);
            for (auto& st : v.stages) {
                if (const auto* bs = base_copy.stage(st.path)) {
                    st.d_energy =
                        make_delta(st.energy_j, bs->energy_j, 1.0, true, v.variant, baseline);
                }
            }
        }
    }

    if (hosts.size() > 1) {
        study.machine_notes.push_back(
            "runs come from " + std::to_string(hosts.size()) +
            " different hosts: comparisons across hosts are not like for like");
    }
    if (cpus.size() > 1) {
        study.machine_notes.push_back("runs come from " + std::to_string(cpus.size()) +
                                      " CPU models");
    }
    study.sources_used.assign(sources.begin(), sources.end());
    for (const auto& [component, kinds] : component_kinds) {
        study.component_provenance[component] = merge_labels(kinds);
    }
    return study;
}

}  // namespace gk::analysis
