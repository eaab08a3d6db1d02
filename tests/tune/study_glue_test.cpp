// The glue between the search and the study runner: what is read from a run.json, the base at a
// fidelity, and the catalog written for a batch (loaded back by the catalog loader, resolving to
// the same configurations); for a command catalog, its metrics and its knobs as the space.
#include <cmath>

#include <gtest/gtest.h>
#include <unistd.h>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/tune/backend.h"
#include "greenknobs/tune/tune.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

#include "../common/temp_dir.h"
#include "command_catalog_fixture.h"

namespace gk::tune {

using nlohmann::json;

TEST(StudyGlue, ReadsTheRunRecordValidationAtTheBestEpoch) {
    json run = {{"status", "complete"},
                {"energy", {{"total", {{"energy_j", {{"total", 123.5}}}, {"duration_s", 9.0}}}}},
                {"metrics", {{"f1_vul", 0.61}, {"latency_ms_per_batch", 4.5}}},
                {"train",
                 {{"best_epoch", 2},
                  {"validation", json::array({{{"epoch", 1}, {"f1_vul", 0.5}},
                                              {{"epoch", 2}, {"f1_vul", 0.7}}})}}}};
    Outcome o = outcome_from_run_json(run);
    EXPECT_TRUE(o.ok);
    EXPECT_DOUBLE_EQ(o.energy_j, 123.5);
    EXPECT_DOUBLE_EQ(o.duration_s, 9.0);
    EXPECT_DOUBLE_EQ(o.val_f1, 0.7);  // the best epoch's, not the test F1
    EXPECT_DOUBLE_EQ(o.test_f1, 0.61);
    EXPECT_DOUBLE_EQ(o.eval_latency_ms, 4.5);
    run["train"]["best_epoch"] = 3;  // no such epoch: no validation F1, not usable
    EXPECT_FALSE(outcome_from_run_json(run).ok);
    EXPECT_FALSE(outcome_from_run_json(json{{"status", "failed"}}).ok);
}

// A run that scored its validation split through the evaluation path: that F1 (and its counts)
// is the one selected on, and the stage that scored it is not the pipeline's energy or time.
TEST(StudyGlue, ReadsTheEvaluationPathsValidationScoreAndLeavesItsStageOut) {
    // The record's fields (a fixture: nothing here is measured).
    const double run_j = 123.5, run_len = 9.0, scoring_j = 20.5, scoring_len = 2.0;
    json run = {
        {"status", "complete"},
        {"energy",
         {{"total", {{"energy_j", {{"total", run_j}}}, {"duration_s", run_len}}},
          {"stages",
           json::array(
               {{{"name", "evaluate"}, {"energy_j", {{"total", 10.0}}}, {"duration_s", 1.0}},
                {{"name", config::kScoreValidationStage},
                 {"energy_j", {{"total", scoring_j}}},
                 {"duration_s", scoring_len}}})}}},
        {"metrics", {{"f1_vul", 0.61}}},
        {"evaluation",
         {{"validation_metrics",
           {{"f1_vul", 0.66}, {"samples", 300}, {"confusion", {{"tp", 40}, {"fn", 10}}}}}}},
        {"train",
         {{"best_epoch", 1},
          {"validation", json::array({{{"epoch", 1}, {"f1_vul", 0.7}, {"samples", 300}}})}}}};
    Outcome o = outcome_from_run_json(run);
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_DOUBLE_EQ(o.val_f1, 0.66);  // the evaluation path's, not the training loop's 0.7
    EXPECT_DOUBLE_EQ(o.val_samples, 300);
    EXPECT_DOUBLE_EQ(o.val_positives, 50);
    // The scoring stage is subtracted from the record's totals; the evaluate stage is not.
    EXPECT_DOUBLE_EQ(o.energy_j, run_j - scoring_j);
    EXPECT_DOUBLE_EQ(o.duration_s, run_len - scoring_len);
    EXPECT_DOUBLE_EQ(o.test_f1, 0.61);
}

TEST(StudyGlue, FidelityScalesTrainingSamplesAndKeepsEnoughEvaluation) {
    config::RunConfig base;
    base.data.max_train_samples = 3000;
    base.data.max_eval_samples = 600;
    config::RunConfig c = at_fidelity(base, 0.1, 3000, 600);
    EXPECT_EQ(c.data.max_train_samples, 300);
    EXPECT_EQ(c.data.max_eval_samples, 200);  // floor of 200 evaluation samples
    c = at_fidelity(base, 0.5, 3000, 600);
    EXPECT_EQ(c.data.max_eval_samples, 300);
    c = at_fidelity(base, 1.0, 3000, 600);
    EXPECT_EQ(config::config_hash(c), config::config_hash(base));
    c = at_fidelity(base, 0.1, 100, 48);
    EXPECT_EQ(c.data.max_train_samples, 16);  // never below 16
    EXPECT_EQ(c.data.max_eval_samples, 48);   // never above the full size
}

TEST(StudyGlue, BatchCatalogLoadsAndResolvesToTheSameConfigs) {
    config::RunConfig base;
    base.model.preset = "test-tiny";
    base.tokenizer.max_length = 64;
    std::vector<Trial> trials = {{"B", json::object(), "baseline"},
                                 {"M01", {{"max_length", 32}}, "max_length=32"},
                                 {"C01",
                                  {{"lora", {{"r", 4}, {"alpha", 8.0}, {"targets", {"attn.Wqkv"}}}},
                                   {"quantization", {{"bits", 4}}},
                                   {"precision", "bf16"}},
                                  "lora + quantization + precision"}};
    const gk::testing::TempDir tmp("tune_glue");
    const std::string path = tmp / "catalog.toml";
    fs::write_file_atomic(path, catalog_toml(base, trials, "test \"batch\""));
    const knobs::Catalog cat = knobs::load_catalog(path);
    EXPECT_EQ(cat.baseline().id, "B");
    for (const auto& t : trials) {
        const config::RunConfig from_catalog = knobs::resolve(cat, t.id);
        const config::RunConfig direct = apply_knobs(base, t.knobs, t.id, "test");
        EXPECT_EQ(config::config_hash(from_catalog), config::config_hash(direct)) << t.id;
    }
    EXPECT_EQ(cat.find("C01").phase, "training+model");  // registry order: lora first
}

// A command's run record: the scores are the metrics the catalog names, nothing else.
TEST(StudyGlue, ReadsACommandsOwnMetrics) {
    const double energy = 77.0, val = 0.7, test = 0.65, latency = 3.5;  // a fixture's fields
    json run = {{"status", "complete"},
                {"energy", {{"total", {{"energy_j", {{"total", energy}}}}}}},
                {"metrics", {{"val_score", val}, {"test_score", test}, {"ms", latency}}}};
    Outcome o = outcome_from_command_run_json(run, "val_score", "test_score", "ms");
    EXPECT_TRUE(o.ok) << o.error;
    EXPECT_DOUBLE_EQ(o.energy_j, energy);
    EXPECT_DOUBLE_EQ(o.val_f1, val);
    EXPECT_DOUBLE_EQ(o.test_f1, test);
    EXPECT_DOUBLE_EQ(o.eval_latency_ms, latency);
    EXPECT_TRUE(std::isnan(
        outcome_from_command_run_json(run, "val_score", "test_score", "").eval_latency_ms));
    const Outcome missing = outcome_from_command_run_json(run, "val_f1", "test_score", "");
    EXPECT_FALSE(missing.ok);
    EXPECT_NE(missing.error.find("'val_f1'"), std::string::npos) << missing.error;
    run["status"] = "failed";
    EXPECT_FALSE(outcome_from_command_run_json(run, "val_score", "test_score", "").ok);
}

class CommandSpace : public ::testing::Test {
  protected:
    std::string write(const std::string& tune_table) {
        const std::string p = tmp_.path() + "/c.toml";
        fs::write_file_atomic(p, gk::testing::command_catalog("job", tune_table));
        return p;
    }
    TuneOptions options(const std::string& catalog) {
        TuneOptions o;
        o.catalog_path = catalog;
        o.out_dir = tmp_.path() + "/t";
        o.search.budget = parse_budget("f1_drop=1");
        return o;
    }
    std::string error_of(const TuneOptions& o) {
        try {
            command_backend(o);
        } catch (const InputError& e) {
            return e.what();
        }
        return "";
    }
    gk::testing::TempDir tmp_{"command_space"};
};

TEST_F(CommandSpace, EachKnobIsASettingAndAGroupIsOneKnob) {
    TuneOptions o = options(write("[tune]\nvalidation_metric = \"val_score\"\n"));
    EXPECT_TRUE(is_command_tune(o));
    o.compare = {"V1"};
    const auto b = command_backend(o);
    ASSERT_EQ(b->space().moves.size(), 3u);
    const Move& m = b->space().moves[0];
    EXPECT_EQ(m.id, "M01");
    EXPECT_EQ(m.knob, "work");  // its group: tenth and half are settings of one knob
    EXPECT_EQ(m.label, "tenth");
    EXPECT_EQ(m.detail, "a tenth of the work, a worse model");
    EXPECT_EQ(b->space().moves[2].knob, "quiet");  // a knob alone is its own group
    EXPECT_NE(b->invalid({{"tenth", json::object()}, {"half", json::object()}})
                  .find("settings of one knob (group work)"),
              std::string::npos);
    EXPECT_EQ(b->invalid({{"half", json::object()}, {"quiet", json::object()}}), "");
    EXPECT_NE(b->invalid({{"loud", json::object()}}).find("no knob 'loud'"), std::string::npos);
    EXPECT_EQ(b->describe({{"quiet", json::object()}, {"half", json::object()}}), "half + quiet");
    // Without a fidelity hook the command only runs as it is: screening at full fidelity.
    EXPECT_EQ(b->search().fidelities, std::vector<double>{1.0});
    ASSERT_EQ(b->search().compare.size(), 1u);
    EXPECT_EQ(b->search().compare[0].knobs, json({{"half", json::object()}}));
    o.compare.clear();
    o.space.knobs = {"work"};
    EXPECT_EQ(command_backend(o)->space().moves.size(), 2u);
}

TEST_F(CommandSpace, RefusesWhatItCannotRun) {
    const std::string tunable = write("[tune]\nvalidation_metric = \"val_score\"\n");
    TuneOptions o = options(tunable);
    o.fidelities_given = true;
    o.search.fidelities = {0.5};
    EXPECT_NE(error_of(o).find("no fidelity_arg or fidelity_env"), std::string::npos)
        << error_of(o);
    o = options(tunable);
    o.space.knobs = {"nope"};
    EXPECT_NE(error_of(o).find("no knob or group"), std::string::npos);
    o = options(tunable);
    o.sets = {"train.lr=1"};
    EXPECT_NE(error_of(o).find("--set tunes the built-in pipeline"), std::string::npos);
    o = options(tunable);
    o.search.budget = parse_budget("f1_drop=1,eval_latency_ms=5");
    EXPECT_NE(error_of(o).find("latency_metric"), std::string::npos);
    o = options(tunable);
    o.compare = {"V0"};
    EXPECT_NE(error_of(o).find("cannot be compared"), std::string::npos);
    o = options(write(""));
    EXPECT_NE(error_of(o).find("no [tune] table"), std::string::npos);
    // With a hook, low fidelities are the command's to honour.
    o = options(write("[tune]\nvalidation_metric = \"val_score\"\nfidelity_env = \"SHARE\"\n"));
    o.fidelities_given = true;
    o.search.fidelities = {0.25, 0.5};
    EXPECT_EQ(command_backend(o)->search().fidelities, (std::vector<double>{0.25, 0.5}));
}

}  // namespace gk::tune
