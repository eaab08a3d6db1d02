// `greenknobs study` and `greenknobs report` end to end: the real binary (with the fake train
// binary behind
// --train-bin), its output, files and exit codes.
#include "../common/cli.h"

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

#include "study_fixture.h"

namespace {

using gk::testing::has;
using Result = gk::testing::CliResult;

Result run(const std::string& args) { return gk::testing::run_greenknobs(args); }

using StudyCli = gk::testing::StudyTest;

TEST_F(StudyCli, StudyThenReport) {
    const std::string common = "study --catalog " + catalog_ +
                               " --variants V7,V0 --repeats 2 --out " + out_ + " --train-bin " +
                               GK_FAKE_TRAIN;
    Result r = run(common + " --budget-points 3");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "4 complete, 0 failed, 0 skipped of 4 runs")) << r.out;
    EXPECT_TRUE(has(r.out, "Table I (excerpt):")) << r.out;
    EXPECT_TRUE(has(r.out, "Recommendation: ")) << r.out;
    EXPECT_TRUE(has(r.out, "report: " + out_ + "/report/report.html")) << r.out;
    // The study's own report uses the budget it was given.
    EXPECT_TRUE(has(gk::fs::read_file(out_ + "/report/report.html"), "at most 3 points"));
    EXPECT_TRUE(gk::fs::exists(out_ + "/configs/V7-r1.toml"));

    // Same command: nothing left to run.
    r = run(common + " --no-report");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "resuming")) << r.out;
    EXPECT_FALSE(has(r.out, "report:")) << r.out;

    // Another --set: refused as bad input, naming the variant.
    r = run(common + " --set train.lr=0.002");
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r.out, "variant V")) << r.out;
    EXPECT_TRUE(has(r.out, "changed since the study began")) << r.out;

    r = run("report " + out_ + " --no-figures");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "4 complete run(s) from the store")) << r.out;
    EXPECT_TRUE(has(r.out, "report: " + out_ + "/report/report.html")) << r.out;

    // A wider quality budget reaches the recommendation's rule (and a bad one is exit 2).
    r = run("report " + out_ + " --no-figures --budget-points 2.5");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(gk::fs::read_file(out_ + "/report/report.html"), "at most 2.5 points"));
    EXPECT_EQ(run("report " + out_ + " --no-figures --budget-points -1").rc, 2);

    r = run("report " + tmp_ + "/nowhere");
    EXPECT_EQ(r.rc, 2) << r.out;
}

TEST_F(StudyCli, AFailedRunMakesTheExitCodeNonZero) {
    ::setenv("GK_FAKE_MODE", "crash", 1);
    ::setenv("GK_FAKE_ONLY", "V7", 1);
    Result r = run("study --catalog " + catalog_ +
                   " --variants V0,V7 --repeats 1 --max-retries 0 --no-report --out " + out_ +
                   " --train-bin " + GK_FAKE_TRAIN);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has(r.out, "failed V7-r0: killed by SIGABRT")) << r.out;
}

}  // namespace
