// The multiplicative model and its bootstrap. Savings are computed from variant means; the interval
// resamples the baseline, every component and the combination independently.
#include "greenknobs/analysis/interactions.h"

#include <cmath>

namespace gk::analysis {

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
