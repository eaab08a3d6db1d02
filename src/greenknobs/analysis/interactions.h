// Knob interactions under the paper's multiplicative model: single-knob savings s_i = 1 − E_i/E_0
// predict a combination's saving 1 − ∏(1 − s_i); the observed saving is 1 − E_combo/E_0 (total
// energy). A bootstrap CI of predicted − observed labels a combination synergistic, as predicted or
// antagonistic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "greenknobs/analysis/aggregate.h"

namespace gk::analysis {

// 1 − ∏(1 − s_i): the saving of independent multiplicative effects.
double multiplicative_saving(const std::vector<double>& single_savings);

struct Interaction {
    std::string variant;
    std::vector<std::string> components;  // the single-knob variant ids it combines
    std::vector<std::string>
        missing;  // components with no measured runs (then nothing is computed)
    bool computed = false;
    std::vector<double> single_savings;  // s_i, same order as components (fractions)
    double predicted = 0.0;              // fractions of the baseline's total energy
    double observed = 0.0;
    Interval diff_ci;   // predicted − observed, fraction
    std::string label;  // synergistic | as predicted | antagonistic | undetermined (…) |
                        // components not measured: V1, V7
};

// Every variant with a non-empty `combines` list, in the aggregate's order. `runs` supplies per-run
// totals for the bootstrap (resampling runs within each variant).
std::vector<Interaction> compute_interactions(const StudyAggregate& study, uint64_t seed = 20251128,
                                              int replicates = 4000);

}  // namespace gk::analysis
