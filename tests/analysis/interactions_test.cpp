// The multiplicative model's arithmetic and the interaction labels on synthetic data with known
// truth: A saves 20 %, B saves 50 %, so A+B is predicted to save 1 − 0.8 · 0.5 = 60 %.
#include "greenknobs/analysis/interactions.h"

#include <gtest/gtest.h>

#include "synthetic_run.h"

namespace gk::analysis {
namespace {

using gk::testing::make_runs;
using gk::testing::SyntheticRun;

// Three repeats; repeat r moves every variant by a shared factor (same seed and data order) plus a
// little noise of its own, so the per-repeat interaction differences have some spread.
std::vector<RunRecord> study_with_combo(const std::string& id, double combo_energy_j) {
    std::vector<RunRecord> runs;
    const std::vector<double> shared = {0.97, 1.0, 1.04};
    int k = 0;
    auto add = [&](const std::string& v, double e) {
        SyntheticRun s;
        s.variant = v;
        std::vector<double> es;
        for (size_t r = 0; r < shared.size(); ++r) {
            const double own = 1.0 + 0.004 * static_cast<double>(((k + r) % 3)) - 0.004;
            es.push_back(e * shared[r] * own);
        }
        ++k;
        auto rr = make_runs(s, es);
        runs.insert(runs.end(), rr.begin(), rr.end());
    };
    add("V0", 1000.0);
    add("A", 800.0);
    add("B", 500.0);
    add(id, combo_energy_j);
    return runs;
}

std::vector<VariantInfo> infos(const std::string& id) {
    return {
        {"A", "knob a", "model", {}}, {"B", "knob b", "training", {}}, {id, "a+b", "", {"A", "B"}}};
}

TEST(Multiplicative, Arithmetic) {
    EXPECT_NEAR(multiplicative_saving({0.2, 0.5}), 0.6, 1e-15);
    EXPECT_NEAR(multiplicative_saving({}), 0.0, 1e-15);
    EXPECT_NEAR(multiplicative_saving({-0.307, 0.205}), 1.0 - 1.307 * 0.795, 1e-15);
    // The paper's V28 check (replication.md §4): V18 0.488, V11 0.384, V7 0.205 → 74.9 %.
    EXPECT_NEAR(multiplicative_saving({0.488, 0.384, 0.205}), 0.749, 5e-4);
}

TEST(Interactions, AsPredicted) {
    const auto s = aggregate(study_with_combo("C", 400.0), "V0", infos("C"));
    const auto in = compute_interactions(s);
    ASSERT_EQ(in.size(), 1u);
    ASSERT_TRUE(in[0].computed);
    EXPECT_NEAR(in[0].predicted, 0.6, 0.01);
    EXPECT_NEAR(in[0].observed, 0.6, 0.01);
    // Every variant has repeats 0, 1, 2: paired per repeat.
    EXPECT_TRUE(in[0].paired);
    EXPECT_EQ(in[0].method, kPairedT);
    EXPECT_EQ(in[0].n_pairs, 3);
    EXPECT_TRUE(in[0].test.valid);
    EXPECT_TRUE(in[0].diff_boot_ci.valid);
    ASSERT_TRUE(in[0].diff_ci.valid);
    EXPECT_LT(in[0].diff_ci.low, 0.0);
    EXPECT_GT(in[0].diff_ci.high, 0.0);
    EXPECT_EQ(in[0].label, "as predicted");
}

TEST(Interactions, Synergistic) {
    const auto in = compute_interactions(aggregate(study_with_combo("C", 300.0), "V0", infos("C")));
    EXPECT_NEAR(in[0].observed, 0.7, 0.01);
    EXPECT_EQ(in[0].label, "synergistic");
}

TEST(Interactions, Antagonistic) {
    const auto in = compute_interactions(aggregate(study_with_combo("C", 550.0), "V0", infos("C")));
    EXPECT_NEAR(in[0].observed, 0.45, 0.01);
    EXPECT_EQ(in[0].label, "antagonistic");
}

// The per-repeat differences cancel the shared repeat factor: a 2-point antagonism that the
// unpaired bootstrap (resampling each variant alone) cannot separate from the repeat noise is
// clear when paired.
TEST(Interactions, PairingResolvesWhatTheUnpairedBootstrapCannot) {
    std::vector<RunRecord> runs;
    const std::vector<double> shared = {0.85, 1.0, 1.2, 0.95};
    const std::vector<double> own = {1.0, 1.003, 0.998, 1.001};
    auto add = [&](const std::string& v, double e, size_t shift) {
        SyntheticRun s;
        s.variant = v;
        std::vector<double> es;
        for (size_t r = 0; r < shared.size(); ++r) {
            es.push_back(e * shared[r] * own[(r + shift) % own.size()]);
        }
        auto rr = make_runs(s, es);
        runs.insert(runs.end(), rr.begin(), rr.end());
    };
    add("V0", 1000.0, 0);
    add("A", 800.0, 1);
    add("B", 500.0, 2);
    add("C", 420.0, 3);  // predicted saving 60 %, observed 58 %
    const auto paired = compute_interactions(aggregate(runs, "V0", infos("C")));
    ASSERT_TRUE(paired[0].paired);
    EXPECT_NEAR(paired[0].diff, 0.02, 0.002);
    EXPECT_EQ(paired[0].label, "antagonistic");

    // Drop one repeat of the combination: pairing is impossible, the unpaired bootstrap is used
    // and says why.
    std::vector<RunRecord> unpaired;
    for (const auto& r : runs) {
        if (!(r.variant == "C" && r.repeat == 3)) {
            unpaired.push_back(r);
        }
    }
    const auto u = compute_interactions(aggregate(unpaired, "V0", infos("C")));
    EXPECT_FALSE(u[0].paired);
    EXPECT_EQ(u[0].method, "unpaired bootstrap");
    EXPECT_EQ(u[0].why_unpaired, "C has repeats {0,1,2}, V0 has {0,1,2,3}");
    EXPECT_EQ(u[0].label, "as predicted");
}

TEST(Interactions, UnmeasuredComponentsAreMarkedNotComputed) {
    auto inf = infos("C");
    inf[2].combines = {"A", "V99", "V98"};
    const auto in = compute_interactions(aggregate(study_with_combo("C", 400.0), "V0", inf));
    ASSERT_EQ(in.size(), 1u);
    EXPECT_FALSE(in[0].computed);
    EXPECT_EQ(in[0].label, "components not measured: V99, V98");
}

TEST(Interactions, SingleRunsGiveUndeterminedLabel) {
    std::vector<RunRecord> runs;
    for (const auto& [v, e] : std::vector<std::pair<std::string, double>>{
             {"V0", 1000.0}, {"A", 800.0}, {"B", 500.0}, {"C", 300.0}}) {
        SyntheticRun s;
        s.variant = v;
        s.total_energy_j = e;
        runs.push_back(gk::testing::make_record(s));
    }
    const auto in = compute_interactions(aggregate(runs, "V0", infos("C")));
    ASSERT_TRUE(in[0].computed);
    EXPECT_NEAR(in[0].observed - in[0].predicted, 0.1, 1e-12);
    EXPECT_EQ(in[0].label, "undetermined (n = 1)");
}

}  // namespace
}  // namespace gk::analysis
