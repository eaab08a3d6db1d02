// `greenknobs study`: variants x repeats, each run an isolated `greenknobs train` child in a seeded
// interleaved order (here, or as Slurm jobs), results in DIR/study.sqlite or PostgreSQL, resumable
// after any crash (same command again), report at the end.
#ifdef GK_HAVE_STUDY

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "greenknobs/study/runner.h"
#include "greenknobs/util/error.h"

#include "command.h"

namespace gk::app {
gk::knobs::Capabilities detect_here(const std::string& device);  // cmd_knobs.cpp
}

namespace {

struct StudyArgs {
    gk::study::StudyOptions opt;
    std::string variants;
    int64_t seed = -1;
    double idle_s = -1;
};

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s + ",") {
        if (c == ',') {
            if (!cur.empty()) {
                out.push_back(cur);
            }
            cur.clear();
        } else if (c != ' ') {
            cur += c;
        }
    }
    return out;
}

gk::app::Registrar reg("study", 50, [](CLI::App& app) -> gk::app::RunFn {
    auto a = std::make_shared<StudyArgs>();
    a->opt.plan.catalog_path = "variants/paper.toml";
    auto* sub = app.add_subcommand("study",
                                   "variants x repeats as isolated runs in a seeded interleaved "
                                   "order; resumable; then the report");
    sub->add_option("--catalog", a->opt.plan.catalog_path, "variant catalog (TOML)")
        ->capture_default_str();
    sub->add_option("--variants", a->variants,
                    "comma-separated variant ids (default: all in the catalog)");
    sub->add_option("--repeats", a->opt.plan.repeats,
                    "runs per variant (repeat r trains with seed + r)")
        ->capture_default_str();
    sub->add_option("--out", a->opt.out_dir,
                    "study directory (run the same command again to resume)")
        ->required();
    sub->add_option("--set", a->opt.plan.sets,
                    "override one key in every run: section.key=value (repeatable)");
    sub->add_option("--seed", a->seed,
                    "base seed for training and the run order (default: train.seed, 42)");
    sub->add_option("--idle-s", a->idle_s,
                    "measure idle power this long before each run (energy.idle_baseline_s)");
    sub->add_option("--cooldown-s", a->opt.cooldown_s, "sleep between runs")->capture_default_str();
    sub->add_option("--max-retries", a->opt.max_retries,
                    "retries of a run that fails on its own (an interrupted study costs none)")
        ->capture_default_str();
    sub->add_option("--train-bin", a->opt.train_bin,
                    "binary run as `<bin> train` (default: this one)");
    sub->add_option("--paper-table", a->opt.paper_table_csv,
                    "the paper's Table I CSV (default: data/reference/paper_table1.csv)");
    sub->add_option("--budget-points", a->opt.budget_points,
                    "the report recommends within this drop of the primary metric (F1 vul) at "
                    "the CI's upper end, in points (default: the catalog's, else 1)")
        ->check(CLI::Range(0.0, 100.0));
    sub->add_flag(
        "--no-report", [a](int64_t) { a->opt.report = false; },
        "do not write DIR/report at the end");
    sub->add_option("--store", a->opt.store,
                    "where runs are stored: DIR/study.sqlite (default) or postgresql://[user@]host"
                    "[:port]/db (password from ~/.pgpass or PGPASSWORD; docs/cluster.md)");
    sub->add_option("--executor", a->opt.executor,
                    "local: one run at a time here; slurm: one Slurm job per run")
        ->capture_default_str();
    auto& sl = a->opt.slurm;
    const char* g = "Slurm (--executor slurm)";
    sub->add_option("--partition", sl.partition, "sbatch --partition")->group(g);
    sub->add_option("--gres", sl.gres, "sbatch --gres, e.g. gpu:1")->group(g);
    sub->add_option("--cpus-per-task", sl.cpus_per_task, "sbatch --cpus-per-task")->group(g);
    sub->add_option("--time", sl.time, "sbatch --time limit per run, e.g. 02:00:00")->group(g);
    sub->add_option("--constraint", sl.constraint, "sbatch --constraint (node features)")->group(g);
    sub->add_option("--account", sl.account, "sbatch --account")->group(g);
    sub->add_option("--qos", sl.qos, "sbatch --qos")->group(g);
    sub->add_option("--mem", sl.mem, "sbatch --mem, e.g. 32G")->group(g);
    sub->add_flag("--exclusive", sl.exclusive,
                  "whole nodes per run (clean energy numbers: nothing else draws power)")
        ->group(g);
    sub->add_flag("--block-by-node", sl.block_by_node,
                  "each repeat block on one node, so paired differences share hardware")
        ->group(g);
    sub->add_option("--sbatch-arg", sl.sbatch_args,
                    "another sbatch option for every job, e.g. --reservation=x (repeatable)")
        ->group(g);
    sub->add_flag("--detach", sl.detach,
                  "submit the jobs and return; the same command again follows them")
        ->group(g);
    sub->add_option("--poll-s", sl.poll_s, "how often the queue is asked")
        ->capture_default_str()
        ->group(g);
    return [a]() -> int {
        a->opt.plan.variants = split_commas(a->variants);
        const auto& sl = a->opt.slurm;
        if (a->opt.executor != "slurm" &&
            (!sl.partition.empty() || !sl.gres.empty() || sl.cpus_per_task > 0 ||
             !sl.time.empty() || !sl.constraint.empty() || !sl.account.empty() || !sl.qos.empty() ||
             !sl.mem.empty() || sl.exclusive || sl.block_by_node || !sl.sbatch_args.empty() ||
             sl.detach)) {
            throw gk::InputError("--executor", a->opt.executor,
                                 "Slurm options (--partition, --gres, --detach, ...) need "
                                 "--executor slurm");
        }
        if (!(sl.poll_s > 0)) {
            throw gk::InputError("--poll-s", std::to_string(sl.poll_s), "expected > 0");
        }
        if (a->seed >= 0) {
            a->opt.plan.seed = a->seed;
        }
        if (a->idle_s >= 0) {
            a->opt.plan.idle_s = a->idle_s;
        }
#ifdef GK_HAVE_KNOBS
        // The device every run uses decides the capabilities; the plan resolves it, so peek at the
        // catalog.
        if (a->opt.executor == "local") {  // a Slurm run's node decides for itself (exit 3)
            gk::study::Plan peek = gk::study::make_plan(a->opt.plan);
            a->opt.capabilities =
                gk::app::detect_here(gk::config::to_string(peek.runs.front().config.system.device));
        }
#endif
        gk::study::StudyResult r = gk::study::run_study(a->opt);
        if (!r.report_html.empty()) {
            std::cout << "\nTable I (excerpt):\n" << r.table1_excerpt << "\n";
            std::cout << "Recommendation: " << r.recommendation << "\n";
            std::cout << "report: " << r.report_html << "\n";
        } else if (!r.report_skipped_why.empty()) {
            std::cout << "no report: " << r.report_skipped_why << "\n";
        }
        if (r.skipped > 0) {
            std::cout << r.skipped
                      << " run(s) skipped (unsupported here); see the warnings above\n";
        }
        if (r.interrupted_signal != 0) {
            std::cout << "interrupted; run the same command again to resume\n";
        }
        if (r.detached) {
            std::cout << r.in_flight
                      << " run(s) queued or running in Slurm; run the same command again to "
                         "follow them\n";
        }
        return r.exit_code();
    };
});

}  // namespace

#endif  // GK_HAVE_STUDY
