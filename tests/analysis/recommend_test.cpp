// Recommender choices on synthetic data: the conservative F1 rule, time budgets, required and
// forbidden knobs, runners-up order, and the "predicted, not measured" suggestion.
#include "greenknobs/analysis/recommend.h"

#include <map>

#include <gtest/gtest.h>

#include "synthetic_run.h"

namespace gk::analysis {
namespace {

using gk::testing::make_record;
using gk::testing::SyntheticRun;

void add(std::vector<RunRecord>& runs, const std::string& v, double e, std::vector<double> f1s,
         std::vector<std::string> knobs, double eval_time_s = 14.0) {
    for (size_t i = 0; i < f1s.size(); ++i) {
        SyntheticRun s;
        s.variant = v;
        s.repeat = static_cast<int>(i);
        s.total_energy_j = e * (1.0 + 0.01 * static_cast<double>(i));
        s.f1_vul = f1s[i];
        s.knobs = knobs;
        s.eval_time_s = eval_time_s;
        runs.push_back(make_record(s));
    }
}

StudyAggregate study() {
    std::vector<RunRecord> runs;
    add(runs, "V0", 1000, {0.800, 0.801, 0.799}, {});
    add(runs, "V1", 500, {0.700, 0.701, 0.699}, {"lora"});             // 10-point drop
    add(runs, "V2", 600, {0.796, 0.798, 0.794}, {"prune"}, 7.0);       // −0.4 points
    add(runs, "V3", 700, {0.800, 0.801, 0.799}, {"precision"}, 30.0);  // slower eval
    add(runs, "V4", 550, {0.700, 0.900, 0.800}, {"compile"});          // mean equal, huge spread
    return aggregate(runs, "V0", {});
}

TEST(Recommend, ARejectionByTheIntervalSaysWhetherMoreRepeatsCouldTell) {
    std::vector<RunRecord> runs;
    add(runs, "V0", 1000, {0.800, 0.801, 0.799}, {});
    add(runs, "V4", 550, {0.700, 0.900, 0.800}, {"compile"});  // mean drop 0, spread ~10 points
    add(runs, "V5", 500, {0.770, 0.790, 0.780}, {"prune"});    // mean drop 2 points
    Budget b;
    b.max_f1_drop_points = 1.0;
    const Recommendation r = recommend(aggregate(runs, "V0", {}), b);
    std::map<std::string, std::string> why;
    for (const auto& c : r.rejected) {
        why[c.variant] = c.reason;
    }
    // V4: the mean fits, so the reason gives the paired repeats that would bound it at its spread.
    const std::vector<double> drops = {10.0, -9.9, -0.1};
    const int need = repeats_to_bound(mean(drops), sample_sd(drops), 3, 1.0);
    ASSERT_GT(need, 3);
    EXPECT_NE(why["V4"].find("fits: about " + std::to_string(need) + " paired repeats"),
              std::string::npos)
        << why["V4"];
    // V5: the mean itself is over the budget.
    EXPECT_NE(why["V5"].find("is itself over the budget: more repeats would not make it fit"),
              std::string::npos)
        << why["V5"];
}

TEST(Recommend, PicksLowestEnergyWithinConservativeF1Budget) {
    Budget b;
    b.max_f1_drop_points = 1.0;
    const Recommendation r = recommend(study(), b);
    ASSERT_TRUE(r.found);
    EXPECT_EQ(r.chosen.variant, "V2");
    ASSERT_EQ(r.runners_up.size(), 2u);
    EXPECT_EQ(r.runners_up[0].variant, "V3");
    EXPECT_EQ(r.runners_up[1].variant, "V0");
    // V4's mean F1 equals the baseline's but its CI upper bound of the drop is far above 1 point.
    bool v4_rejected = false;
    for (const auto& c : r.rejected) {
        if (c.variant == "V4") {
            v4_rejected = true;
            // Same repeats as the baseline: the interval is the paired one, and it says so.
            EXPECT_NE(c.reason.find("paired t CI upper bound"), std::string::npos) << c.reason;
        }
    }
    EXPECT_TRUE(v4_rejected);
    EXPECT_EQ(r.chosen.f1_drop_ci_method, "paired t");
    EXPECT_NE(r.explanation.find("95 % paired t CI upper bound"), std::string::npos)
        << r.explanation;
    EXPECT_NE(r.rule.find("upper end of the 95 % CI"), std::string::npos);
    EXPECT_NE(r.rule.find("paired t interval over repeats"), std::string::npos);
    EXPECT_NE(r.explanation.find("V2"), std::string::npos);
}

// A variant whose repeats do not match the baseline's is judged on Welch's interval, named as such.
TEST(Recommend, UnpairedVariantsAreJudgedOnWelchAndSaySo) {
    std::vector<RunRecord> runs;
    add(runs, "V0", 1000, {0.800, 0.801, 0.799}, {});
    add(runs, "V5", 600, {0.790, 0.810}, {"prune"});  // repeat 2 missing
    Budget b;
    b.max_f1_drop_points = 1.0;
    const Recommendation r = recommend(aggregate(runs, "V0", {}), b);
    ASSERT_EQ(r.rejected.size(), 1u);
    EXPECT_EQ(r.rejected[0].variant, "V5");
    EXPECT_EQ(r.rejected[0].f1_drop_ci_method, "Welch");
    EXPECT_NE(r.rejected[0].reason.find("Welch CI upper bound"), std::string::npos)
        << r.rejected[0].reason;
}

TEST(Recommend, LooseBudgetTakesTheCheapest) {
    Budget b;
    b.max_f1_drop_points = 15.0;
    EXPECT_EQ(recommend(study(), b).chosen.variant, "V1");
}

TEST(Recommend, TimeBudgetAndKnobConstraints) {
    Budget b;
    b.max_f1_drop_points = 1.0;
    b.forbidden = {"prune"};
    EXPECT_EQ(recommend(study(), b).chosen.variant, "V3");
    b.max_eval_time_ratio = 1.5;  // V3's evaluation is 30/14 ≈ 2.1× slower
    EXPECT_EQ(recommend(study(), b).chosen.variant, "V0");
    Budget m;
    m.max_f1_drop_points = 1.0;
    m.must_have = {"precision"};
    EXPECT_EQ(recommend(study(), m).chosen.variant, "V3");
}

TEST(Recommend, LatencyBudget) {
    // The synthetic runs all record 10 ms per batch.
    Budget b;
    b.max_f1_drop_points = 1.0;
    b.max_latency_ms_per_batch = 5.0;
    const Recommendation r = recommend(study(), b);
    EXPECT_FALSE(r.found);
    EXPECT_NE(r.rule.find("5 ms per batch"), std::string::npos);
    b.max_latency_ms_per_batch = 12.0;
    EXPECT_EQ(recommend(study(), b).chosen.variant, "V2");
}

TEST(Recommend, SuggestsAnUntestedCombinationClearlyLabelled) {
    Budget b;
    b.max_f1_drop_points = 1.0;
    const Recommendation r = recommend(study(), b);
    ASSERT_TRUE(r.suggestion.found);
    EXPECT_EQ(r.suggestion.components, (std::vector<std::string>{"V2", "V3"}));
    // 1 − (0.6 · 1.01) · (0.7 · 1.01)… with the 1 % repeat drift: means 606 and 707 → savings
    // 0.394, 0.293
    const double e0 = 1010.0;
    const double expect = 100.0 * (1.0 - (606.0 / e0) * (707.0 / e0));
    EXPECT_NEAR(r.suggestion.predicted_saving_pct, expect, 1e-9);
    EXPECT_EQ(r.suggestion.note.rfind("predicted, not measured", 0), 0u);
}

// Explicit per-repeat energies, so the paired interval of the saving has a width.
void add_energies(std::vector<RunRecord>& runs, const std::string& v, std::vector<double> e,
                  std::vector<std::string> knobs) {
    SyntheticRun proto;
    proto.variant = v;
    proto.knobs = std::move(knobs);
    for (auto& r : gk::testing::make_runs(proto, e)) {
        runs.push_back(std::move(r));
    }
}

TEST(Recommend, SaysWhetherTheSavingIsSignificant) {
    std::vector<RunRecord> runs;
    add_energies(runs, "V0", {1000, 1100, 900}, {});
    add_energies(runs, "V2", {600, 640, 560}, {"prune"});       // −40 % ± a little: resolved
    add_energies(runs, "V3", {850, 1150, 850}, {"precision"});  // −5 % on average, spans 0
    const StudyAggregate st = aggregate(runs, "V0", {});
    Budget b;
    const Recommendation r = recommend(st, b);
    ASSERT_EQ(r.chosen.variant, "V2");
    EXPECT_TRUE(r.chosen.saving_has_ci);
    EXPECT_TRUE(r.chosen.saving_significant);
    EXPECT_GT(r.chosen.saving_ci_low_pct, 0.0);
    EXPECT_NE(r.explanation.find("The saving is significant (95 % paired t CI"), std::string::npos)
        << r.explanation;
    b.forbidden = {"prune"};
    const Recommendation r3 = recommend(st, b);
    ASSERT_EQ(r3.chosen.variant, "V3");
    EXPECT_FALSE(r3.chosen.saving_significant);
    EXPECT_LT(r3.chosen.saving_ci_low_pct, 0.0);
    EXPECT_NE(r3.explanation.find("not significant"), std::string::npos) << r3.explanation;
}

TEST(Recommend, SaysWhetherTheRunnerUpIsDistinguishable) {
    std::vector<RunRecord> runs;
    add_energies(runs, "V0", {1000, 1100, 900}, {});
    add_energies(runs, "V2", {600, 640, 560}, {"prune"});
    add_energies(runs, "V5", {615, 630, 570}, {"threads"});     // within noise of V2
    add_energies(runs, "V3", {850, 1150, 850}, {"precision"});  // well above both
    const StudyAggregate st = aggregate(runs, "V0", {});
    Budget b;
    const Recommendation r = recommend(st, b);
    ASSERT_EQ(r.chosen.variant, "V2");
    ASSERT_EQ(r.runners_up.front().variant, "V5");
    EXPECT_NE(r.explanation.find("The runner-up V5 is not distinguishable from it in energy (V5 "
                                 "uses +"),
              std::string::npos)
        << r.explanation;
    b.forbidden = {"threads"};
    const Recommendation r2 = recommend(st, b);
    ASSERT_EQ(r2.runners_up.front().variant, "V3");
    EXPECT_NE(
        r2.explanation.find("It uses significantly less energy than the runner-up (V3 uses +"),
        std::string::npos)
        << r2.explanation;
}

TEST(Recommend, BudgetLadderGivesTheChoiceAtEachBudget) {
    Budget b;
    b.max_eval_time_ratio = 1.5;  // kept on every rung: V3 never qualifies
    const auto ladder = budget_ladder(study(), b, {0.1, 1.0, 15.0});
    ASSERT_EQ(ladder.size(), 3u);
    EXPECT_DOUBLE_EQ(ladder[0].max_f1_drop_points, 0.1);
    EXPECT_EQ(ladder[0].recommendation.chosen.variant, "V0");  // nothing else is that safe
    EXPECT_EQ(ladder[1].recommendation.chosen.variant, "V2");
    EXPECT_EQ(ladder[2].recommendation.chosen.variant, "V1");
    for (const auto& step : ladder) {
        EXPECT_NE(step.recommendation.rule.find("1.5× the baseline's"), std::string::npos);
    }
}

}  // namespace
}  // namespace gk::analysis
