// The search itself, independent of how a configuration is run: successive-halving screening of
// every move at rising fidelity (paired seeds: every run of a batch trains with the same seed and
// data order as the baseline beside it; a rung runs as several batches, each with a baseline run,
// and every point is compared with the line fitted to those baselines' energies over the run order,
// so a machine that drifts during a rung does not rank the knobs), a cascade that adds the
// surviving knobs in order of saving, predicting each step multiplicatively
// (analysis::multiplicative_saving) corrected by the synergy/antagonism observed so far and
// checking the budget with a real run beside its own baseline run, a second cascade over the knobs
// that left validation F1 exactly as it was (their combination is the runner-up's candidate), a
// Pareto front over (energy, F1 drop, time), selection on validation F1 only, and a verification of
// the chosen configuration and the runner-up with repeats at full fidelity, where test F1 is read
// for the first and only time. Deterministic given the outcomes, so a resumed tune (whose runs come
// back from the stores) replays the same decisions. Torch-free.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/analysis/stats.h"
#include "greenknobs/tune/budget.h"
#include "greenknobs/tune/space.h"

namespace gk::tune {

struct Trial {
    std::string id;        // unique within the tune: "B" (baseline), "M03", "C02"
    nlohmann::json knobs;  // {} for the baseline
    std::string label;
};

// One run's result. The search reads validation F1; test_f1 only in verification.
struct Outcome {
    bool ok = false;
    std::string error;  // why not ok (failed, skipped here)
    double energy_j = NAN;
    double duration_s = NAN;
    double val_f1 = NAN;  // validation F1 (vulnerable) at the best epoch
    // The validation split it was measured on (NaN = unknown): how noisy val_f1 is.
    double val_samples = NAN;
    double val_positives = NAN;
    double eval_latency_ms = NAN;
    double test_f1 = NAN;
    double seq = NAN;  // position in its batch's execution order (NaN = unknown)
};

class Evaluator {
  public:
    virtual ~Evaluator() = default;
    // Runs every trial × repeats at `fidelity` (1 = the base as given) as one batch named `batch`
    // (repeat r trains with seed + r); result[i][r] for trials[i]. A batch run again returns the
    // stored results without running anything.
    virtual std::vector<std::vector<Outcome>> run(const std::string& batch, double fidelity,
                                                  const std::vector<Trial>& trials,
                                                  int repeats) = 0;
    // Why `knobs` cannot be applied together on the base ("" = they can).
    virtual std::string invalid(const nlohmann::json& knobs) = 0;
    // A combination's name in steps and reports.
    virtual std::string describe(const nlohmann::json& knobs) { return describe_knobs(knobs); }
};

struct SearchOptions {
    Budget budget;
    double max_runs = 40;                         // full-run equivalents (see Cost in docs/tune.md)
    std::vector<double> fidelities = {0.1, 0.3};  // screening rungs, ascending; the cascade runs at
                                                  // the last
    double eta = 2;                    // successive halving keeps the best 1/eta of a rung's knobs
    int verify_repeats = 3;            // >= 3
    double min_gain_pct = 1.0;         // a cascade step must save at least this much more (% of E0)
    double screen_slack_points = 2.0;  // extra F1 drop tolerated when promoting from a rung
    // Baseline runs per screening rung: the rung runs as this many batches, each with a baseline
    // run, and a point's reference is the line through the baselines' energies over the run order.
    int screen_baselines = 3;
    // Configurations verified beside the pick for comparison (e.g. catalog variants V30, V27):
    // same batch, same repeats and seeds; never picked.
    std::vector<Trial> compare;
};

// One configuration measured at one fidelity (repeat 0). Its reference is the baseline of its
// group (a screening rung's batches, or one cascade batch): the line fitted to the group's baseline
// runs' energies (and durations) over the run order, at this point's position.
struct Point {
    std::string id, batch, label, phase;  // phase: screen | cascade | preserve
    std::string group;                    // the batches whose baseline runs are its reference
    double seq = NAN;                     // position in the group's execution order
    double fidelity = 1;
    nlohmann::json knobs;
    Outcome outcome;
    double reference_energy_j = NAN;  // the group's baseline at this point's position
    double energy_ratio = NAN;        // E / reference_energy_j
    double saving_pct = NAN;          // 100 (1 − energy_ratio)
    Measured vs_baseline;             // validation F1 drop, latency, time
    std::vector<std::string> violations;
    bool on_front = false;  // non-dominated in (energy, F1 drop, time) at the cascade fidelity
};

// One decision of the search, in order.
struct Step {
    std::string phase;  // screen | halving | cascade | preserve | select | verify
    std::string id, label;
    double fidelity = NAN;
    double predicted_saving_pct = NAN;
    double observed_saving_pct = NAN;
    double f1_drop_points = NAN;  // validation
    std::string decision;         // measured | promoted | dropped | accepted | rejected | skipped |
                                  // chosen | runner-up | picked
    std::string why;
};

// A paired estimate over repeats (t interval; `upper` is what a budget is checked against).
struct PairedEstimate {
    int n = 0;
    double mean = NAN;
    analysis::Interval ci;
    double upper = NAN;  // the CI's upper end; the value itself when every pair agrees
    double sd = NAN;     // of the paired values (n >= 2)
};

struct Verified {
    std::string role;  // chosen | runner-up | compare
    std::string id, label;
    nlohmann::json knobs;
    double energy_j = NAN, baseline_energy_j = NAN;  // means at full fidelity
    PairedEstimate saving_pct, val_f1_drop, test_f1_drop, time_pct;
    double eval_latency_ms = NAN;
    std::vector<std::string> validation_violations, test_violations;
    // When the F1 budget fails at the interval's upper end: whether more paired repeats could make
    // it hold, and about how many (f1_resolution_text; "" when the budget holds or has no F1 term).
    int f1_repeats_needed = 0;  // 0 = none would (or nothing to say); > cap: more than the cap
    std::string f1_resolution_text;
    bool holds_on_validation = false;
    bool holds_on_test = false;
};

struct Accounting {
    int runs = 0;                // runs with a measured energy (failed runs have none)
    double search_energy_j = 0;  // screening and cascade
    double verify_energy_j = 0;
    double full_run_equivalents = 0;    // everything / the verified baseline's mean energy
    double saving_per_run_j = NAN;      // baseline − picked, full fidelity means
    double break_even_runs = NAN;       // (search + verify) / saving_per_run_j
    double break_even_runs_high = NAN;  // with the low end of the saving's CI
};

struct SearchResult {
    std::vector<Point> points;
    std::vector<Step> steps;
    std::vector<std::string> cascade_order;  // move ids in the order the main cascade tried them
    std::vector<Verified> verified;          // chosen, runner-up
    int picked = -1;                         // index in verified; -1 = keep the baseline
    std::string pick_why;
    // Full-run equivalents charged against --max-runs (each batch at the final estimate of its
    // fidelity's share).
    double planned_cost = 0;
    // The fidelity of the cascade, the front and the selection: the last screening rung measured.
    double cascade_fidelity = NAN;
    Accounting accounting;
    const Point* find(const std::string& id, double fidelity) const;
};

SearchResult run_search(const std::vector<Move>& moves, Evaluator& ev, const SearchOptions& opt);

// InputError for options the search cannot run with (fewer than 3 verification repeats, fidelities
// not ascending in (0, 1], eta < 2, fewer than 1 screening baseline, --max-runs below what
// verification needs).
void check_search_options(const SearchOptions& opt);

// The estimate behind a list of paired values (NaN values dropped).
PairedEstimate paired_estimate(const std::vector<double>& values);

// Paired repeats after which the 95 % t interval's upper end would be within `budget`, if the mean
// and spread stay what `e` measured: the smallest n >= max(e.n, 2) with
// mean + t(0.975, n − 1) · sd / √n <= budget; 0 when the mean is not below the budget (no number of
// repeats makes it hold) or fewer than 2 values were measured; cap + 1 when more than `cap`.
int repeats_to_resolve(const PairedEstimate& e, double budget, int cap = 1000);

nlohmann::json to_json(const SearchResult& r);

}  // namespace gk::tune
