// Knob interactions under the paper's multiplicative model: single-knob savings s_i = 1 − E_i/E_0
// predict a combination's saving 1 − ∏(1 − s_i); the observed saving is 1 − E_combo/E_0 (total
// energy). A CI of predicted − observed labels a combination synergistic, as predicted or
// antagonistic: paired over repeats (repeat r of the baseline, the components and the combination
// share seed and data order) when they all have the same repeats, an unpaired bootstrap otherwise.
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
    double predicted = 0.0;              // fractions of the baseline's total energy (from means)
    double observed = 0.0;
    // Paired: per repeat r, predicted_r − observed_r = E_combo,r/E_0,r − ∏ E_i,r/E_0,r; the label
    // uses its paired t interval and the bootstrap resamples whole repeats. Unpaired (repeats
    // missing somewhere): the label uses a bootstrap resampling runs within each variant.
    bool paired = false;
    std::string method;        // "paired t" | "unpaired bootstrap"
    std::string why_unpaired;  // "" when paired
    int n_pairs = 0;
    double diff = 0.0;      // paired: mean over repeats; unpaired: predicted − observed
    Interval diff_ci;       // predicted − observed, fraction: the interval the label uses
    Interval diff_boot_ci;  // the seeded percentile bootstrap (unpaired: the same as diff_ci)
    TTestResult test;       // paired only
    std::string label;      // synergistic | as predicted | antagonistic | undetermined (…) |
                            // components not measured: V1, V7
};

// Every variant with a non-empty `combines` list, in the aggregate's order. `runs` supplies per-run
// totals for the bootstrap (resampling runs within each variant).
std::vector<Interaction> compute_interactions(const StudyAggregate& study, uint64_t seed = 20251128,
                                              int replicates = 4000);

}  // namespace gk::analysis
