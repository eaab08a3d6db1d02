// The multiplicative model and its intervals. Savings are computed from variant means; the interval
// is paired over repeats where every variant involved has the same repeats (the design's power: a
// repeat's seed moves all of them together), else a bootstrap resampling each variant alone.
#include "greenknobs/analysis/interactions.h"

#include <cmath>
#include <map>

namespace gk::analysis {

namespace {

// repeat → value; false (and why) when a repeat is unknown or appears twice.
bool by_repeat(const Sample& s, const std::string& id, std::map<int, double>* out,
               std::string* why) {
    if (s.repeats.size() != s.values.size()) {
        *why = "repeats unknown";
        return false;
    }
    for (size_t i = 0; i < s.values.size(); ++i) {
        if (!out->emplace(s.repeats[i], s.values[i]).second) {
            *why = id + " has two runs of repeat " + std::to_string(s.repeats[i]);
            return false;
        }
    }
    return true;
}

std::string repeat_list(const std::map<int, double>& m) {
    std::string out;
    for (const auto& [r, x] : m) {
        out += (out.empty() ? "" : ",") + std::to_string(r);
    }
    return out;
}

// Per-repeat predicted − observed when the baseline, every component and the combination have
// exactly the same repeats; false and why otherwise.
bool paired_differences(const VariantAggregate& base,
                        const std::vector<const VariantAggregate*>& parts,
                        const VariantAggregate& combo, std::vector<double>* diffs,
                        std::string* why) {
    std::map<int, double> b;
    if (!by_repeat(base.total_energy_j, base.variant, &b, why)) {
        return false;
    }
    std::vector<std::map<int, double>> p(parts.size());
    std::map<int, double> c;
    std::vector<std::pair<const VariantAggregate*, std::map<int, double>*>> all;
    for (size_t i = 0; i < parts.size(); ++i) {
        all.emplace_back(parts[i], &p[i]);
    }
    all.emplace_back(&combo, &c);
    for (auto& [v, m] : all) {
        if (!by_repeat(v->total_energy_j, v->variant, m, why)) {
            return false;
        }
        if (m->size() != b.size() || repeat_list(*m) != repeat_list(b)) {
            *why = v->variant + " has repeats {" + repeat_list(*m) + "}, " + base.variant +
                   " has {" + repeat_list(b) + "}";
            return false;
        }
    }
    for (const auto& [r, e0] : b) {
        if (e0 == 0.0) {
            *why = base.variant + " has 0 J in repeat " + std::to_string(r);
            return false;
        }
        double kept = 1.0;
        for (const auto& m : p) {
            kept *= m.at(r) / e0;
        }
        // (1 − kept) − (1 − E_c/E_0)
        diffs->push_back(c.at(r) / e0 - kept);
    }
    return true;
}

}  // namespace

double multiplicative_saving(const std::vector<double>& single_savings) {
    double kept = 1.0;
    for (double s : single_savings) {
        kept *= 1.0 - s;
    }
    return 1.0 - kept;
}

std::vector<Interaction> compute_interactions(const StudyAggregate& study, uint64_t seed,
                                              int replicates) {
    std::vector<Interaction> out;
    const VariantAggregate* base = study.find(study.baseline);
    for (const auto& v : study.variants) {
        if (v.combines.empty()) {
            continue;
        }
        Interaction in;
        in.variant = v.variant;
        in.components = v.combines;
        std::vector<const VariantAggregate*> parts;
        for (const auto& c : v.combines) {
            const VariantAggregate* p = study.find(c);
            if (p == nullptr || p->total_energy_j.empty()) {
                in.missing.push_back(c);
            } else {
                parts.push_back(p);
            }
        }
        if (base == nullptr || base->total_energy_j.empty()) {
            in.missing.insert(in.missing.begin(), study.baseline + " (baseline)");
        }
        if (v.total_energy_j.empty()) {
            in.label = "combination has no energy values";
            out.push_back(in);
            continue;
        }
        if (!in.missing.empty()) {
            in.label = "components not measured: ";
            for (size_t i = 0; i < in.missing.size(); ++i) {
                in.label += (i ? ", " : "") + in.missing[i];
            }
            out.push_back(in);
            continue;
        }
        const double e0 = base->total_energy_j.mean();
        for (const auto* p : parts) {
            in.single_savings.push_back(1.0 - p->total_energy_j.mean() / e0);
        }
        in.predicted = multiplicative_saving(in.single_savings);
        in.observed = 1.0 - v.total_energy_j.mean() / e0;
        in.computed = true;

        std::vector<double> diffs;
        std::string why;
        if (paired_differences(*base, parts, v, &diffs, &why)) {
            in.paired = true;
            in.method = kPairedT;
            in.n_pairs = static_cast<int>(diffs.size());
            in.test = paired_t_test(diffs);
            in.diff = in.test.diff;
            in.diff_ci = in.test.diff_ci;
            in.diff_boot_ci = bootstrap_mean_ci(diffs, seed, replicates);
        } else {
            in.method = "unpaired bootstrap";
            in.why_unpaired = why;
            in.diff = in.predicted - in.observed;
            // groups: [baseline, components..., combination]
            std::vector<std::vector<double>> groups;
            groups.push_back(base->total_energy_j.values);
            for (const auto* p : parts) {
                groups.push_back(p->total_energy_j.values);
            }
            groups.push_back(v.total_energy_j.values);
            const size_t n_parts = parts.size();
            in.diff_ci = bootstrap_means_ci(
                groups,
                [n_parts](const std::vector<double>& m) {
                    const double b = m[0];
                    double kept = 1.0;
                    for (size_t i = 0; i < n_parts; ++i) {
                        kept *= m[1 + i] / b;
                    }
                    const double predicted = 1.0 - kept;
                    const double observed = 1.0 - m[1 + n_parts] / b;
                    return predicted - observed;
                },
                seed, replicates);
            in.diff_boot_ci = in.diff_ci;
        }
        if (!in.diff_ci.valid) {
            in.label = "undetermined (" + in.diff_ci.why_invalid + ")";
        } else if (in.diff_ci.high < 0.0) {
            in.label = "synergistic";  // observed saving above the prediction
        } else if (in.diff_ci.low > 0.0) {
            in.label = "antagonistic";
        } else {
            in.label = "as predicted";
        }
        out.push_back(in);
    }
    return out;
}

}  // namespace gk::analysis
