// Per-variant aggregates of a study: mean and 95 % CI of every stage's energy and time, totals,
// evaluation cost and quality, each Δ vs the baseline with its CI and test (paired per repeat when
// both sides have the same repeats, Welch otherwise), and the provenance of every energy number
// (counter / integrated / modelled; "mixed" when runs disagree).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/analysis/run_record.h"
#include "greenknobs/analysis/stats.h"

namespace gk::analysis {

// The six pipeline stages of docs/design.md, in pipeline order, and the nested validation stage.
const std::vector<std::string>& pipeline_stages();
inline constexpr const char* kValidateStage = "train/validate";

struct Sample {
    std::vector<double> values;  // one per run that has the value (missing values are skipped)
    std::vector<int> repeats;    // the repeat each value came from (same order as values)
    Summary summary;
    bool empty() const { return values.empty(); }
    double mean() const { return summary.mean; }
};

// The seed of every bootstrap in a report (reproducible to the last digit).
inline constexpr uint64_t kBootstrapSeed = 20251128;

// A difference vs the baseline: absolute (scaled, e.g. ×100 for F1 points) and relative to the
// baseline, with 95 % CIs; `available` false for the baseline itself or when either side has no
// values.
// Paired (method "paired t"), when both sides have exactly the same repeats (repeat r of every
// variant trains with seed + r on the same data order): abs = mean of d_r = v_r − b_r with the
// paired t CI; pct = mean of the paired relative differences 100 · d_r / b_r with its t CI; the
// bootstraps resample the pairs. Welch (method "Welch") when pairing is impossible (repeats missing
// on one side, duplicates): abs = mean(v) − mean(b), pct = 100 · abs / mean(b) with the Welch CI
// scaled by the baseline mean (its own noise ignored); the bootstraps resample each side alone.
struct Delta {
    bool available = false;
    bool paired = false;
    std::string method;        // kPairedT | kWelch ("" when not available)
    std::string why_unpaired;  // Welch only: "V0 has no repeat 2" ...
    double abs = 0.0;
    Interval abs_ci;       // t interval (paired t or Welch)
    Interval abs_boot_ci;  // seeded percentile bootstrap of the same quantity
    double pct = 0.0;
    Interval pct_ci;       // t interval
    Interval pct_boot_ci;  // seeded percentile bootstrap (paired: of the mean relative difference)
    TTestResult test;      // on the absolute differences
    TTestResult pct_test;  // on the relative differences (paired); = test under Welch
    std::string
        verdict;  // "significant (paired t, p = 0.003)" / "not tested (Welch, n = 1)" / "baseline"
};

// Δ of sample `v` vs sample `base` as the report computes it against the baseline (paired by
// repeat where both have the same repeats, else Welch); `scale` turns fractions into points.
// For comparisons between two variants (the recommendation vs its runner-up).
Delta compare_samples(const Sample& v, const Sample& base, double scale, bool pct_headline,
                      const std::string& v_id, const std::string& base_id);

// The method(s) behind a row's Δs in words: "paired t, 3 pairs", "Welch (V0 has no repeat 2)", or
// both with the Δs each one covers. "" for the baseline.
struct VariantAggregate;
std::string delta_methods(const VariantAggregate& v);

struct StageAggregate {
    std::string path;  // "train", "train/validate"
    Sample energy_j;
    Sample duration_s;
    std::string provenance;  // "modelled", "cpu counter, ram modelled", "mixed (…)"
    Delta d_energy;
};

struct VariantAggregate {
    std::string variant;
    std::string name;
    std::string phase;
    std::vector<std::string> combines;
    std::vector<std::string> knobs;  // union of run.json knobs.applied[].name over its runs
    int n_runs = 0;
    std::vector<StageAggregate>
        stages;  // pipeline order, nested after its parent; only stages seen
    Sample total_energy_j, total_duration_s, eval_energy_j, eval_duration_s;
    // The stated range of the total energy (energy.total.energy_range_j.total); equal to
    // total_energy_j where everything was measured, wider where a part was modelled.
    Sample total_energy_low_j, total_energy_high_j;
    Sample f1_vul, f1_weighted, mcc, accuracy;
    Sample latency_ms_per_batch;  // metrics.latency_ms_per_batch (evaluation)
    // The arithmetic of a run: the sum of its stages' `model_flops` work (model/flops.h) in TFLOP,
    // and its total energy per TFLOP. Empty for runs that record none (a command's).
    Sample model_tflop, j_per_tflop;
    std::string total_provenance, eval_provenance;
    Delta d_total_energy, d_total_time, d_eval_energy, d_eval_time;
    Delta d_f1_vul_points, d_f1_weighted_points, d_mcc, d_accuracy_points;
    const StageAggregate* stage(const std::string& path) const;
};

struct StudyAggregate {
    std::string baseline;
    bool has_baseline = false;
    int runs = 0;
    std::vector<VariantAggregate> variants;  // natural id order, baseline first
    nlohmann::json machine;                  // the first run's machine block
    std::vector<std::string> machine_notes;  // e.g. "runs come from 2 different hosts"
    // Energy sources used across all runs: "rapl:package-0 (cpu, counter)".
    std::vector<std::string> sources_used;
    std::map<std::string, std::string>
        component_provenance;  // "cpu" → "modelled" ("mixed" if it varies)
    // The metric behind f1_vul/d_f1_vul_points: "f1_vul" for the pipeline, a command study's
    // report.primary_metric otherwise (a 0-1 score, higher is better; Δ in points = ×100).
    std::string primary_metric = "f1_vul";
    // The primary metric's shape, as a command catalog's table form declares it (each run's
    // config.primary, docs/byo.md); the defaults are f1_vul's: a 0-1 score, higher is better, Δ in
    // points (×100). d_f1_vul_points is Δ × primary_scale (100 / (high − low) with a range, else 1:
    // the metric's own units); a worsening is −Δ when higher is better, +Δ otherwise.
    std::string primary_label;  // "" = the metric's name
    bool primary_higher_is_better = true;
    bool primary_in_points = true;  // false: Δ in the metric's own units (no range declared)
    double primary_scale = 100.0;
    double primary_budget = -1.0;  // the catalog's accepted worsening (Δ units); < 0 = none
    const VariantAggregate* find(const std::string& variant) const;
};

// Groups the runs by variant and computes everything above. `infos` (may be empty) supplies names,
// phases and combination lists; unknown variants get their id as name.
StudyAggregate aggregate(const std::vector<RunRecord>& runs, const std::string& baseline,
                         const std::vector<VariantInfo>& infos = {});

// A run's stage provenance object {"cpu": "modelled", "ram": "modelled", "gpu": "n/a"} as a short
// label.
std::string provenance_label(const nlohmann::json& provenance);

}  // namespace gk::analysis
