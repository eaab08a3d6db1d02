// Binary-classification metrics of the evaluate stage (label 1 = vulnerable, the primary class),
// computed as scikit-learn defines them (zero division -> 0), and their JSON form: run.json's
// `metrics` object. No torch here: the report and analysis modules can use it too.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace gk::train {

struct Confusion {
    int64_t tn = 0;
    int64_t fp = 0;
    int64_t fn = 0;
    int64_t tp = 0;
};

struct Metrics {
    double accuracy = 0;
    double precision_vul = 0;  // of class 1 (sklearn average="binary", pos_label=1)
    double recall_vul = 0;
    double f1_vul = 0;       // the primary metric
    double f1_macro = 0;     // unweighted mean over the labels present in labels ∪ predictions
    double f1_weighted = 0;  // support-weighted mean of per-class F1 (the paper's metric)
    double mcc = 0;          // Matthews correlation; 0 when any marginal is empty (sklearn)
    Confusion confusion;
    int64_t samples = 0;
    // Filled by whoever measured them; absent values are written as null ("n/a"), never 0.
    std::optional<double> samples_per_s;
    std::optional<double> latency_ms_per_batch;
    std::optional<double> j_per_sample;
};

// labels and predictions hold 0 or 1 and have equal length; anything else is a CheckError.
Metrics compute_metrics(const std::vector<int>& labels, const std::vector<int>& predictions);

// The `metrics` object of run.json (docs/design.md).
nlohmann::json to_json(const Metrics& m);

}  // namespace gk::train
