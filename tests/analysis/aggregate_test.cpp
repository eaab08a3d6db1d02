// Aggregation of synthetic run records: means and CIs per stage, Δ vs the baseline in % and F1
// points, provenance labels (incl. mixed), single-run variants, and loading run directories with
// failed runs.
#include "greenknobs/analysis/aggregate.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "greenknobs/util/fs.h"

#include "synthetic_run.h"

namespace gk::analysis {
namespace {

using gk::testing::make_runs;
using gk::testing::SyntheticRun;

std::vector<RunRecord> two_variants() {
    SyntheticRun base;
    base.variant = "V0";
    auto runs = make_runs(base, {990.0, 1000.0, 1010.0});
    SyntheticRun v;
    v.variant = "V7";
    v.f1_vul = 0.78;
    v.knobs = {"precision"};
    auto more = make_runs(v, {600.0, 610.0, 590.0});
    runs.insert(runs.end(), more.begin(), more.end());
    return runs;
}

TEST(Aggregate, MeansCisAndDeltas) {
    const StudyAggregate s =
        aggregate(two_variants(), "V0", {{"V7", "FP16 training", "training", {}}});
    ASSERT_EQ(s.variants.size(), 2u);
    EXPECT_EQ(s.variants[0].variant, "V0");
    const VariantAggregate* v = s.find("V7");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->name, "FP16 training");
    EXPECT_EQ(v->n_runs, 3);
    EXPECT_EQ(v->knobs, std::vector<std::string>{"precision"});
    EXPECT_NEAR(v->total_energy_j.mean(), 600.0, 1e-9);
    ASSERT_TRUE(v->total_energy_j.summary.ci.valid);
    // sd 10, n 3: half-width t(0.975, 2) · 10 / √3 = 4.302653 · 5.773503
    EXPECT_NEAR(v->total_energy_j.summary.ci.half_width(), 24.84137, 1e-4);
    EXPECT_TRUE(v->d_total_energy.available);
    // Same repeats on both sides: paired. ΔTotal % is the mean of the per-repeat relative
    // differences (600 vs 990, 610 vs 1000, 590 vs 1010), not the difference of the means.
    EXPECT_TRUE(v->d_total_energy.paired);
    EXPECT_EQ(v->d_total_energy.method, kPairedT);
    EXPECT_EQ(v->d_total_energy.test.n_pairs, 3);
    const double rel =
        100.0 * ((600.0 - 990.0) / 990.0 + (610.0 - 1000.0) / 1000.0 + (590.0 - 1010.0) / 1010.0) /
        3.0;
    EXPECT_NEAR(v->d_total_energy.pct, rel, 1e-9);
    EXPECT_NEAR(v->d_total_energy.abs, -400.0, 1e-9);
    EXPECT_TRUE(v->d_total_energy.pct_ci.valid);
    EXPECT_LT(v->d_total_energy.pct_ci.high, 0.0);
    EXPECT_TRUE(v->d_total_energy.pct_boot_ci.valid);
    EXPECT_LE(v->d_total_energy.pct_boot_ci.low, rel);
    EXPECT_GE(v->d_total_energy.pct_boot_ci.high, rel);
    EXPECT_EQ(v->d_total_energy.verdict.rfind("significant (paired t, p ", 0), 0u)
        << v->d_total_energy.verdict;
    // F1 in points: 0.78 − 0.80 = −2 points in every repeat → the paired differences are
    // constant: not testable, said so.
    EXPECT_NEAR(v->d_f1_vul_points.abs, -2.0, 1e-9);
    EXPECT_EQ(v->d_f1_vul_points.verdict,
              "not tested (paired t, the paired differences are constant)");
    EXPECT_EQ(delta_methods(*v), "paired t, 3 pairs");
    EXPECT_EQ(delta_methods(*s.find("V0")), "");
    EXPECT_TRUE(v->d_accuracy_points.available);
    EXPECT_NEAR(v->d_accuracy_points.abs, 0.0, 1e-9);
    // Stages in pipeline order with the nested validation after train.
    std::vector<std::string> paths;
    for (const auto& st : v->stages) {
        paths.push_back(st.path);
    }
    EXPECT_EQ(paths, (std::vector<std::string>{"load_dataset", "tokenize", "load_model", "train",
                                               "train/validate", "save", "evaluate"}));
    EXPECT_NEAR(v->eval_energy_j.mean(), 0.14 * 600.0, 1e-9);
    EXPECT_EQ(v->stage("train")->provenance, "modelled");
    EXPECT_EQ(s.find("V0")->d_total_energy.verdict, "baseline");
    EXPECT_EQ(s.component_provenance.at("cpu"), "modelled");
}

// Repeat r of every variant shares seed and data order, so a repeat that is slow for the baseline
// is slow for the variant too. Pairing removes that shared noise: the 5 % saving is clear, while
// Welch, which sees only two wide clouds of values, calls it not significant.
std::vector<RunRecord> correlated_repeats(bool drop_last_variant_repeat) {
    const std::vector<double> base_j = {1000.0, 1150.0, 900.0, 1080.0};
    const std::vector<double> saving = {0.050, 0.046, 0.053, 0.049};
    SyntheticRun b;
    b.variant = "V0";
    auto runs = make_runs(b, base_j);
    std::vector<double> v_j;
    for (size_t r = 0; r < base_j.size(); ++r) {
        v_j.push_back(base_j[r] * (1.0 - saving[r]));
    }
    if (drop_last_variant_repeat) {
        v_j.pop_back();
    }
    SyntheticRun v;
    v.variant = "V7";
    auto more = make_runs(v, v_j);
    runs.insert(runs.end(), more.begin(), more.end());
    return runs;
}

TEST(Aggregate, PairingMakesASharedNoiseEffectSignificantWhereWelchSaysNs) {
    const StudyAggregate s = aggregate(correlated_repeats(false), "V0");
    const Delta& d = s.find("V7")->d_total_energy;
    ASSERT_TRUE(d.paired);
    ASSERT_TRUE(d.pct_test.valid);
    EXPECT_LT(d.pct_test.p, 0.001);
    EXPECT_NEAR(d.pct, -100.0 * (0.050 + 0.046 + 0.053 + 0.049) / 4.0, 1e-9);
    EXPECT_LT(d.pct_ci.high, 0.0);
    EXPECT_GT(d.pct_ci.low, -6.0);
    EXPECT_LT(d.pct_boot_ci.high, 0.0);
    EXPECT_EQ(d.verdict.rfind("significant (paired t", 0), 0u) << d.verdict;

    // The same values, unpaired: Welch's interval spans 0.
    const Sample& a = s.find("V7")->total_energy_j;
    const Sample& b = s.find("V0")->total_energy_j;
    const TTestResult w = welch_t_test(a.values, b.values);
    ASSERT_TRUE(w.valid);
    EXPECT_GT(w.p, 0.05);
    EXPECT_TRUE(w.diff_ci.spans_zero());
}

TEST(Aggregate, WelchOnlyWhenPairingIsImpossibleAndSaysWhy) {
    const StudyAggregate s = aggregate(correlated_repeats(true), "V0");
    const VariantAggregate& v = *s.find("V7");
    const Delta& d = v.d_total_energy;
    EXPECT_FALSE(d.paired);
    EXPECT_EQ(d.method, kWelch);
    EXPECT_EQ(d.why_unpaired, "V7 has no repeat 3 to pair with V0's");
    EXPECT_EQ(d.test.method, kWelch);
    EXPECT_EQ(d.verdict.rfind("not significant (Welch, p = ", 0), 0u) << d.verdict;
    // Under Welch the % interval is the difference's interval over the baseline mean.
    const double base_mean = s.find("V0")->total_energy_j.mean();
    EXPECT_NEAR(d.pct, 100.0 * d.test.diff / base_mean, 1e-9);
    EXPECT_NEAR(d.pct_ci.low, 100.0 * d.test.diff_ci.low / base_mean, 1e-9);
    EXPECT_TRUE(d.pct_boot_ci.valid);
    EXPECT_EQ(delta_methods(v), "Welch (V7 has no repeat 3 to pair with V0's)");
}

TEST(Aggregate, AMissingValueInOneRunUnpairsOnlyThatDelta) {
    auto runs = correlated_repeats(false);
    for (auto& r : runs) {
        if (r.variant == "V7" && r.repeat == 1) {
            r.run["metrics"]["f1_weighted"] = nullptr;  // not recorded in this run
        }
    }
    const StudyAggregate s = aggregate(runs, "V0");
    const VariantAggregate& v = *s.find("V7");
    EXPECT_TRUE(v.d_total_energy.paired);
    EXPECT_FALSE(v.d_f1_weighted_points.paired);
    EXPECT_EQ(delta_methods(v),
              "paired t, 4 pairs; Welch (\u0394F1 w: V7 has no repeat 1 to pair with V0's)");
}

TEST(Aggregate, MixedProvenanceIsShownAsSuch) {
    SyntheticRun a;
    a.variant = "V0";
    a.cpu_provenance = "counter";
    SyntheticRun b = a;
    b.repeat = 1;
    b.cpu_provenance = "modelled";
    const StudyAggregate s =
        aggregate({gk::testing::make_record(a), gk::testing::make_record(b)}, "V0");
    EXPECT_EQ(s.variants[0].total_provenance, "mixed (cpu counter, ram modelled | modelled)");
    EXPECT_EQ(s.component_provenance.at("cpu"), "mixed (counter | modelled)");
}

TEST(Aggregate, SingleRunVariantHasNoIntervalAndNoTest) {
    auto runs = two_variants();
    SyntheticRun one;
    one.variant = "V9";
    runs.push_back(gk::testing::make_record(one));
    const StudyAggregate s = aggregate(runs, "V0");
    const VariantAggregate* v = s.find("V9");
    ASSERT_NE(v, nullptr);
    EXPECT_FALSE(v->total_energy_j.summary.ci.valid);
    EXPECT_FALSE(v->d_total_energy.pct_ci.valid);
    // One run (repeat 0) against three: the baseline's repeats 1 and 2 have no partner → Welch.
    EXPECT_EQ(v->d_total_energy.verdict, "not tested (Welch, n = 1)");
}

TEST(Aggregate, ModelFlopsAndEnergyPerTflopWhereRunsCountThem) {
    SyntheticRun b;
    b.variant = "V0";
    b.model_tflop = 2.0;
    auto runs = make_runs(b, {990.0, 1000.0, 1010.0});
    SyntheticRun none;  // a run that counts no arithmetic (a command's)
    none.variant = "V1";
    auto more = make_runs(none, {500.0, 510.0});
    runs.insert(runs.end(), more.begin(), more.end());
    const auto st = aggregate(runs, "V0");
    const auto* v0 = st.find("V0");
    ASSERT_NE(v0, nullptr);
    // The stages' model_flops work summed (train 1.8 + evaluate 0.2 TFLOP).
    EXPECT_NEAR(v0->model_tflop.mean(), 2.0, 1e-12);
    EXPECT_NEAR(v0->j_per_tflop.mean(), 500.0, 1e-9);
    EXPECT_EQ(v0->j_per_tflop.values.size(), 3u);
    const auto* v1 = st.find("V1");
    ASSERT_NE(v1, nullptr);
    EXPECT_TRUE(v1->model_tflop.empty());
    EXPECT_TRUE(v1->j_per_tflop.empty());
}

TEST(Aggregate, ProvenanceLabel) {
    EXPECT_EQ(provenance_label({{"cpu", "counter"}, {"ram", "counter"}, {"gpu", "n/a"}}),
              "counter");
    EXPECT_EQ(provenance_label({{"cpu", "counter"}, {"gpu", "integrated"}}),
              "cpu counter, gpu integrated");
    EXPECT_EQ(provenance_label({{"gpu", "n/a"}}), "n/a");
}

TEST(LoadRunDirs, ReadsCompleteRunsAndCountsFailed) {
    const std::string dir = std::string(GK_BINARY_DIR) + "/tests/analysis/tmp_load_run_dirs";
    std::filesystem::remove_all(dir);
    SyntheticRun ok;
    ok.variant = "V10";
    SyntheticRun ok2;
    ok2.variant = "V2";
    SyntheticRun bad;
    bad.variant = "V3";
    bad.status = "failed";
    int i = 0;
    for (const auto& r : {ok, ok2, bad}) {
        const std::string d = dir + "/runs/run" + std::to_string(i++);
        fs::make_dirs(d);
        fs::write_file_atomic(d + "/run.json", gk::testing::make_run_json(r).dump());
    }
    fs::make_dirs(dir + "/runs/broken");
    fs::write_file_atomic(dir + "/runs/broken/run.json", "{ not json");
    int failed = -1;
    const auto runs = load_run_dirs(dir, &failed);
    EXPECT_EQ(failed, 2);
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].variant, "V2");  // natural order: V2 before V10
    EXPECT_EQ(runs[1].variant, "V10");
    std::filesystem::remove_all(dir);
}

TEST(VariantIdLess, NaturalOrder) {
    EXPECT_TRUE(variant_id_less("V2", "V10"));
    EXPECT_FALSE(variant_id_less("V10", "V2"));
    EXPECT_TRUE(variant_id_less("V10", "V10a"));
    EXPECT_FALSE(variant_id_less("V7", "V7"));
}

TEST(PaperTable, LoadsTheReferenceCsv) {
    const auto rows =
        load_paper_table(std::string(GK_SOURCE_DIR) + "/data/reference/paper_table1.csv");
    ASSERT_EQ(rows.size(), 31u);
    EXPECT_EQ(rows[11].variant, "V11");
    EXPECT_NEAR(rows[11].delta_total_pct, -38.4, 1e-12);
    EXPECT_NEAR(rows[0].total_kwh, 0.512, 1e-12);
}

}  // namespace
}  // namespace gk::analysis
