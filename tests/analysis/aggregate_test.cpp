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
    EXPECT_NEAR(v->d_total_energy.pct, -40.0, 1e-9);
    EXPECT_TRUE(v->d_total_energy.pct_ci.valid);
    EXPECT_LT(v->d_total_energy.pct_ci.high, 0.0);
    EXPECT_EQ(v->d_total_energy.verdict.rfind("significant", 0), 0u);
    // F1 in points: 0.78 − 0.80 = −2 points; no spread on either side → not testable, said so.
    EXPECT_NEAR(v->d_f1_vul_points.abs, -2.0, 1e-9);
    EXPECT_EQ(v->d_f1_vul_points.verdict, "not tested (no spread in either group)");
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
    EXPECT_EQ(v->d_total_energy.verdict, "not tested (n = 1)");
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
