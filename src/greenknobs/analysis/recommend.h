// The recommender: under a user's budgets (F1 drop, latency / time ratios, knobs required or
// forbidden) pick the measured variant with the lowest mean total energy, conservatively (the 95 %
// CI upper bound of the F1 drop must fit the budget; paired over repeats where possible, Welch
// otherwise, and the method is named), explain the choice, list runners-up and
// rejections, and suggest one untested combination from the single-knob results under the
// multiplicative model ("predicted, not measured").
#pragma once

#include <string>
#include <vector>

#include "greenknobs/analysis/aggregate.h"

namespace gk::analysis {

struct Budget {
    double max_f1_drop_points =
        1.0;  // vulnerable-class F1 vs the baseline, in points (0–100 scale)
    double max_eval_time_ratio = 0.0;       // mean evaluation time / baseline's; 0 = no limit
    double max_total_time_ratio = 0.0;      // mean total time / baseline's; 0 = no limit
    double max_latency_ms_per_batch = 0.0;  // mean evaluation latency per batch; 0 = no limit
    std::vector<std::string> must_have;     // knob names (run.json knobs.applied) or variant ids
    std::vector<std::string> forbidden;
};

struct Candidate {
    std::string variant;
    std::string name;
    double total_energy_j = 0.0;
    double saving_pct = 0.0;            // vs the baseline's mean total energy
    double f1_drop_points = 0.0;        // point estimate (positive = worse)
    double f1_drop_upper_points = 0.0;  // 95 % CI upper bound, or the point estimate when n = 1
    bool f1_drop_has_ci = false;
    std::string f1_drop_ci_method;  // "paired t" / "Welch": the interval behind the upper bound
    std::string f1_drop_no_ci_why;  // why there is no interval ("n = 1", constant differences)
    double eval_time_ratio = 0.0;
    double total_time_ratio = 0.0;
    double latency_ms_per_batch = 0.0;  // NaN when not recorded
    // The total-energy saving's 95 % interval (in %, positive = saves), from the variant's ΔTotal:
    // significant when the whole interval lies on the saving side.
    bool saving_has_ci = false;
    double saving_ci_low_pct = 0.0;
    double saving_ci_high_pct = 0.0;
    bool saving_significant = false;
    std::string saving_ci_method;
    bool qualifies = false;
    std::string reason;  // why it failed (empty when it qualifies)
};

struct PredictedCombination {
    bool found = false;
    std::vector<std::string> components;    // single-knob variant ids
    double predicted_saving_pct = 0.0;      // 1 − ∏(1 − s_i), in %
    double predicted_f1_drop_points = 0.0;  // sum of the components' drops (additive assumption)
    std::string note;                       // always says "predicted, not measured"
};

struct Recommendation {
    std::string rule;  // the qualification rule in words
    bool found = false;
    Candidate chosen;
    std::vector<Candidate> runners_up;  // the next qualifying variants by energy (up to 3)
    std::vector<Candidate> rejected;    // every variant that failed, with its reason
    std::string explanation;
    PredictedCombination suggestion;
};

// One rung of the budget ladder: what the same rule recommends at another F1 budget.
struct LadderStep {
    double max_f1_drop_points = 0.0;
    Recommendation recommendation;
};

Recommendation recommend(const StudyAggregate& study, const Budget& budget);

// The recommendation at each of `drops` (the budget's other limits kept), so a reader sees what a
// looser or tighter quality budget would buy.
std::vector<LadderStep> budget_ladder(const StudyAggregate& study, const Budget& budget,
                                      const std::vector<double>& drops);

}  // namespace gk::analysis
