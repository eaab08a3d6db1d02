// Recommendation rules. Conservative on quality (CI upper bound of the F1 drop), point estimates on
// time ratios (a latency budget is usually soft); both stated in Recommendation::rule so the page
// says it.
#include "greenknobs/analysis/recommend.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

#include "greenknobs/analysis/interactions.h"

namespace gk::analysis {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

bool has_term(const VariantAggregate& v, const std::string& term) {
    return v.variant == term || std::find(v.knobs.begin(), v.knobs.end(), term) != v.knobs.end() ||
           std::find(v.combines.begin(), v.combines.end(), term) != v.combines.end();
}

// The knobs a single-knob variant stands for: its run.json knob names, or its id when it has none.
std::set<std::string> knob_set(const VariantAggregate& v) {
    std::set<std::string> s(v.knobs.begin(), v.knobs.end());
    if (s.empty()) {
        s.insert(v.variant);
    }
    return s;
}

// Whether the chosen variant's saving is resolved by the repeats, in words.
std::string saving_words(const Candidate& c) {
    if (!c.saving_has_ci) {
        return "There is no interval for the energy saving (too few paired repeats): treat it as "
               "a point estimate.";
    }
    const std::string ci = "95 % " + (c.saving_ci_method.empty() ? "" : c.saving_ci_method + " ") +
                           "CI " + fmt("%.1f", c.saving_ci_low_pct) + " to " +
                           fmt("%.1f", c.saving_ci_high_pct) + " %";
    if (c.saving_significant) {
        return "The saving is significant (" + ci + ").";
    }
    return "The saving is not significant (" + ci +
           ", which includes 0): more repeats could change this choice.";
}

// Whether the choice uses less energy than the runner-up by more than noise: the paired Δ of the
// runner-up's total energy vs the choice's (so two variants within noise are said to be so).
std::string versus_runner_up(const StudyAggregate& study, const Candidate& chosen,
                             const Candidate& runner) {
    const VariantAggregate* a = study.find(runner.variant);
    const VariantAggregate* b = study.find(chosen.variant);
    const Delta d = compare_samples(a->total_energy_j, b->total_energy_j, 1.0, true, runner.variant,
                                    chosen.variant);
    if (!d.available || !d.pct_ci.valid) {
        return "Whether it beats the runner-up " + runner.variant +
               " is not tested (no interval for their difference).";
    }
    const std::string diff = runner.variant + " uses " + fmt("%+.1f", d.pct) + " % vs " +
                             chosen.variant + ", 95 % " + d.method + " CI " +
                             fmt("%.1f", d.pct_ci.low) + " to " + fmt("%.1f", d.pct_ci.high) + " %";
    if (d.pct_ci.low > 0.0) {
        return "It uses significantly less energy than the runner-up (" + diff + ").";
    }
    return "The runner-up " + runner.variant + " is not distinguishable from it in energy (" +
           diff + "): either serves.";
}

// After a paired interval of the primary metric broke the budget: whether more repeats could tell.
// The sd of the paired differences comes back from the interval's half width (t · sd / √n).
std::string more_repeats_words(const Delta& d, double drop, double budget) {
    if (!d.paired || !d.abs_ci.valid || d.test.n_pairs < 2) {
        return "";
    }
    if (!(drop < budget)) {
        return "; its mean drop (" + fmt("%.2f", drop) +
               ") is itself over the budget: more repeats would not make it fit";
    }
    const int n = d.test.n_pairs;
    const double sd = d.abs_ci.half_width() * std::sqrt(static_cast<double>(n)) /
                      student_t_quantile(0.975, n - 1);
    const int need = repeats_to_bound(drop, sd, n, budget);
    if (need <= 0) {
        return "";
    }
    return "; its mean drop (" + fmt("%.2f", drop) + ") fits: about " +
           (need > 1000 ? std::string("more than 1000") : std::to_string(need)) +
           " paired repeats at this spread would tell";
}

}  // namespace

std::vector<LadderStep> budget_ladder(const StudyAggregate& study, const Budget& budget,
                                      const std::vector<double>& drops) {
    std::vector<LadderStep> out;
    for (double d : drops) {
        Budget b = budget;
        b.max_f1_drop_points = d;
        out.push_back({d, recommend(study, b)});
    }
    return out;
}

Recommendation recommend(const StudyAggregate& study, const Budget& budget) {
    Recommendation rec;
    // The primary metric's direction (a command study may guard a loss): a worsening is −Δ when
    // higher is better, +Δ otherwise; its words and units follow (f1_vul's text is unchanged).
    const bool higher = study.primary_higher_is_better;
    const double sign = higher ? -1.0 : 1.0;
    const bool f1 = study.primary_metric == "f1_vul";
    const std::string metric =
        f1 ? "vulnerable-class F1"
           : (study.primary_label.empty() ? study.primary_metric : study.primary_label);
    const std::string short_metric = f1 ? "F1" : metric;
    const std::string worsening = higher ? "drop" : "rise";
    const std::string units = study.primary_in_points ? " points" : "";
    const std::string budget_units = study.primary_in_points ? "-point budget" : " budget";
    rec.rule = "a variant qualifies when the upper end of the 95 % CI of its " + metric + " " +
               worsening + " vs " + study.baseline + " is at most " +
               fmt("%.2g", budget.max_f1_drop_points) + units +
               " (the paired t interval over repeats when the variant and the baseline have the "
               "same repeats, else Welch's; the point estimate when there is no interval, flagged)";
    if (budget.max_eval_time_ratio > 0.0) {
        rec.rule += ", its mean evaluation time is at most " +
                    fmt("%.3g", budget.max_eval_time_ratio) + "× the baseline's";
    }
    if (budget.max_total_time_ratio > 0.0) {
        rec.rule += ", its mean total time is at most " + fmt("%.3g", budget.max_total_time_ratio) +
                    "× the baseline's";
    }
    if (budget.max_latency_ms_per_batch > 0.0) {
        rec.rule += ", its mean evaluation latency is at most " +
                    fmt("%.3g", budget.max_latency_ms_per_batch) + " ms per batch";
    }
    rec.rule +=
        "; time and latency budgets use means; among the qualifying variants the lowest mean "
        "total energy wins";
    const VariantAggregate* base = study.find(study.baseline);
    if (base == nullptr || base->total_energy_j.empty()) {
        rec.explanation =
            "No recommendation: the baseline " + study.baseline + " has no measured runs.";
        return rec;
    }
    const double e0 = base->total_energy_j.mean();
    std::vector<Candidate> qualified;
    std::vector<Candidate> all;
    for (const auto& v : study.variants) {
        Candidate c;
        c.variant = v.variant;
        c.name = v.name;
        if (v.total_energy_j.empty()) {
            c.reason = "no energy values";
            rec.rejected.push_back(c);
            continue;
        }
        c.total_energy_j = v.total_energy_j.mean();
        c.saving_pct = 100.0 * (1.0 - c.total_energy_j / e0);
        if (v.variant == study.baseline) {
            c.f1_drop_has_ci = true;
        } else if (!v.d_f1_vul_points.available) {
            c.reason = "no " + short_metric + " values";
            rec.rejected.push_back(c);
            continue;
        } else {
            const Delta& d = v.d_f1_vul_points;
            c.f1_drop_points = sign * d.abs + 0.0;  // + 0.0: no "-0.00" for a zero difference
            c.f1_drop_has_ci = d.abs_ci.valid;
            c.f1_drop_ci_method = d.method;
            c.f1_drop_no_ci_why = d.abs_ci.why_invalid;
            // The worst end of the interval: its low end for a score, its high end for a loss.
            c.f1_drop_upper_points = !c.f1_drop_has_ci ? c.f1_drop_points
                                     : higher          ? -d.abs_ci.low
                                                       : d.abs_ci.high;
        }
        c.eval_time_ratio = (!v.eval_duration_s.empty() && !base->eval_duration_s.empty() &&
                             base->eval_duration_s.mean() > 0.0)
                                ? v.eval_duration_s.mean() / base->eval_duration_s.mean()
                                : NAN;
        c.total_time_ratio = (!v.total_duration_s.empty() && !base->total_duration_s.empty() &&
                              base->total_duration_s.mean() > 0.0)
                                 ? v.total_duration_s.mean() / base->total_duration_s.mean()
                                 : NAN;
        c.latency_ms_per_batch =
            v.latency_ms_per_batch.empty() ? NAN : v.latency_ms_per_batch.mean();
        if (v.variant != study.baseline && v.d_total_energy.available &&
            v.d_total_energy.pct_ci.valid) {
            const Delta& de = v.d_total_energy;
            c.saving_has_ci = true;
            c.saving_ci_low_pct = -de.pct_ci.high;
            c.saving_ci_high_pct = -de.pct_ci.low;
            c.saving_significant = c.saving_ci_low_pct > 0.0;
            c.saving_ci_method = de.method;
        }
        std::string reason;
        for (const auto& f : budget.forbidden) {
            if (has_term(v, f)) {
                reason = "uses forbidden " + f;
            }
        }
        for (const auto& m : budget.must_have) {
            if (reason.empty() && !has_term(v, m)) {
                reason = "lacks required " + m;
            }
        }
        if (reason.empty() && c.f1_drop_upper_points > budget.max_f1_drop_points) {
            reason =
                short_metric + " " + worsening + " up to " + fmt("%.2f", c.f1_drop_upper_points) +
                units +
                (c.f1_drop_has_ci ? " (" + c.f1_drop_ci_method + " CI upper bound)"
                                  : " (no CI: " + c.f1_drop_no_ci_why + ")") +
                " > budget " + fmt("%.2g", budget.max_f1_drop_points) +
                more_repeats_words(v.d_f1_vul_points, c.f1_drop_points, budget.max_f1_drop_points);
        }
        if (reason.empty() && budget.max_eval_time_ratio > 0.0) {
            if (!std::isfinite(c.eval_time_ratio)) {
                reason = "no evaluation time";
            } else if (c.eval_time_ratio > budget.max_eval_time_ratio) {
                reason = "evaluation time ×" + fmt("%.2f", c.eval_time_ratio) + " > budget ×" +
                         fmt("%.3g", budget.max_eval_time_ratio);
            }
        }
        if (reason.empty() && budget.max_total_time_ratio > 0.0) {
            if (!std::isfinite(c.total_time_ratio)) {
                reason = "no total time";
            } else if (c.total_time_ratio > budget.max_total_time_ratio) {
                reason = "total time ×" + fmt("%.2f", c.total_time_ratio) + " > budget ×" +
                         fmt("%.3g", budget.max_total_time_ratio);
            }
        }
        if (reason.empty() && budget.max_latency_ms_per_batch > 0.0) {
            if (!std::isfinite(c.latency_ms_per_batch)) {
                reason = "no evaluation latency recorded";
            } else if (c.latency_ms_per_batch > budget.max_latency_ms_per_batch) {
                reason = "evaluation latency " + fmt("%.3g", c.latency_ms_per_batch) +
                         " ms/batch > budget " + fmt("%.3g", budget.max_latency_ms_per_batch);
            }
        }
        c.reason = reason;
        c.qualifies = reason.empty();
        (c.qualifies ? qualified : rec.rejected).push_back(c);
        all.push_back(c);
    }
    std::stable_sort(
        qualified.begin(), qualified.end(),
        [](const Candidate& a, const Candidate& b) { return a.total_energy_j < b.total_energy_j; });
    if (qualified.empty()) {
        rec.explanation = "No measured variant meets the budgets; see the rejections below.";
    } else {
        rec.found = true;
        rec.chosen = qualified.front();
        for (size_t i = 1; i < qualified.size() && i <= 3; ++i) {
            rec.runners_up.push_back(qualified[i]);
        }
        const Candidate& c = rec.chosen;
        if (c.variant == study.baseline) {
            rec.explanation = "Keep the baseline " + c.variant +
                              ": no other measured variant uses less energy within the budgets.";
        } else {
            rec.explanation =
                c.variant + " (" + c.name + ") uses " + fmt("%.1f", std::fabs(c.saving_pct)) +
                " % " + (c.saving_pct >= 0 ? "less" : "more") + " total energy than " +
                study.baseline + "; its " + metric + " " +
                (c.f1_drop_points > 0
                     ? (higher ? "drops by " : "rises by ") + fmt("%.2f", c.f1_drop_points)
                     : "changes by " + std::string(higher ? "+" : "-") +
                           fmt("%.2f", -c.f1_drop_points + 0.0)) +
                units + " (" + worsening + " at most " + fmt("%.2f", c.f1_drop_upper_points) +
                (c.f1_drop_has_ci ? ", 95 % " + c.f1_drop_ci_method + " CI upper bound"
                                  : ", no CI: " + c.f1_drop_no_ci_why) +
                ") within the " + fmt("%.2g", budget.max_f1_drop_points) + budget_units;
            if (std::isfinite(c.eval_time_ratio)) {
                rec.explanation += "; evaluation time ×" + fmt("%.2f", c.eval_time_ratio);
            }
            rec.explanation += ". " + saving_words(c);
            if (!rec.runners_up.empty() && rec.runners_up.front().variant != study.baseline) {
                rec.explanation += " " + versus_runner_up(study, c, rec.runners_up.front());
            }
        }
    }

    // Suggestion: the untested combination of 2–3 qualifying single-knob variants with disjoint
    // knobs and the largest predicted saving whose summed F1 drop still fits the budget.
    std::vector<const VariantAggregate*> singles;
    for (const auto& c : all) {
        const VariantAggregate* v = study.find(c.variant);
        if (c.qualifies && v->variant != study.baseline && v->combines.empty() &&
            c.saving_pct > 0.0) {
            singles.push_back(v);
        }
    }
    std::vector<std::set<std::string>> measured_sets;
    for (const auto& v : study.variants) {
        if (!v.combines.empty()) {
            measured_sets.emplace_back(v.combines.begin(), v.combines.end());
        }
    }
    auto saving_of = [&](const VariantAggregate* v) { return 1.0 - v->total_energy_j.mean() / e0; };
    auto drop_of = [&](const VariantAggregate* v) { return sign * v->d_f1_vul_points.abs; };
    PredictedCombination best;
    std::vector<size_t> idx;
    // Recursive enumeration over combinations of size 2..3 (singles are few: tens at most).
    std::function<void(size_t)> visit = [&](size_t start) {
        if (idx.size() >= 2) {
            std::set<std::string> ids;
            std::set<std::string> knobs;
            size_t knob_count = 0;
            std::vector<double> savings;
            double drop = 0.0;
            for (size_t i : idx) {
                ids.insert(singles[i]->variant);
                const auto ks = knob_set(*singles[i]);
                knobs.insert(ks.begin(), ks.end());
                knob_count += ks.size();
                savings.push_back(saving_of(singles[i]));
                drop += drop_of(singles[i]);
            }
            const bool disjoint = knobs.size() == knob_count;
            const bool measured =
                std::find(measured_sets.begin(), measured_sets.end(), ids) != measured_sets.end();
            bool has_required = true;
            for (const auto& m : budget.must_have) {
                bool any = false;
                for (size_t i : idx) {
                    any = any || has_term(*singles[i], m);
                }
                has_required = has_required && any;
            }
            const double predicted = 100.0 * multiplicative_saving(savings);
            if (disjoint && !measured && has_required && drop <= budget.max_f1_drop_points &&
                (!best.found || predicted > best.predicted_saving_pct + 1e-9)) {
                best.found = true;
                best.components.clear();
                for (size_t i : idx) {
                    best.components.push_back(singles[i]->variant);
                }
                best.predicted_saving_pct = predicted;
                best.predicted_f1_drop_points = drop;
            }
        }
        if (idx.size() == 3) {
            return;
        }
        for (size_t i = start; i < singles.size(); ++i) {
            idx.push_back(i);
            visit(i + 1);
            idx.pop_back();
        }
    };
    visit(0);
    if (best.found) {
        std::string names;
        for (size_t i = 0; i < best.components.size(); ++i) {
            names += (i ? " + " : "") + best.components[i];
        }
        best.note = "predicted, not measured: " + names + " would save about " +
                    fmt("%.1f", best.predicted_saving_pct) +
                    " % of total energy under the multiplicative model (" + short_metric + " " +
                    worsening + " ≈ " + fmt("%.2f", best.predicted_f1_drop_points) + units +
                    " if " + worsening + "s add up); run it before relying on it";
    } else {
        best.note = "no untested combination of qualifying single-knob variants to suggest";
    }
    rec.suggestion = best;
    return rec;
}

}  // namespace gk::analysis
