// `greenknobs study` as a library call: plan, store, one child process per (variant, repeat) in the
// seeded order, crash recovery and resume, progress, and the report at the end. Resume rules are in
// docs/decisions/0003-study-store.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "greenknobs/knobs/capabilities.h"
#include "greenknobs/study/plan.h"
#include "greenknobs/study/slurm.h"

namespace gk::study {

struct StudyOptions {
    PlanOptions plan;
    std::string out_dir;
    double cooldown_s = 0;  // sleep between runs (lets the machine cool down to its idle state)
    // A run that fails on its own is tried at most 1 + max_retries times in all (across
    // invocations); attempts interrupted because the study stopped are not counted.
    int max_retries = 2;
    // "" = this executable (/proc/self/exe); called as `<bin> train --config FILE --out DIR`.
    std::string train_bin;
    bool report = true;  // write DIR/report at the end
    // "" = found beside the catalog (../data/reference/paper_table1.csv).
    std::string paper_table_csv;
    // The report's quality budget in the primary metric's Δ units (F1 points); < 0 = the
    // catalog's, else 1 point.
    double budget_points = -1;
    knobs::ProbePaths probe;  // where capabilities are probed (tests pass a fake powercap tree)
    // What this machine can run (the CLI asks LibTorch and the energy module); unset = probed from
    // `probe`, with CUDA assumed when the base config asks for it (a child that cannot run it exits
    // 3: skipped).
    std::optional<knobs::Capabilities> capabilities;
    // After a forwarded SIGINT/SIGTERM, how long the run gets before SIGKILL.
    double grace_s = 10.0;
    double progress_every_s = 10.0;  // plain progress line period when stderr is not a terminal
    // Where the store is: "" = what the directory already has, else DIR/study.sqlite; "sqlite";
    // or a postgresql:// URI (recorded in DIR/store.json; docs/cluster.md).
    std::string store;
    // "local": one child process at a time on this machine; "slurm": one Slurm job per attempt
    // (slurm.h).
    std::string executor = "local";
    SlurmOptions slurm;
};

struct SkippedRun {
    std::string key;
    std::string reason;
};

struct StudyResult {
    int total = 0;  // (variant, repeat) pairs in the plan
    int complete = 0;
    int failed = 0;  // failed with no attempt left (or bad input)
    int skipped = 0;
    int ingested = 0;   // complete run directories found on resume that the store had missed
    int recovered = 0;  // runs found `running` at start (the study had died): recorded interrupted
    int interrupted = 0;  // runs whose last attempt was interrupted (this invocation was stopped)
    int interrupted_signal = 0;  // SIGINT/SIGTERM that stopped this invocation (0 = none)
    int in_flight = 0;           // runs whose Slurm jobs are still queued or running (--detach)
    bool detached = false;
    std::vector<SkippedRun> skipped_runs;
    std::vector<std::string> failed_runs;  // "V7-r1: <error>"
    std::string report_html;
    std::string table1_excerpt;
    std::string recommendation;      // the report's, in one paragraph
    std::string report_skipped_why;  // why no report was written ("" when written or not asked for)

    // 128 + signal when interrupted, 1 when a run failed for good, else 0 (skipped runs are not
    // failures).
    int exit_code() const;
};

// Runs (or resumes) the study in opt.out_dir. InputError for bad input, a study directory that
// holds another study, or a planned config whose hash differs from the one stored for the same
// (variant, repeat).
StudyResult run_study(const StudyOptions& opt);

// A best guess at the stage a run is in from one line of its output ("" = no hint): the explicit
// "stage: <path>" form, or the pipeline's known log lines.
std::string stage_hint(const std::string& line);

}  // namespace gk::study
