// The search logic against a deterministic evaluator: cascade order, the budget at each stage,
// the interaction correction, conflicts, selection on validation only, the runner-up fallback,
// the run budget and the energy accounting.
#include "greenknobs/tune/search.h"

#include <cmath>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::tune {

namespace {

using nlohmann::json;

struct Effect {
    double ratio = 1.0;            // energy factor
    double drop_points = 0.0;      // validation F1 drop below full fidelity
    double full_drop_points = -1;  // at full fidelity (< 0: the same)
};

// Energy (10 + 90 f) · ∏ ratio · pair factors, + 0.1 J per repeat, times (1 + drift · runs so far)
// (a machine that drifts); F1 0.8 − Σ drops. Runs execute in the order given.
class FakeEvaluator : public Evaluator {
  public:
    std::map<std::string, Effect> effects;
    std::map<std::set<std::string>, double> pair_factor;
    std::set<std::set<std::string>> conflicts;
    double test_shift = 0;
    // What the validation split held (NaN: the runs do not say), and an F1 shift for every run
    // at a given fidelity (a rung where nothing has learnt yet).
    double val_samples = NAN;
    double val_positives = NAN;
    std::map<double, double> f1_shift_at;
    struct Call {
        std::string batch;
        double fidelity;
        std::vector<std::string> ids;
        int repeats;
    };
    std::vector<Call> calls;
    double energy_total = 0;
    double drift_per_run = 0;
    int runs_done = 0;

    std::vector<std::vector<Outcome>> run(const std::string& batch, double f,
                                          const std::vector<Trial>& trials, int repeats) override {
        Call c{batch, f, {}, repeats};
        std::vector<std::vector<Outcome>> out;
        for (const auto& t : trials) {
            c.ids.push_back(t.id);
            double ratio = 1.0, drop = 0.0;
            std::vector<std::string> names;
            for (auto it = t.knobs.begin(); it != t.knobs.end(); ++it) {
                const Effect& e = effects.at(it.key());
                ratio *= e.ratio;
                drop += (f >= 1 && e.full_drop_points >= 0) ? e.full_drop_points : e.drop_points;
                names.push_back(it.key());
            }
            for (size_t i = 0; i < names.size(); ++i) {
                for (size_t j = i + 1; j < names.size(); ++j) {
                    auto it = pair_factor.find({names[i], names[j]});
                    if (it != pair_factor.end()) {
                        ratio *= it->second;
                    }
                }
            }
            std::vector<Outcome> reps;
            for (int r = 0; r < repeats; ++r) {
                Outcome o;
                o.ok = true;
                o.energy_j = ((10 + 90 * f) * ratio + 0.1 * r) * (1 + drift_per_run * runs_done++);
                o.duration_s = o.energy_j / 10;
                o.val_f1 = 0.8 - drop / 100 + 0.001 * r +
                           (f1_shift_at.count(f) != 0 ? f1_shift_at.at(f) : 0.0);
                o.val_samples = val_samples;
                o.val_positives = val_positives;
                o.eval_latency_ms = 5;
                o.test_f1 = o.val_f1 - 0.01 + (t.knobs.empty() ? 0.0 : test_shift);
                o.seq = static_cast<double>(out.size());
                energy_total += o.energy_j;
                reps.push_back(o);
            }
            out.push_back(reps);
        }
        calls.push_back(c);
        return out;
    }
    std::string invalid(const json& knobs) override {
        for (const auto& pair : conflicts) {
            bool all = true;
            for (const auto& k : pair) {
                all = all && knobs.contains(k);
            }
            if (all) {
                return "knobs " + *pair.begin() + " and " + *pair.rbegin() + " conflict";
            }
        }
        return "";
    }
};

std::vector<Move> moves_for(const std::vector<std::string>& knobs) {
    std::vector<Move> m;
    int i = 1;
    for (const auto& k : knobs) {
        m.push_back(Move{"M0" + std::to_string(i++), k, json{{k, json::object()}}, k, ""});
    }
    return m;
}

SearchOptions options(double f1_drop = 1.0, double max_runs = 40) {
    SearchOptions o;
    o.budget = parse_budget("f1_drop=" + std::to_string(f1_drop));
    o.max_runs = max_runs;
    o.fidelities = {0.1, 0.3};
    o.screen_baselines = 1;  // one batch per rung: the tests below count its runs
    return o;
}

std::vector<std::string> decisions(const SearchResult& r, const std::string& phase,
                                   const std::string& decision) {
    std::vector<std::string> ids;
    for (const auto& s : r.steps) {
        if (s.phase == phase && s.decision == decision) {
            ids.push_back(s.id);
        }
    }
    return ids;
}

const Step* step_of(const SearchResult& r, const std::string& phase, const std::string& label) {
    for (const auto& s : r.steps) {
        if (s.phase == phase && s.label == label) {
            return &s;
        }
    }
    return nullptr;
}

}  // namespace

TEST(Search, CascadeAddsKnobsInOrderOfSavingAndVerifiesThePick) {
    FakeEvaluator ev;
    ev.effects = {{"a", {0.9}}, {"b", {0.5}}, {"c", {0.7}}};
    auto opt = options();
    opt.fidelities = {0.3};  // one rung: everything that saves goes to the cascade
    SearchResult r = run_search(moves_for({"a", "b", "c"}), ev, opt);
    // Order of screened saving: b (50 %), c (30 %), a (10 %).
    ASSERT_EQ(r.cascade_order, (std::vector<std::string>{"M02", "M03", "M01"}));
    const auto accepted = decisions(r, "cascade", "accepted");
    ASSERT_EQ(accepted.size(), 3u);
    EXPECT_EQ(accepted[0], "M02");  // the single knob, measured in screening: no new run
    // The chosen configuration has every knob; the runner-up is the state before the last step.
    ASSERT_EQ(r.verified.size(), 2u);
    EXPECT_EQ(r.verified[0].knobs.size(), 3u);
    EXPECT_EQ(r.verified[1].knobs.size(), 2u);
    EXPECT_EQ(r.picked, 0);
    EXPECT_NEAR(r.verified[0].saving_pct.mean, 100 * (1 - 0.9 * 0.5 * 0.7), 0.5);
    EXPECT_TRUE(r.verified[0].holds_on_validation);
    EXPECT_TRUE(r.verified[0].holds_on_test);
    // Verification: baseline + 2 configurations x 3 repeats at full fidelity, once.
    const auto& last = ev.calls.back();
    EXPECT_EQ(last.fidelity, 1.0);
    EXPECT_EQ(last.repeats, 3);
    EXPECT_EQ(last.ids, (std::vector<std::string>{"B", r.verified[0].id, r.verified[1].id}));
    int full = 0;
    for (const auto& c : ev.calls) {
        full += c.fidelity >= 1 ? 1 : 0;
    }
    EXPECT_EQ(full, 1);
    // Without interactions, predictions match observations.
    for (const auto& s : r.steps) {
        if (s.phase == "cascade" && s.decision == "accepted") {
            EXPECT_NEAR(s.predicted_saving_pct, s.observed_saving_pct, 0.01) << s.id;
        }
    }
}

TEST(Search, SuccessiveHalvingDropsLosersAtLowFidelity) {
    FakeEvaluator ev;
    ev.effects = {{"a", {0.9}},  {"b", {0.5}}, {"c", {0.7}},
                  {"d", {0.95}}, {"e", {1.2}}, {"f", {0.8}}};
    auto opt = options();
    opt.eta = 3;
    SearchResult r = run_search(moves_for({"a", "b", "c", "d", "e", "f"}), ev, opt);
    // Rung 0.1: e saves nothing; the other five ranked, the best ceil(5/3) = 2 go on.
    ASSERT_GE(ev.calls.size(), 2u);
    EXPECT_EQ(ev.calls[0].fidelity, 0.1);
    EXPECT_EQ(ev.calls[0].ids.size(), 7u);
    EXPECT_EQ(ev.calls[1].fidelity, 0.3);
    EXPECT_EQ(ev.calls[1].ids, (std::vector<std::string>{"B", "M02", "M03"}));  // b, c
    const Step* e = step_of(r, "screen", "e");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->decision, "dropped");
    EXPECT_NE(e->why.find("saves nothing"), std::string::npos);
    EXPECT_EQ(decisions(r, "halving", "dropped").size(), 3u);
}

TEST(Search, TheBudgetHoldsAtEveryStage) {
    FakeEvaluator ev;
    // d saves most but costs 5 points: dropped at screening (over budget + slack).
    // e costs 1.5 points: within the screening slack, rejected by the cascade's real run.
    ev.effects = {{"b", {0.5}}, {"d", {0.3, 5.0}}, {"e", {0.6, 1.5}}};
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves_for({"b", "d", "e"}), ev, opt);
    const Step* d = step_of(r, "screen", "d");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->decision, "dropped");
    EXPECT_NE(d->why.find("F1 drop"), std::string::npos);
    // b saves 50 %, e 40 %: b goes first.
    ASSERT_EQ(r.cascade_order, (std::vector<std::string>{"M01", "M03"}));
    const auto rejected = decisions(r, "cascade", "rejected");
    ASSERT_EQ(rejected.size(), 1u);
    for (const auto& s : r.steps) {
        if (s.phase == "cascade" && s.decision == "rejected") {
            EXPECT_NE(s.why.find("F1 drop"), std::string::npos) << s.why;
        }
    }
    ASSERT_GE(r.picked, 0);
    EXPECT_EQ(r.verified[static_cast<size_t>(r.picked)].knobs, (json{{"b", json::object()}}));
}

TEST(Search, AntagonismCorrectsPredictionsAndRejectsSteps) {
    FakeEvaluator ev;
    ev.effects = {{"a", {0.5}}, {"b", {0.6}}, {"c", {0.7}}};
    ev.pair_factor[{"a", "b"}] = 1.65;  // together they save < 1 % more than a alone
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves_for({"a", "b", "c"}), ev, opt);
    const Step* ab = step_of(r, "cascade", "a + b");
    ASSERT_NE(ab, nullptr);
    EXPECT_EQ(ab->decision, "rejected");
    EXPECT_NE(ab->why.find("antagonistic"), std::string::npos) << ab->why;
    // The next step's prediction carries the observed antagonism: below the plain multiplicative
    // 1 − 0.5 · 0.7 = 65 %.
    const Step* ac = step_of(r, "cascade", "a + c");
    ASSERT_NE(ac, nullptr);
    EXPECT_LT(ac->predicted_saving_pct, 65.0 - 1.0);
}

TEST(Search, ConflictingKnobsAreRejectedWithoutARun) {
    FakeEvaluator ev;
    ev.effects = {{"a", {0.5}}, {"b", {0.6}}};
    ev.conflicts.insert({"a", "b"});
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves_for({"a", "b"}), ev, opt);
    const Step* ab = step_of(r, "cascade", "a + b");
    ASSERT_NE(ab, nullptr);
    EXPECT_EQ(ab->decision, "rejected");
    EXPECT_NE(ab->why.find("conflict"), std::string::npos);
    for (const auto& c : ev.calls) {
        EXPECT_EQ(c.batch.find("cascade"), std::string::npos) << "a conflict must not be run";
    }
}

TEST(Search, RunnerUpIsPickedWhenTheChosenFailsAtFullFidelity) {
    FakeEvaluator ev;
    // c is added last (smallest saving) and costs 2 points only at full fidelity.
    ev.effects = {{"a", {0.5}}, {"b", {0.6}}, {"c", {0.8, 0.0, 2.0}}};
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves_for({"a", "b", "c"}), ev, opt);
    ASSERT_EQ(r.verified.size(), 2u);
    EXPECT_FALSE(r.verified[0].holds_on_validation);
    EXPECT_TRUE(r.verified[1].holds_on_validation);
    // Its mean drop is over the budget: the verdict says no number of repeats would make it hold.
    EXPECT_EQ(r.verified[0].f1_repeats_needed, 0);
    EXPECT_NE(r.verified[0].f1_resolution_text.find("more repeats would not make it hold"),
              std::string::npos)
        << r.verified[0].f1_resolution_text;
    EXPECT_EQ(r.verified[1].f1_resolution_text, "");
    EXPECT_EQ(r.picked, 1);
    EXPECT_EQ(r.verified[1].knobs.size(), 2u);
    EXPECT_NE(r.pick_why.find("runner-up"), std::string::npos);
}

TEST(Search, TestF1NeverSteersTheSearch) {
    auto run = [](double shift) {
        FakeEvaluator ev;
        ev.effects = {{"a", {0.9}}, {"b", {0.5}}, {"c", {0.7, 0.8}}};
        ev.test_shift = shift;
        return run_search(moves_for({"a", "b", "c"}), ev, options());
    };
    const SearchResult good = run(0.0);
    const SearchResult bad = run(-0.2);  // test F1 20 points lower everywhere else
    json g = to_json(good), b = to_json(bad);
    EXPECT_EQ(g["points"], b["points"]);
    EXPECT_EQ(g["cascade_order"], b["cascade_order"]);
    EXPECT_EQ(g["picked"], b["picked"]);
    ASSERT_GE(good.picked, 0);
    const auto& gp = good.verified[static_cast<size_t>(good.picked)];
    const auto& bp = bad.verified[static_cast<size_t>(bad.picked)];
    EXPECT_TRUE(gp.holds_on_test);
    EXPECT_FALSE(bp.holds_on_test);  // reported, not acted on
    EXPECT_NE(bad.pick_why.find("does NOT hold"), std::string::npos);
}

TEST(Search, RespectsTheRunBudgetAndReservesVerification) {
    FakeEvaluator ev;
    std::vector<std::string> names;
    for (char c = 'a'; c <= 'l'; ++c) {
        names.push_back(std::string(1, c));
        ev.effects[names.back()] = Effect{0.95 - 0.01 * (c - 'a')};
    }
    auto opt = options(1.0, 10.0);  // 9 reserved for verification: 1 run for the search
    SearchResult r = run_search(moves_for(names), ev, opt);
    EXPECT_LE(r.planned_cost, 10.0 + 1e-9);
    EXPECT_EQ(r.cascade_fidelity, 0.1);  // the second rung did not fit
    int not_measured = 0;
    for (const auto& s : r.steps) {
        not_measured += s.why.find("not measured") != std::string::npos ? 1 : 0;
    }
    EXPECT_GT(not_measured, 0);
    EXPECT_EQ(ev.calls.back().repeats, 3);  // verification still ran
    EXPECT_THROW(run_search(moves_for(names), ev, options(1.0, 9.5)), InputError);
    auto few = options();
    few.verify_repeats = 2;
    EXPECT_THROW(run_search(moves_for(names), ev, few), InputError);
}

TEST(Search, AccountsTheEnergySpentAndTheBreakEven) {
    FakeEvaluator ev;
    ev.effects = {{"a", {0.5}}};
    SearchResult r = run_search(moves_for({"a"}), ev, options());
    const Accounting& a = r.accounting;
    EXPECT_NEAR(a.search_energy_j + a.verify_energy_j, ev.energy_total, 1e-9);
    ASSERT_GE(r.picked, 0);
    const Verified& p = r.verified[static_cast<size_t>(r.picked)];
    EXPECT_NEAR(a.saving_per_run_j, p.baseline_energy_j - p.energy_j, 1e-9);
    EXPECT_NEAR(a.break_even_runs, ev.energy_total / a.saving_per_run_j, 1e-9);
    EXPECT_NEAR(a.full_run_equivalents, ev.energy_total / p.baseline_energy_j, 1e-9);
    // Only one configuration fits: no runner-up.
    EXPECT_EQ(r.verified.size(), 1u);
}

TEST(Search, KeepsTheBaselineWhenNothingFits) {
    FakeEvaluator ev;
    ev.effects = {{"a", {1.1}}, {"b", {0.5, 4.0}}};
    SearchResult r = run_search(moves_for({"a", "b"}), ev, options());
    EXPECT_EQ(r.picked, -1);
    EXPECT_TRUE(r.verified.empty());
    EXPECT_NE(r.pick_why.find("keep the baseline"), std::string::npos);
    for (const auto& c : ev.calls) {
        EXPECT_LT(c.fidelity, 1.0);  // nothing verified, nothing run at full fidelity
    }
}

TEST(Search, IsDeterministicGivenTheOutcomes) {
    auto run = [] {
        FakeEvaluator ev;
        ev.effects = {{"a", {0.9}}, {"b", {0.5}}, {"c", {0.7}}, {"d", {0.8, 0.5}}};
        ev.pair_factor[{"b", "c"}] = 0.9;
        return to_json(run_search(moves_for({"a", "b", "c", "d"}), ev, options()));
    };
    EXPECT_EQ(run(), run());
}

TEST(Search, PairedEstimate) {
    PairedEstimate e = paired_estimate({1.0, 1.0, 1.0});
    EXPECT_DOUBLE_EQ(e.upper, 1.0);  // every pair agrees
    e = paired_estimate({0.0, 1.0, 2.0});
    EXPECT_TRUE(e.ci.valid);
    EXPECT_GT(e.upper, 2.0);
    EXPECT_DOUBLE_EQ(e.mean, 1.0);
    e = paired_estimate({1.0});
    EXPECT_TRUE(std::isnan(e.upper));
}

TEST(Search, RepeatsToResolveABudgetAtTheMeasuredSpread) {
    // Mean 0.5, sd 2: the upper end 0.5 + t(n-1)·2/√n first falls within 1 point at n = 64.
    PairedEstimate e = paired_estimate({-1.5, 2.5, -1.5, 2.5, 0.5});
    ASSERT_NEAR(e.mean, 0.5, 1e-12);
    ASSERT_NEAR(e.sd, 2.0, 1e-12);
    const int n = repeats_to_resolve(e, 1.0);
    auto upper = [&](int k) {
        return e.mean + analysis::student_t_quantile(0.975, k - 1) * e.sd / std::sqrt(double(k));
    };
    EXPECT_EQ(n, 64);
    EXPECT_LE(upper(n), 1.0);
    EXPECT_GT(upper(n - 1), 1.0);
    // Already within: the measured n.
    EXPECT_EQ(repeats_to_resolve(e, 5.0), 5);
    // A mean at or above the budget never holds; one value has no spread to extrapolate from;
    // pairs that all agree within the budget hold already.
    EXPECT_EQ(repeats_to_resolve(e, 0.5), 0);
    EXPECT_EQ(repeats_to_resolve(paired_estimate({0.2}), 1.0), 0);
    EXPECT_EQ(repeats_to_resolve(paired_estimate({0.2, 0.2, 0.2}), 1.0), 3);
    EXPECT_EQ(repeats_to_resolve(e, 0.51, 100), 101);  // beyond the cap
}

}  // namespace gk::tune

namespace gk::tune {

TEST(Search, ComparedConfigurationsAreVerifiedBesideButNeverPicked) {
    FakeEvaluator ev;
    ev.effects = {{"a", {0.5}}, {"v30", {0.1, 30.0}}};
    auto opt = options();
    opt.compare = {Trial{"V30", nlohmann::json{{"v30", nlohmann::json::object()}}, "V30"}};
    SearchResult r = run_search(moves_for({"a"}), ev, opt);
    ASSERT_EQ(r.verified.size(), 2u);
    EXPECT_EQ(r.verified[1].role, "compare");
    EXPECT_EQ(r.verified[1].id, "V30");
    EXPECT_FALSE(r.verified[1].holds_on_validation);
    EXPECT_EQ(r.picked, 0);
    EXPECT_EQ(ev.calls.back().ids, (std::vector<std::string>{"B", "M01", "V30"}));
    // Its verification is reserved from the start: 4 configurations x 3 repeats.
    auto tight = options(1.0, 12.5);
    tight.compare = opt.compare;
    EXPECT_THROW(run_search(moves_for({"a"}), ev, tight), InputError);
}

}  // namespace gk::tune

namespace gk::tune {

TEST(Search, AKnobOverBudgetBacksOffToItsMilderSetting) {
    FakeEvaluator ev;
    // Two settings of one knob: "p21" saves most but costs 1.5 points (inside the screening
    // slack), "p12" saves less within budget.
    ev.effects = {{"a", {0.5}}, {"p21", {0.2, 1.5}}, {"p12", {0.5, 0.5}}};
    std::vector<Move> moves = {Move{"M01", "a", json{{"a", json::object()}}, "a", ""},
                               Move{"M02", "prune", json{{"p21", json::object()}}, "p21", ""},
                               Move{"M03", "prune", json{{"p12", json::object()}}, "p12", ""}};
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves, ev, opt);
    ASSERT_EQ(r.cascade_order, (std::vector<std::string>{"M02", "M03", "M01"}));
    const auto& s0 = r.steps;
    std::vector<std::string> cascade;
    for (const auto& s : s0) {
        if (s.phase == "cascade") {
            cascade.push_back(s.decision + " " + s.label);
        }
    }
    ASSERT_EQ(cascade.size(), 3u);
    EXPECT_EQ(cascade[0], "rejected p21");
    EXPECT_EQ(cascade[1], "accepted p12");
    EXPECT_EQ(cascade[2], "accepted a + p12");
}

}  // namespace gk::tune

namespace gk::tune {

TEST(Search, HalvingKeepsTheBestKnobsWithTwoSettingsEach) {
    FakeEvaluator ev;
    ev.effects = {{"x1", {0.5}}, {"x2", {0.55}}, {"x3", {0.6}}, {"y", {0.7}}, {"z", {0.9}}};
    std::vector<Move> moves = {Move{"M01", "x", json{{"x1", json::object()}}, "x1", ""},
                               Move{"M02", "x", json{{"x2", json::object()}}, "x2", ""},
                               Move{"M03", "x", json{{"x3", json::object()}}, "x3", ""},
                               Move{"M04", "y", json{{"y", json::object()}}, "y", ""},
                               Move{"M05", "z", json{{"z", json::object()}}, "z", ""}};
    auto opt = options();  // eta 2: ceil(3 knobs / 2) = 2 knobs go on
    SearchResult r = run_search(moves, ev, opt);
    ASSERT_GE(ev.calls.size(), 2u);
    EXPECT_EQ(ev.calls[1].ids, (std::vector<std::string>{"B", "M01", "M02", "M04"}));
}

TEST(Search, F1IsScreenedOnlyWhereTheBaselineLearntAndWithItsNoise) {
    FakeEvaluator ev;
    // 200 validation samples, 100 positives: calling everything vulnerable scores F1 0.667. At
    // fidelity 0.1 every run is 0.5 lower (the baseline's 0.3 has learnt nothing); at 0.3 the
    // baseline's 0.8 rests on 100 positives, two standard errors of a paired difference =
    // 2 · 100 · sqrt(2 · 0.8 · 0.2 / 100) = 11.3 points.
    ev.val_samples = 200;
    ev.val_positives = 100;
    ev.f1_shift_at[0.1] = -0.5;
    // trim costs 8 points below full fidelity, none at full: a strict 1 + 2 point screen would
    // have dropped it at 0.1 on noise. far costs 20 points, more than the noise explains.
    ev.effects = {{"trim", {0.3, 8.0, 0.0}}, {"far", {0.2, 20.0, 20.0}}, {"b", {0.9}}};
    SearchResult r = run_search(moves_for({"trim", "far", "b"}), ev, options());
    const Step* note = nullptr;
    for (const auto& s : r.steps) {
        if (s.phase == "screen" && s.decision == "note" && s.fidelity == 0.1) {
            note = &s;
        }
    }
    ASSERT_NE(note, nullptr);
    EXPECT_NE(note->why.find("did not learn"), std::string::npos) << note->why;
    // At 0.1 nothing is dropped for F1; at 0.3 far is (20 > 1 + 11.3), trim is not.
    for (const auto& s : r.steps) {
        if (s.phase == "screen" && s.decision == "dropped" && s.fidelity == 0.1) {
            EXPECT_EQ(s.why.find("F1 drop"), std::string::npos) << s.id << ": " << s.why;
        }
    }
    const Step* far = nullptr;
    for (const auto& s : r.steps) {
        if (s.id == "M02" && s.fidelity == 0.3 && s.phase == "screen") {
            far = &s;
        }
    }
    ASSERT_NE(far, nullptr);
    EXPECT_EQ(far->decision, "dropped");
    EXPECT_NE(far->why.find("11.3"), std::string::npos) << far->why;
    // The cascade holds trim to the widened budget and verification to the strict one: trim is
    // picked (b fell to the halving at 0.1), and it holds at full fidelity.
    const auto accepted = decisions(r, "cascade", "accepted");
    ASSERT_FALSE(accepted.empty());
    for (const auto& s : r.steps) {
        if (s.phase == "cascade" && s.decision == "accepted") {
            EXPECT_NE(s.why.find("points of noise at this fidelity"), std::string::npos) << s.why;
        }
    }
    ASSERT_GE(r.picked, 0);
    EXPECT_TRUE(r.verified[static_cast<size_t>(r.picked)].knobs.contains("trim"));
    EXPECT_TRUE(r.verified[static_cast<size_t>(r.picked)].holds_on_validation);
}

TEST(Search, TheRunnerUpPrefersAConfigurationWhosePredictionsSurvived) {
    FakeEvaluator ev;
    // trim saves most and costs 0.5 points in its run (the chosen); prune costs 0.3 (strict
    // budget kept); attn saves least but leaves F1 exactly as it was: the runner-up.
    ev.effects = {{"trim", {0.3, 0.5}}, {"prune", {0.4, 0.3}}, {"attn", {0.7, 0.0}}};
    ev.conflicts = {{"trim", "prune"}, {"trim", "attn"}, {"prune", "attn"}};
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves_for({"trim", "prune", "attn"}), ev, opt);
    ASSERT_EQ(r.verified.size(), 2u);
    EXPECT_TRUE(r.verified[0].knobs.contains("trim"));
    EXPECT_TRUE(r.verified[1].knobs.contains("attn"));
    const Step* runner = nullptr;
    for (const auto& s : r.steps) {
        if (s.phase == "select" && s.decision == "runner-up") {
            runner = &s;
        }
    }
    ASSERT_NE(runner, nullptr);
    EXPECT_NE(runner->why.find("predictions survived"), std::string::npos) << runner->why;
}

TEST(Search, ScreeningComparesEachPointWithTheLineThroughTheRungsBaselines) {
    // The machine drifts 2 % per run. Twelve knobs each save 10 %; one baseline run at the start
    // of the rung makes the later ones look as if they saved nothing.
    std::vector<std::string> names;
    for (char c = 'a'; c <= 'l'; ++c) {
        names.push_back(std::string(1, c));
    }
    auto run = [&](int baselines) {
        FakeEvaluator ev;
        ev.drift_per_run = 0.02;
        for (const auto& n : names) {
            ev.effects[n] = Effect{0.9};
        }
        auto opt = options();
        opt.fidelities = {0.3};
        opt.screen_baselines = baselines;
        opt.max_runs = 60;
        return std::make_pair(run_search(moves_for(names), ev, opt), ev.calls);
    };
    const SearchResult one = run(1).first;
    EXPECT_FALSE(decisions(one, "screen", "dropped").empty());  // drift dropped real savers

    const auto [three, calls] = run(3);
    // Three batches, each with a baseline run and a third of the candidates.
    ASSERT_GE(calls.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(calls[i].ids.size(), 5u);
        EXPECT_EQ(calls[i].ids[0], "B");
    }
    EXPECT_TRUE(decisions(three, "screen", "dropped").empty());
    for (const auto& p : three.points) {
        if (p.phase == "screen" && p.id != "B") {
            EXPECT_NEAR(p.saving_pct, 10.0, 0.05) << p.id << " at " << p.seq;
        }
    }
    // A cascade step runs beside its own baseline run: its saving is off by one run's drift
    // (2 %), not by the drift since the rung (over 20 runs).
    bool cascade_run = false;
    for (const auto& p : three.points) {
        if (p.phase == "cascade" && p.id != "B") {
            cascade_run = true;
            EXPECT_NEAR(p.saving_pct, 100.0 * (1.0 - std::pow(0.9, p.knobs.size())), 2.5) << p.id;
        }
    }
    EXPECT_TRUE(cascade_run);
    for (const auto& c : calls) {
        if (c.batch.find("cascade") != std::string::npos) {
            EXPECT_EQ(c.ids.size(), 2u);
            EXPECT_EQ(c.ids[0], "B");
        }
    }
    auto bad = options();
    bad.screen_baselines = 0;
    FakeEvaluator ev;
    EXPECT_THROW(run_search(moves_for(names), ev, bad), InputError);
}

TEST(Search, ThePreservingCascadeCombinesTheKnobsThatLeftF1Unchanged) {
    FakeEvaluator ev;
    // trim saves most and costs half a point in its run, two at full fidelity; u, v and w leave
    // F1 exactly as it was. The main cascade takes all four (the chosen); the preserving cascade
    // combines u, v and w alone: the runner-up, picked when the chosen fails.
    ev.effects = {{"trim", {0.3, 0.5, 2.0}}, {"u", {0.7}}, {"v", {0.8}}, {"w", {0.9}}};
    auto opt = options();
    opt.fidelities = {0.3};
    SearchResult r = run_search(moves_for({"trim", "u", "v", "w"}), ev, opt);
    EXPECT_EQ(decisions(r, "cascade", "accepted").size(), 4u);
    const auto kept = decisions(r, "preserve", "accepted");
    ASSERT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept[0], "M02");  // u, measured alone in screening
    EXPECT_EQ(kept[1], "P01");
    EXPECT_EQ(kept[2], "P02");
    ASSERT_EQ(r.verified.size(), 2u);
    EXPECT_EQ(r.verified[0].knobs.size(), 4u);
    EXPECT_EQ(r.verified[1].knobs,
              (json{{"u", json::object()}, {"v", json::object()}, {"w", json::object()}}));
    EXPECT_FALSE(r.verified[0].holds_on_validation);
    EXPECT_EQ(r.picked, 1);
    EXPECT_NEAR(r.verified[1].saving_pct.mean, 100 * (1 - 0.7 * 0.8 * 0.9), 0.5);

    // Where both cascades reach the same configuration it is run once.
    FakeEvaluator same;
    same.effects = {{"a", {0.5}}, {"b", {0.6}}, {"c", {0.7}}};
    SearchResult twice = run_search(moves_for({"a", "b", "c"}), same, opt);
    EXPECT_EQ(decisions(twice, "preserve", "accepted").size(), 3u);
    for (const auto& c : same.calls) {  // the preserving cascade ran them; the main one reused
        EXPECT_EQ(c.batch.find("cascade"), std::string::npos) << c.batch;
    }
}

// At a tight run budget the preserving cascade runs first, on its share (two runs per step, at
// most three steps), and the main cascade gets every run it leaves. Without the share four lossy
// knobs would take every run and the preserving pair u + v (the configuration a tight budget
// verifies) would never be built; with the share held back before the preserving cascade runs,
// the runs it does not need (w gains too little to try) would be lost to the main cascade.
TEST(Search, ThePreservingCascadeRunsFirstOnItsShareAndTheMainCascadeGetsTheRest) {
    FakeEvaluator ev;
    ev.effects = {{"t1", {0.5, 0.2}}, {"t2", {0.55, 0.2}}, {"t3", {0.6, 0.2}}, {"t4", {0.65, 0.2}},
                  {"u", {0.7}},       {"v", {0.8}},        {"w", {0.99}}};
    auto opt = options(1.0, 0);
    opt.fidelities = {0.3};
    // Verification (3 x 3 runs) + screening (7 candidates + 1 baseline at 0.3) + 8 runs at 0.3:
    // room for four steps of two runs in all. The preserving share is 4 runs (three knobs).
    opt.max_runs = 3.0 * opt.verify_repeats + 8 * 0.3 + 8 * 0.3 + 0.05;
    SearchResult r = run_search(moves_for({"t1", "t2", "t3", "t4", "u", "v", "w"}), ev, opt);
    const auto kept = decisions(r, "preserve", "accepted");
    ASSERT_EQ(kept.size(), 2u) << ::testing::PrintToString(decisions(r, "preserve", "skipped"));
    EXPECT_EQ(kept[1], "P01");  // u + v, run
    bool w_too_small = false;
    for (const auto& s : r.steps) {
        if (s.phase == "preserve" && s.decision == "skipped") {
            w_too_small = w_too_small || s.why.find("predicted gain") != std::string::npos;
        }
    }
    EXPECT_TRUE(w_too_small);  // so two of the share's four runs are left
    // The preserving steps come first in the record; then the main cascade took t1 and ran three
    // steps (t2, t3, t4) on the six runs left: with the share held back it would have run two.
    size_t first_preserve = r.steps.size(), first_cascade = r.steps.size();
    for (size_t i = r.steps.size(); i-- > 0;) {
        if (r.steps[i].phase == "preserve") {
            first_preserve = i;
        } else if (r.steps[i].phase == "cascade") {
            first_cascade = i;
        }
    }
    EXPECT_LT(first_preserve, first_cascade);
    EXPECT_EQ(decisions(r, "cascade", "accepted").size(), 4u);
    EXPECT_FALSE(decisions(r, "cascade", "skipped").empty());  // + u: no runs left
    ASSERT_EQ(r.verified.size(), 2u);
    EXPECT_EQ(r.verified[1].knobs, (json{{"u", json::object()}, {"v", json::object()}}));

    // With no run to spare the preserving cascade stops at its share and says so.
    auto tight = opt;
    tight.max_runs = 3.0 * opt.verify_repeats + 5 * 0.3 + 2 * 0.3 + 0.05;  // 4 + 1 screened
    FakeEvaluator ev2;
    ev2.effects = {{"u", {0.7}}, {"v", {0.8}}, {"w", {0.85}}, {"x", {0.9}}};
    SearchResult t = run_search(moves_for({"u", "v", "w", "x"}), ev2, tight);
    EXPECT_EQ(decisions(t, "preserve", "accepted").size(), 2u);
    bool says = false;
    for (const auto& s : t.steps) {
        if (s.phase == "preserve" && s.decision == "skipped") {
            says =
                says || s.why.find("the preserving cascade's share is 6 runs") != std::string::npos;
        }
    }
    EXPECT_TRUE(says);
}

}  // namespace gk::tune
