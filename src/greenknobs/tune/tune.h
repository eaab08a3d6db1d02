// `greenknobs tune` as a library call: the base configuration (a catalog's [base] or a run config),
// the search space from the knob registry, the search (search.h) run through the study runner (one
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
    std::string catalog_path;       // its [base] is the baseline; or
    std::string config_path;        // a run config (greenknobs train --config) as the baseline
    std::vector<std::string> sets;  // section.key=value over the base
    // Catalog variants verified beside the pick (needs catalog_path), e.g. {"V30"}.
    std::vector<std::string> compare;
    std::string out_dir;
    SearchOptions search;
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
    std::string chosen_toml;     // DIR/chosen.toml ("" when the baseline is kept)
    std::string report_html;     // DIR/report/index.html ("" when not written)
    int interrupted_signal = 0;  // the tune was stopped (resume with the same command)
    int exit_code() const { return interrupted_signal != 0 ? 128 + interrupted_signal : 0; }
};

TuneResult run_tune(const TuneOptions& opt);

// The baseline configuration the options name (catalog [base] or run config, then --set); what
// the CLI peeks at to probe the device's capabilities before the tune starts.
config::RunConfig tune_base(const TuneOptions& opt);

// What the search reads from a run.json (schema greenknobs.run/1): total energy and time (less the
// config::kScoreValidationStage), the validation F1 (the evaluation path's on the validation split
// where the run scored it, else the training loop's at its best epoch), the evaluation latency, and
// test F1 (kept for verification).
Outcome outcome_from_run_json(const nlohmann::json& run);

// The base resolved at a fidelity: max_train_samples (and, not below 200 samples, the evaluation
// cap) scaled from the full sizes.
config::RunConfig at_fidelity(const config::RunConfig& base, double fidelity, int64_t train_samples,
                              int64_t eval_samples);

// A catalog (knobs/catalog.h format) of `base` with "B" as the baseline and each trial as a
// variant.
std::string catalog_toml(const config::RunConfig& base, const std::vector<Trial>& trials,
                         const std::string& description);

}  // namespace gk::tune
