// Metrics against hand-computed answers (sklearn's definitions), zero-division cases and the JSON
// shape.
#include "greenknobs/train/metrics.h"

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

TEST(Metrics, FixedExampleMatchesHandComputedSklearnValues) {
    // tp = 3, fn = 1, fp = 2, tn = 4.
    std::vector<int> y = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    std::vector<int> p = {1, 1, 1, 0, 1, 1, 0, 0, 0, 0};
    Metrics m = compute_metrics(y, p);
    EXPECT_EQ(m.confusion.tp, 3);
    EXPECT_EQ(m.confusion.fn, 1);
    EXPECT_EQ(m.confusion.fp, 2);
    EXPECT_EQ(m.confusion.tn, 4);
    EXPECT_EQ(m.samples, 10);
    EXPECT_NEAR(m.accuracy, 0.7, 1e-12);
    EXPECT_NEAR(m.precision_vul, 0.6, 1e-12);
    EXPECT_NEAR(m.recall_vul, 0.75, 1e-12);
    EXPECT_NEAR(m.f1_vul, 2.0 / 3.0, 1e-12);
    // Class 0: precision 4/5, recall 4/6 -> F1 8/11.
    EXPECT_NEAR(m.f1_macro, (2.0 / 3.0 + 8.0 / 11.0) / 2.0, 1e-12);
    // sklearn f1_score(average="weighted"): supports 4 (class 1) and 6 (class 0).
    EXPECT_NEAR(m.f1_weighted, (4 * (2.0 / 3.0) + 6 * (8.0 / 11.0)) / 10.0, 1e-12);
    EXPECT_NEAR(m.f1_weighted, 0.7030303030, 1e-9);
    // matthews_corrcoef: (3·4 − 2·1) / sqrt(5·4·6·5).
    EXPECT_NEAR(m.mcc, 10.0 / std::sqrt(600.0), 1e-12);
    EXPECT_NEAR(m.mcc, 0.4082482905, 1e-9);
}

TEST(Metrics, NoPositivesAnywhereGivesZerosNotNan) {
    std::vector<int> y = {0, 0, 0};
    Metrics m = compute_metrics(y, y);
    EXPECT_EQ(m.precision_vul, 0.0);
    EXPECT_EQ(m.recall_vul, 0.0);
    EXPECT_EQ(m.f1_vul, 0.0);
    EXPECT_EQ(m.mcc, 0.0);
    EXPECT_EQ(m.accuracy, 1.0);
    // sklearn averages only over the labels present (here only 0, with F1 1).
    EXPECT_EQ(m.f1_macro, 1.0);
    EXPECT_EQ(m.f1_weighted, 1.0);
}

TEST(Metrics, ConstantPositivePredictionHasZeroMccAndZeroNegativeF1) {
    Metrics m = compute_metrics({1, 0}, {1, 1});
    EXPECT_NEAR(m.precision_vul, 0.5, 1e-12);
    EXPECT_EQ(m.recall_vul, 1.0);
    EXPECT_NEAR(m.f1_vul, 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(m.f1_macro, 1.0 / 3.0, 1e-12);
    EXPECT_NEAR(m.f1_weighted, 1.0 / 3.0, 1e-12);
    EXPECT_EQ(m.mcc, 0.0);
}

TEST(Metrics, PerfectAndInvertedPredictions) {
    std::vector<int> y = {1, 0, 1, 0};
    Metrics good = compute_metrics(y, y);
    EXPECT_EQ(good.f1_vul, 1.0);
    EXPECT_EQ(good.mcc, 1.0);
    Metrics bad = compute_metrics(y, {0, 1, 0, 1});
    EXPECT_EQ(bad.f1_vul, 0.0);
    EXPECT_EQ(bad.mcc, -1.0);
    EXPECT_EQ(bad.accuracy, 0.0);
}

TEST(Metrics, EmptyInputIsAllZero) {
    Metrics m = compute_metrics({}, {});
    EXPECT_EQ(m.samples, 0);
    EXPECT_EQ(m.accuracy, 0.0);
    EXPECT_EQ(m.f1_macro, 0.0);
}

TEST(Metrics, RejectsBadLabelsAndLengthMismatch) {
    EXPECT_THROW(compute_metrics({0, 2}, {0, 1}), CheckError);
    EXPECT_THROW(compute_metrics({0, 1}, {0}), CheckError);
}

TEST(Metrics, JsonHasRunJsonKeysAndNullForUnmeasured) {
    Metrics m = compute_metrics({1, 0}, {1, 0});
    m.samples_per_s = 12.5;
    nlohmann::json j = to_json(m);
    for (const char* key :
         {"f1_vul", "precision_vul", "recall_vul", "accuracy", "f1_macro", "f1_weighted", "mcc",
          "confusion", "samples", "samples_per_s", "latency_ms_per_batch", "j_per_sample"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["confusion"]["tp"], 1);
    EXPECT_EQ(j["confusion"]["tn"], 1);
    EXPECT_EQ(j["samples_per_s"], 12.5);
    EXPECT_TRUE(j["j_per_sample"].is_null());
    EXPECT_TRUE(j["latency_ms_per_batch"].is_null());
}

}  // namespace
}  // namespace gk::train
