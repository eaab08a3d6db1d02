// The glue between the search and the study runner: what is read from a run.json, the base at a
// fidelity, and the catalog written for a batch (loaded back by the catalog loader, resolving to
// the same configurations).
#include <gtest/gtest.h>
#include <unistd.h>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/tune/tune.h"
#include "greenknobs/util/fs.h"

#include "../common/temp_dir.h"

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

}  // namespace gk::tune
