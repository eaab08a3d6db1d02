// `greenknobs study`: variants x repeats, each run an isolated `greenknobs train` child in a seeded
// interleaved order, results in DIR/study.sqlite, resumable after any crash (same command again),
// report at the end.
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
    sub->add_flag(
        "--no-report", [a](int64_t) { a->opt.report = false; },
        "do not write DIR/report at the end");
    return [a]() -> int {
        a->opt.plan.variants = split_commas(a->variants);
        if (a->seed >= 0) {
            a->opt.plan.seed = a->seed;
        }
        if (a->idle_s >= 0) {
            a->opt.plan.idle_s = a->idle_s;
        }
#ifdef GK_HAVE_KNOBS
        // The device every run uses decides the capabilities; the plan resolves it, so peek at the
        // catalog.
        gk::study::Plan peek = gk::study::make_plan(a->opt.plan);
        a->opt.capabilities = gk::app::detect_here(peek.runs.front().config.system.device);
#endif
        gk::study::StudyResult r = gk::study::run_study(a->opt);
        if (!r.report_html.empty()) {
            std::cout << "\nTable I (excerpt):\n" << r.table1_excerpt << "\n";
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
        return r.exit_code();
    };
});

}  // namespace

#endif  // GK_HAVE_STUDY
