// `greenknobs tune`: search the knob registry for the least-energy configuration within a budget,
// verify it with repeats at full fidelity, say what the search cost; resumable (same command).
#ifdef GK_HAVE_TUNE

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "greenknobs/tune/tune.h"
#include "greenknobs/util/error.h"

#include "command.h"

namespace gk::app {
gk::knobs::Capabilities detect_here(const std::string& device);  // cmd_knobs.cpp
}

namespace {

struct TuneArgs {
    gk::tune::TuneOptions opt;
    std::string budget;
    std::string knobs;
    std::string compare;
    std::string fidelities = "0.1,0.3";
    int64_t seed = -1;
};

std::vector<std::string> split(const std::string& s) {
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

gk::app::Registrar reg("tune", 55, [](CLI::App& app) -> gk::app::RunFn {
    auto a = std::make_shared<TuneArgs>();
    auto* sub = app.add_subcommand(
        "tune",
        "search the knobs for the least energy within a budget (screening, successive halving, "
        "a cascade), verify the pick with repeats; resumable");
    auto* cat = sub->add_option("--catalog", a->opt.catalog_path,
                                "a variant catalog whose [base] is the baseline, or a command "
                                "catalog (docs/byo.md): its [[knob]]s are the space");
    sub->add_option("--config", a->opt.config_path, "a run config (TOML) as the baseline")
        ->excludes(cat);
    sub->add_option("--set", a->opt.sets, "override one key of the baseline: section.key=value");
    sub->add_option("--budget", a->budget,
                    "f1_drop=POINTS[,eval_latency_ms=MS][,time=PCT] (time: % change of the "
                    "total run time vs the baseline)")
        ->required();
    sub->add_option("--max-runs", a->opt.search.max_runs,
                    "the search's cost cap in full-run equivalents, verification included")
        ->capture_default_str();
    sub->add_option("--out", a->opt.out_dir, "tune directory (the same command resumes)")
        ->required();
    sub->add_option("--knobs", a->knobs, "search only these knobs (comma-separated)");
    sub->add_option("--compare", a->compare,
                    "catalog variants verified beside the pick, same repeats and seeds (e.g. "
                    "V30,V27)");
    sub->add_option("--levels", a->opt.space.max_levels, "settings per knob at most")
        ->capture_default_str();
    auto* fid = sub->add_option("--fidelities", a->fidelities,
                                "screening fidelities (share of the training samples), "
                                "ascending; the cascade runs at the last")
                    ->capture_default_str();
    sub->add_option("--eta", a->opt.search.eta,
                    "successive halving keeps the best 1/eta of the knobs (two settings each)")
        ->capture_default_str();
    sub->add_option("--verify-repeats", a->opt.search.verify_repeats,
                    "repeats of the baseline, the chosen and the runner-up at full fidelity (>= 3)")
        ->capture_default_str();
    sub->add_option("--min-gain", a->opt.search.min_gain_pct,
                    "a cascade step must save at least this % of the baseline's energy more")
        ->capture_default_str();
    sub->add_option("--screen-slack", a->opt.search.screen_slack_points,
                    "extra F1 drop (points) tolerated when promoting from a low-fidelity rung")
        ->capture_default_str();
    sub->add_option("--screen-baselines", a->opt.search.screen_baselines,
                    "baseline runs per screening rung, spread through it (each point is compared "
                    "with the line through them: machine drift cancels)")
        ->capture_default_str();
    sub->add_option("--seed", a->seed, "base seed (default: the baseline's train.seed)");
    sub->add_option("--max-retries", a->opt.max_retries, "retries of a run that fails on its own")
        ->capture_default_str();
    sub->add_option("--train-bin", a->opt.train_bin,
                    "binary run as `<bin> train` (default: this one)");
    sub->add_flag("--dry-run", a->opt.dry_run,
                  "print the search space (every setting, every excluded knob and why) and stop");
    sub->add_flag(
        "--no-report", [a](int64_t) { a->opt.report = false; }, "do not write DIR/report");
    return [a, fid]() -> int {
        a->opt.search.budget = gk::tune::parse_budget(a->budget);
        a->opt.fidelities_given = fid->count() > 0;
        a->opt.space.knobs = split(a->knobs);
        a->opt.compare = split(a->compare);
        a->opt.search.fidelities.clear();
        for (const auto& f : split(a->fidelities)) {
            char* end = nullptr;
            const double v = std::strtod(f.c_str(), &end);
            if (end == nullptr || *end != '\0') {
                throw gk::InputError("--fidelities", f, "expected a number in (0, 1]");
            }
            a->opt.search.fidelities.push_back(v);
        }
        if (a->seed >= 0) {
            a->opt.seed = a->seed;
        }
        if (a->opt.catalog_path.empty() && a->opt.config_path.empty()) {
            a->opt.catalog_path = "variants/paper.toml";
        }
#ifdef GK_HAVE_KNOBS
        if (!gk::tune::is_command_tune(a->opt)) {  // a command's knobs need nothing of this machine
            a->opt.capabilities = gk::app::detect_here(
                gk::config::to_string(gk::tune::tune_base(a->opt).system.device));
        }
#endif
        const gk::tune::TuneResult r = gk::tune::run_tune(a->opt);
        if (a->opt.dry_run) {
            std::cout << "search space: " << r.space.moves.size() << " settings\n";
            for (const auto& m : r.space.moves) {
                std::cout << "  " << m.id << "  " << m.knob << "  " << m.label << "\n";
            }
            for (const auto& e : r.space.excluded) {
                std::cout << "  excluded " << e.knob << ": " << e.why << "\n";
            }
            return 0;
        }
        if (r.interrupted_signal != 0) {
            std::cout << "interrupted; run the same command again to resume\n";
            return r.exit_code();
        }
        std::cout << "\n" << r.search.pick_why << "\n";
        if (!r.chosen_toml.empty()) {
            std::cout << "configuration: " << r.chosen_toml << "  (run it: " << r.run_hint << ")\n";
        }
        const auto& acc = r.search.accounting;
        std::cout << "search cost: " << acc.runs << " runs, "
                  << (acc.search_energy_j + acc.verify_energy_j) / 3600.0 << " Wh";
        if (std::isfinite(acc.break_even_runs)) {
            std::cout << "; pays for itself after " << acc.break_even_runs << " runs";
        }
        std::cout << "\n";
        if (!r.report_html.empty()) {
            std::cout << "report: " << r.report_html << "\n";
        }
        return r.exit_code();
    };
});

}  // namespace

#endif  // GK_HAVE_TUNE
