// `greenknobs tune` as a library call: the base configuration (a catalog's [base] or a run config),
// the search space from the knob registry (or, for a command catalog, from its [[knob]]s: any
// command tuned the same way, docs/byo.md), the search (search.h) run through the study runner (one
// study directory per batch under DIR/studies/, so every run is an isolated, metered child process
// and a tune killed at any point resumes with the same command), then DIR/search.json, the picked
// configuration as DIR/chosen.toml and the HTML report. Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/knobs/knob.h"
#include "greenknobs/tune/search.h"
#include "greenknobs/tune/space.h"

namespace gk::tune {

struct TuneOptions {
    std::string catalog_path;  // its [base] is the baseline (a pipeline or command catalog); or
    std::string config_path;   // a run config (greenknobs train --config) as the baseline
    std::vector<std::string> sets;  // section.key=value over the base
    // Catalog variants verified beside the pick (needs catalog_path), e.g. {"V30"}.
    std::vector<std::string> compare;
    std::string out_dir;
    SearchOptions search;
    // search.fidelities were chosen by the user (not the default): a command catalog that cannot
    // run below full fidelity refuses them instead of screening at 1.
    bool fidelities_given = false;
    SpaceOptions space;
    std::optional<int64_t> seed;                      // default: the base's train.seed
    std::string train_bin;                            // "" = this executable
    std::optional<knobs::Capabilities> capabilities;  // unset = probed
    int max_retries = 1;
    bool report = true;
    bool render_figures = true;
    bool dry_run = false;  // build and print the search space, run nothing, write nothing
};

struct TuneResult {
    Space space;
    SearchResult search;
    std::string search_json;     // DIR/search.json
    std::string chosen_toml;     // DIR/chosen.toml (a command: chosen.json; "" = baseline kept)
    std::string run_hint;        // how to run it ("greenknobs train --config DIR/chosen.toml ...")
    std::string report_html;     // DIR/report/index.html ("" when not written)
    int interrupted_signal = 0;  // the tune was stopped (resume with the same command)
    int exit_code() const { return interrupted_signal != 0 ? 128 + interrupted_signal : 0; }
};

TuneResult run_tune(const TuneOptions& opt);

// The options name a command catalog (its [base] is a command): the tune searches its [[knob]]s.
bool is_command_tune(const TuneOptions& opt);

// The baseline configuration the options name (catalog [base] or run config, then --set); what
// the CLI peeks at to probe the device's capabilities before the tune starts.
config::RunConfig tune_base(const TuneOptions& opt);

// What the search reads from a run.json (schema greenknobs.run/1): total energy and time (less the
// config::kScoreValidationStage), the validation F1 (the evaluation path's on the validation split
// where the run scored it, else the training loop's at its best epoch), the evaluation latency, and
// test F1 (kept for verification).
Outcome outcome_from_run_json(const nlohmann::json& run);

// What the search reads from a command's run.json (greenknobs measure's): total energy and time,
// the metric `validation` as validation F1, `test` as test F1 (verification only) and, when
// named, `latency` as the evaluation latency per batch (ms): metrics the command reports over the
// stage protocol, the two scores on a 0-1 scale, higher is better.
Outcome outcome_from_command_run_json(const nlohmann::json& run, const std::string& validation,
                                      const std::string& test, const std::string& latency);

// The base resolved at a fidelity: max_train_samples (and, not below 200 samples, the evaluation
// cap) scaled from the full sizes.
config::RunConfig at_fidelity(const config::RunConfig& base, double fidelity, int64_t train_samples,
                              int64_t eval_samples);

// A catalog (knobs/catalog.h format) of `base` with "B" as the baseline and each trial as a
// variant.
std::string catalog_toml(const config::RunConfig& base, const std::vector<Trial>& trials,
                         const std::string& description);

}  // namespace gk::tune
