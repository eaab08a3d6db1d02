// `greenknobs study` on a command catalog end to end: a shell command whose knobs change its
// arguments and environment, reporting stages and a metric over the stage protocol; the store, the
// run directories, resume and the report with the catalog's primary metric.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "greenknobs/study/store.h"
#include "greenknobs/util/fs.h"

#include "../common/cli.h"
#include "../common/temp_dir.h"

namespace {

using gk::testing::has;

class CommandStudyCli : public ::testing::Test {
  protected:
    void SetUp() override {
        // The "training script": stages over the protocol, work, a metric that depends on the
        // knob's argument and the seed from the environment, and an uninstrumented tail.
        std::ofstream(dir_ + "/job.sh") << R"(#!/bin/sh
p() { echo "$1" >&$GREENKNOBS_STAGE_FD; }
p "begin train"
i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done
p "work samples 100"
p "end train"
p "begin evaluate"
p "end evaluate"
acc=0.80
[ "$1" = "--fast" ] && acc=0.78
p "metric acc $acc"
p "metric seed $SEED"
echo "done with seed $SEED"
)";
        std::filesystem::permissions(dir_ + "/job.sh", std::filesystem::perms::owner_all);
        std::ofstream(dir_ + "/catalog.toml") << R"(
description = "shell job"
[base]
argv = ["sh", "job.sh"]
cwd = ")" + dir_ + R"("
seed_env = "SEED"
seed = 100
[report]
primary_metric = "acc"
[[knob]]
name = "fast"
phase = "training"
changes = "the fast path"
args = ["--fast"]
[[knob]]
name = "quiet"
phase = "system"
changes = "QUIET=1"
env = { QUIET = "1" }
[[variant]]
id = "V0"
baseline = true
[[variant]]
id = "V1"
knobs = ["fast"]
[[variant]]
id = "V2"
knobs = ["quiet"]
[[variant]]
id = "V3"
knobs = ["fast", "quiet"]
)";
    }
    gk::testing::TempDir tmp_{"cmd_study"};
    std::string dir_ = tmp_.path();
};

TEST_F(CommandStudyCli, StudiesACommandResumesAndReportsItsMetric) {
    const std::string out = dir_ + "/study";
    const std::string cmd = "study --catalog " + dir_ + "/catalog.toml --repeats 2 --out " + out;
    auto r = gk::testing::run_greenknobs(cmd);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "8 complete, 0 failed, 0 skipped of 8 runs")) << r.out;
    EXPECT_TRUE(gk::fs::exists(out + "/configs/V3-r1.json"));

    const nlohmann::json run =
        nlohmann::json::parse(gk::fs::read_file(out + "/runs/V1-r1/run.json"));
    EXPECT_EQ(run["status"], "complete");
    EXPECT_EQ(run["metrics"]["acc"], 0.78);
    EXPECT_EQ(run["metrics"]["seed"], 101);  // seed + repeat, through the environment
    EXPECT_EQ(run["primary_metric"], "acc");
    EXPECT_EQ(run["knobs"]["applied"][0]["name"], "fast");
    ASSERT_EQ(run["energy"]["stages"].size(), 2u);
    EXPECT_EQ(run["energy"]["stages"][0]["path"], "train");
    EXPECT_EQ(run["energy"]["stages"][0]["work"]["samples"], 100);
    EXPECT_TRUE(gk::fs::exists(out + "/runs/V1-r1/emissions.csv"));
    EXPECT_TRUE(has(gk::fs::read_file(out + "/logs/V1-r1-a1.log"), "done with seed 101"));

    {
        gk::study::SqliteStore store(out + "/study.sqlite");
        auto study = store.study();
        ASSERT_TRUE(study.has_value());
        EXPECT_EQ(store.complete_runs(study->id).size(), 8u);
    }

    const std::string html = gk::fs::read_file(out + "/report/report.html");
    EXPECT_TRUE(has(html, "acc (primary, reported by the command; higher is better)"))
        << "primary metric label";
    const std::string table = gk::fs::read_file(out + "/report/table1.md");
    EXPECT_TRUE(has(table, "\u0394acc (pts)")) << table;
    EXPECT_TRUE(has(table, "\u22122.00")) << table;  // V1: 0.78 vs 0.80, in points

    // The same command again: nothing to run.
    r = gk::testing::run_greenknobs(cmd + " --no-report");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "resuming")) << r.out;
    EXPECT_TRUE(has(r.out, "8 complete")) << r.out;
}

// A loss as the primary metric (the catalog's table form) and the command's own stage names: the
// declaration reaches run.json, Table I has the reported stages, the page the catalog's words.
TEST_F(CommandStudyCli, ALossMetricAndOwnStagesReachTheReport) {
    std::ofstream(dir_ + "/job.sh") << R"(#!/bin/sh
p() { echo "$1" >&$GREENKNOBS_STAGE_FD; }
p "begin prepare"; p "end prepare"
p "begin fit"
i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done
p "end fit"
p "begin score"; p "end score"
loss=0.40
[ "$1" = "--fast" ] && loss=0.55
p "metric loss $loss"
)";
    std::string catalog = gk::fs::read_file(dir_ + "/catalog.toml");
    const std::string old_report = "primary_metric = \"acc\"\n";
    catalog.replace(catalog.find(old_report), old_report.size(),
                    "primary_metric = { name = \"loss\", higher_is_better = false, budget = 0.05 "
                    "}\nprimary_label = \"validation loss\"\neval_stage = \"score\"\n");
    std::ofstream(dir_ + "/catalog.toml") << catalog;
    const std::string out = dir_ + "/loss";
    auto r = gk::testing::run_greenknobs("study --catalog " + dir_ +
                                         "/catalog.toml --variants V0,V1 --repeats 1 --out " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    const nlohmann::json run =
        nlohmann::json::parse(gk::fs::read_file(out + "/runs/V1-r0/run.json"));
    EXPECT_EQ(run["config"]["primary"]["higher_is_better"], false);
    EXPECT_EQ(run["metrics"]["loss"], 0.55);
    const std::string table = gk::fs::read_file(out + "/report/table1.md");
    for (const char* h :
         {"| prepare (Wh) |", "| fit (Wh) |", "| score (Wh) |", "\u0394validation loss |"}) {
        EXPECT_TRUE(has(table, h)) << h << "\n" << table;
    }
    EXPECT_FALSE(has(table, "Load data")) << table;
    EXPECT_FALSE(has(table, "Paper")) << table;
    const std::string html = gk::fs::read_file(out + "/report/report.html");
    EXPECT_FALSE(has(html, "differs from the paper"));
    EXPECT_FALSE(has(html, "F1 (vulnerable class)"));
    // V1's loss rose by 0.15 > the catalog's budget 0.05: rejected whatever its energy.
    EXPECT_TRUE(has(html, "V1: validation loss rise up to 0.15")) << html;
}

TEST_F(CommandStudyCli, AFailingCommandIsRecordedFailed) {
    std::ofstream(dir_ + "/job.sh") << "#!/bin/sh\necho 'begin train' >&$GREENKNOBS_STAGE_FD\n"
                                       "echo 'cannot find data' >&2\nexit 1\n";
    const std::string out = dir_ + "/study";
    auto r = gk::testing::run_greenknobs(
        "study --catalog " + dir_ + "/catalog.toml --variants V0 --max-retries 0 --out " + out);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has(r.out, "failed V0-r0: exit 1")) << r.out;
    const nlohmann::json run =
        nlohmann::json::parse(gk::fs::read_file(out + "/runs/V0-r0/run.json"));
    EXPECT_EQ(run["status"], "failed");
    EXPECT_EQ(run["error"], "the command exited 1");
}

}  // namespace
