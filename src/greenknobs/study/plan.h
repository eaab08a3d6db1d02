// A study's plan: every (variant, repeat) resolved into its RunConfig (catalog base + knobs, the
// study's --set overrides, a distinct seed per repeat), in a seeded interleaved order so that
// thermal drift, cache warmth and background load never line up with one variant. Pure: no files
// written, no processes started.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "greenknobs/config/run_config.h"
#include "greenknobs/knobs/catalog.h"

namespace gk::study {

struct PlanOptions {
    std::string catalog_path = "variants/paper.toml";
    std::vector<std::string> variants;  // empty = every variant of the catalog, in catalog order
    int repeats = 1;
    std::vector<std::string> sets;  // "section.key=value", applied to every variant
    std::optional<int64_t> seed;    // base seed; default: the resolved base's train.seed
    std::optional<double> idle_s;   // energy.idle_baseline_s for every run (default: the config's)
};

struct PlannedRun {
    int seq = 0;  // position in the execution order
    std::string variant;
    int repeat = 0;  // 0-based
    config::RunConfig config;
    std::string config_hash;
    // A command study's run (command_catalog.h): its spec for `measure --spec`; null for the
    // built-in pipeline, whose run is `config`.
    nlohmann::json command;
    std::string key() const;  // "V7-r0": the run's name in configs/, runs/ and logs/
};

struct Plan {
    knobs::Catalog catalog;
    std::string catalog_sha256;
    std::vector<std::string> variants;  // selected, catalog order
    int repeats = 0;
    int64_t seed = 0;              // base seed (repeat r trains with seed + r; orders the runs)
    std::vector<PlannedRun> runs;  // execution order
};

// "V7-r0"
std::string run_key(const std::string& variant, int repeat);

// Loads the catalog and resolves everything; InputError on unknown variants, bad --set, repeats
// < 1.
Plan make_plan(const PlanOptions& opt);

// The execution order: `repeats` blocks, each a seeded permutation of `variants` (Fisher-Yates over
// splitmix64, so the order is the same on every platform and standard library). A block never
// starts with the variant that ended the previous one, so no variant runs twice in a row.
std::vector<std::pair<std::string, int>> interleaved_order(const std::vector<std::string>& variants,
                                                           int repeats, uint64_t seed);

}  // namespace gk::study
