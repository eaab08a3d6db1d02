// The Slurm executor of `greenknobs study --executor slurm`: every (variant, repeat) attempt is a
// Slurm job — one job array per repeat block, its tasks in the study's interleaved order, so that
// submission order is run order — running `greenknobs train` (or `measure` for a command study) on
// a compute node. The study process follows the jobs (progress, failures with their Slurm state
// and log), may detach and re-attach (the same command again), cancels its jobs when it is
// cancelled, and lets Slurm's own requeues and node failures cost no retry (docs/cluster.md).
#pragma once

#include <csignal>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "greenknobs/study/plan.h"
#include "greenknobs/study/store.h"

namespace gk::study {

struct SlurmOptions {
    // sbatch resources for every run ("" / 0 = Slurm's default).
    std::string partition, gres, time, constraint, account, qos, mem;
    int cpus_per_task = 0;
    bool exclusive = false;  // whole nodes: nothing else draws power beside the run
    // Each repeat block on one node (--nodelist), so that every variant's repeat r is measured on
    // the same hardware as the baseline's repeat r.
    bool block_by_node = false;
    std::vector<std::string> sbatch_args;  // passed through as is (e.g. "--reservation=x")
    bool detach = false;   // submit, then return; the same command again re-attaches
    double poll_s = 10.0;  // how often squeue is asked
};

// The catalog's [slurm] table (partition, gres, cpus_per_task, mem, time, constraint, account, qos,
// exclusive, block_by_node, sbatch_args) fills what the command line left unset. InputError for an
// unknown key or a wrong type, naming the catalog and key.
void apply_catalog_resources(const std::string& catalog_path, SlurmOptions& opt);

// What the executor needs of the study runner.
struct SlurmContext {
    Store* store = nullptr;
    int64_t study_id = 0;
    const Plan* plan = nullptr;
    std::string out_dir;  // absolute: compute nodes see it through the shared file system
    std::string program;  // absolute path of the binary run as `<program> train ...`
    int max_attempts = 3;
    std::function<std::string(const PlannedRun&)> config_path, run_dir;
    const volatile std::sig_atomic_t* stop_signal = nullptr;
    double progress_every_s = 10.0;
};

// A job's fate as Slurm (or the job's exit file) tells it.
struct JobFate {
    std::string
        state;  // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, NODE_FAIL, ... ("" = unknown)
    int exit_code = -1;  // -1 = unknown
    int signal = 0;
    std::string node;
    bool live() const;  // still queued or running (Slurm will run or rerun it)
};

// Maps a finished job to the store's status: "complete" is decided by run.json before this;
// here: failed (the run's own failure: a retry), interrupted (the machine's: no retry), skipped
// (exit 3). `retry` false for bad input (exit 2).
struct JobVerdict {
    std::string status;
    std::string error;
    bool retry = true;
};
JobVerdict judge_job(const JobFate& fate, bool cancelled_by_study);

// Parses `scontrol -o show job` output (one line of Key=Value pairs).
JobFate parse_scontrol_job(const std::string& line);

class SlurmExecutor {
  public:
    SlurmExecutor(const SlurmOptions& opt, const SlurmContext& ctx);

    // At start, before anything is submitted: rows left `running` by an earlier invocation are
    // followed again while their jobs live, recorded by their fate when the jobs ended meanwhile,
    // and recorded interrupted when they never got a job; jobs of this study the store does not
    // know (submitted just before a crash) are cancelled. Returns the rows recorded interrupted.
    int reconcile();
    // Submits every planned attempt and follows the jobs until all are done, the study is stopped
    // (its jobs are cancelled; returns the signal) or it detaches. Returns the stop signal (0 =
    // none).
    int execute();

    // The job name prefix of this study ("gk-<8 hex>-"); the rest is the repeat block.
    const std::string& name_prefix() const { return prefix_; }

  private:
    struct Live {
        int64_t row_id;
        std::string key;
        int attempt;
        std::string state;
    };
    void submit_planned();
    void submit_block(const std::vector<RunRow>& rows);
    void follow();
    void finalize(const RunRow& row, bool cancelled_by_study);
    JobFate fate_of(const RunRow& row);
    std::map<std::string, std::string> queue();  // job id -> state, this study's jobs only
    std::string node_for_block(int repeat);
    std::string log_path(const RunRow& row) const;
    std::string exit_path(const RunRow& row) const;
    const PlannedRun& planned(const RunRow& row) const;
    void cancel_all(int sig);

    SlurmOptions opt_;
    SlurmContext ctx_;
    std::string prefix_;
    std::vector<std::string> nodes_;  // for block_by_node
    int stop_ = 0;
};

}  // namespace gk::study
