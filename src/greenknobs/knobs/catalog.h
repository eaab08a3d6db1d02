// The variant catalog: a TOML file with a [base] RunConfig (the baseline, scaled to this hardware)
// and one [[variant]] per paper variant (V0-V30): its knobs, the single-knob variants a combination
// is predicted from, and how it differs from the paper. resolve() turns a variant into a validated
// RunConfig; resolve_sources() is the one order in which every command layers its config sources.
// Torch-free.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"

namespace gk::knobs {

struct Variant {
    std::string id, name,
        phase;  // phase: the paper's stage column, e.g. "training" or "model+system+training"
    nlohmann::json
        knobs;  // {knob: params}; applied in registry() order, so how the table is written is moot
    std::vector<std::string>
        combines;  // single-knob variant ids whose savings this combination should be
                   // predicted from (interaction analysis); empty for single-knob variants
    std::string paper_id, differs_from_paper;
    bool baseline = false;

    bool is_combination() const { return !combines.empty(); }
};

struct Catalog {
    std::string path;
    std::string description;
    config::RunConfig base;
    std::vector<Variant> variants;

    const Variant& find(
        const std::string& id) const;  // InputError naming the catalog file if unknown
    const Variant& baseline() const;
};

// Strict: unknown keys, missing fields, unknown knobs, bad parameters, combinations whose knobs are
// not exactly those of the variants they combine, and variants that do not resolve are InputErrors
// naming the file and the variant/key.
Catalog load_catalog(const std::string& path);

// base + the variant's knobs, validated; name = id. Device-dependent knob values (precision "half",
// inference dtype "auto") follow cat.base.system.device, so apply --set overrides to cat.base
// first.
config::RunConfig resolve(const Catalog& cat, const std::string& variant_id);
config::RunConfig resolve(const config::RunConfig& base, const Variant& v,
                          const std::string& origin);

// Where a run's configuration comes from. resolve_sources() applies them in the one order every
// command uses (train, study, tune): the catalog's [base] (or the defaults) → the config file over
// it → the --set assignments in order → the variant's knobs. Device-dependent knob values see the
// device the --set layer chose, and a variant stays itself: its knobs win over --set.
struct ConfigSources {
    const Catalog* catalog = nullptr;  // its base is the start (nullptr: RunConfig's defaults)
    std::string config_path;           // a TOML run config merged over the start ("" = none)
    std::vector<std::string> sets;     // "section.key=value", applied in order
    std::string variant;               // a variant of `catalog` ("" = none)
};
config::RunConfig resolve_sources(const ConfigSources& s);

}  // namespace gk::knobs
