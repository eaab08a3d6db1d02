// See metrics.h. Definitions follow scikit-learn 1.x: precision_recall_fscore_support with
// zero_division=0, f1 averaged over unique_labels(y_true, y_pred), matthews_corrcoef's 0 for an
// empty marginal.
#include "greenknobs/train/metrics.h"

#include <cmath>

#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

double safe_div(double num, double den) { return den == 0 ? 0.0 : num / den; }

// F1 of one class from its own true positives, false positives and false negatives.
double f1_of(double tp, double fp, double fn) { return safe_div(2 * tp, 2 * tp + fp + fn); }

nlohmann::json optional_json(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

Metrics compute_metrics(const std::vector<int>& labels, const std::vector<int>& predictions) {
    GK_CHECK(labels.size() == predictions.size(), "labels and predictions differ in length");
    Metrics m;
    Confusion& c = m.confusion;
    for (size_t i = 0; i < labels.size(); ++i) {
        int y = labels[i];
        int p = predictions[i];
        GK_CHECK((y == 0 || y == 1) && (p == 0 || p == 1), "labels and predictions must be 0 or 1");
        if (y == 1) {
            (p == 1 ? c.tp : c.fn) += 1;
        } else {
            (p == 1 ? c.fp : c.tn) += 1;
        }
    }
    m.samples = static_cast<int64_t>(labels.size());
    const double tp = static_cast<double>(c.tp);
    const double tn = static_cast<double>(c.tn);
    const double fp = static_cast<double>(c.fp);
    const double fn = static_cast<double>(c.fn);
    m.accuracy = safe_div(tp + tn, static_cast<double>(m.samples));
    m.precision_vul = safe_div(tp, tp + fp);
    m.recall_vul = safe_div(tp, tp + fn);
    m.f1_vul = f1_of(tp, fp, fn);
    // Class 0's view: its true positives are our true negatives.
    const double f1_neg = f1_of(tn, fn, fp);
    const double support_pos = tp + fn;
    const double support_neg = tn + fp;
    // sklearn averages over the labels that occur in y_true or y_pred.
    const bool has_pos = support_pos + fp > 0;
    const bool has_neg = support_neg + fn > 0;
    const int present = (has_pos ? 1 : 0) + (has_neg ? 1 : 0);
    m.f1_macro = safe_div((has_pos ? m.f1_vul : 0.0) + (has_neg ? f1_neg : 0.0), present);
    m.f1_weighted =
        safe_div(support_pos * m.f1_vul + support_neg * f1_neg, support_pos + support_neg);
    const double den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn);
    m.mcc = den == 0 ? 0.0 : (tp * tn - fp * fn) / std::sqrt(den);
    return m;
}

nlohmann::json to_json(const Metrics& m) {
    return nlohmann::json{
        {"f1_vul", m.f1_vul},
        {"precision_vul", m.precision_vul},
        {"recall_vul", m.recall_vul},
        {"accuracy", m.accuracy},
        {"f1_macro", m.f1_macro},
        {"f1_weighted", m.f1_weighted},
        {"mcc", m.mcc},
        {"confusion",
         {{"tn", m.confusion.tn},
          {"fp", m.confusion.fp},
          {"fn", m.confusion.fn},
          {"tp", m.confusion.tp}}},
        {"samples", m.samples},
        {"samples_per_s", optional_json(m.samples_per_s)},
        {"latency_ms_per_batch", optional_json(m.latency_ms_per_batch)},
        {"j_per_sample", optional_json(m.j_per_sample)},
    };
}

}  // namespace gk::train
