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

void push_if_finite(Sample& s, double v) {
    if (std::isfinite(v)) {
        s.values.push_back(v);
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

// Δ of `v` vs `base`; `scale` turns fractions into points (F1 × 100).
Delta make_delta(const Sample& v, const Sample& base, double scale) {
    Delta d;
    if (v.empty() || base.empty()) {
        d.verdict = "not tested (no values)";
        return d;
    }
    d.available = true;
    d.test = welch_t_test(v.values, base.values);
    d.abs = d.test.diff * scale;
    const double base_mean = base.mean();
    if (d.test.diff_ci.valid) {
        d.abs_ci = d.test.diff_ci;
        d.abs_ci.low *= scale;
        d.abs_ci.high *= scale;
    } else {
        d.abs_ci.why_invalid = d.test.why_invalid;
    }
    if (base_mean != 0.0) {
        d.pct = 100.0 * d.test.diff / base_mean;
        if (d.test.diff_ci.valid) {
            d.pct_ci.valid = true;
            const double lo = 100.0 * d.test.diff_ci.low / base_mean;
            const double hi = 100.0 * d.test.diff_ci.high / base_mean;
            d.pct_ci.low = std::min(lo, hi);
            d.pct_ci.high = std::max(lo, hi);
        } else {
            d.pct_ci.why_invalid = d.test.why_invalid;
        }
    } else {
        d.pct_ci.why_invalid = "baseline is 0";
    }
    d.verdict = significance_verdict(d.test);
    return d;
}

}  // namespace

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
            if (energy.contains("stages") && energy["stages"].is_array()) {
                for (const auto& st : energy["stages"]) {
                    const std::string path = st.value("path", st.value("name", ""));
                    if (path.empty()) {
                        continue;
                    }
                    if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
                        paths.push_back(path);
                    }
                    auto& agg = stage_map[path];
                    agg.path = path;
                    push_if_finite(agg.energy_j, json_number(st, "/energy_j/total"));
                    push_if_finite(agg.duration_s, json_number(st, "/duration_s"));
                    if (st.contains("provenance")) {
                        stage_prov[path].insert(provenance_label(st["provenance"]));
                        for (const auto& [component, kind] : st["provenance"].items()) {
                            if (kind.is_string() && kind.get<std::string>() != "n/a") {
                                component_kinds[component].insert(kind.get<std::string>());
                            }
                        }
                    }
                    if (path == "evaluate") {
                        push_if_finite(v.eval_energy_j, json_number(st, "/energy_j/total"));
                        push_if_finite(v.eval_duration_s, json_number(st, "/duration_s"));
                    }
                }
            }
            if (energy.contains("total") && energy["total"].is_object()) {
                push_if_finite(v.total_energy_j, json_number(energy["total"], "/energy_j/total"));
                push_if_finite(v.total_duration_s, json_number(energy["total"], "/duration_s"));
                if (energy["total"].contains("provenance")) {
                    total_prov.insert(provenance_label(energy["total"]["provenance"]));
                }
            }
            push_if_finite(v.f1_vul, json_number(doc, "/metrics/f1_vul"));
            push_if_finite(v.f1_weighted, json_number(doc, "/metrics/f1_weighted"));
            push_if_finite(v.mcc, json_number(doc, "/metrics/mcc"));
            push_if_finite(v.accuracy, json_number(doc, "/metrics/accuracy"));
            push_if_finite(v.latency_ms_per_batch,
                           json_number(doc, "/metrics/latency_ms_per_batch"));
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
              &v.f1_vul, &v.f1_weighted, &v.mcc, &v.accuracy, &v.latency_ms_per_batch}) {
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
            v.d_total_energy = make_delta(v.total_energy_j, base_copy.total_energy_j, 1.0);
            v.d_total_time = make_delta(v.total_duration_s, base_copy.total_duration_s, 1.0);
            v.d_eval_energy = make_delta(v.eval_energy_j, base_copy.eval_energy_j, 1.0);
            v.d_eval_time = make_delta(v.eval_duration_s, base_copy.eval_duration_s, 1.0);
            v.d_f1_vul_points = make_delta(v.f1_vul, base_copy.f1_vul, 100.0);
            v.d_f1_weighted_points = make_delta(v.f1_weighted, base_copy.f1_weighted, 100.0);
            v.d_mcc = make_delta(v.mcc, base_copy.mcc, 1.0);
            v.d_accuracy_points = make_delta(v.accuracy, base_copy.accuracy, 100.0);
            for (auto& st : v.stages) {
                if (const auto* bs = base_copy.stage(st.path)) {
                    st.d_energy = make_delta(st.energy_j, bs->energy_j, 1.0);
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
