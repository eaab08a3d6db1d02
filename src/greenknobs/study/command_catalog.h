// A study of any command (docs/byo.md): a catalog whose [base] is a command (argv, cwd, env) and
// whose [[knob]]s add arguments or environment variables, each described by name, phase and what it
// changes; [[variant]]s switch knobs on alone or combined. Each (variant, repeat) becomes a command
// spec that `greenknobs measure --spec` runs under the stage protocol. Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/study/plan.h"

namespace gk::study {

struct CommandKnob {
    std::string name;
    std::string phase;    // data | model | training | system | inference
    std::string changes;  // what it changes, in words (shown in the report)
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    // Knobs of one group are alternative settings of one thing (max length 64 or 128): a tune
    // never combines two of them. Default: the knob's own name.
    std::string group;
};

struct CommandVariant {
    std::string id, name, phase;
    bool baseline = false;
    std::vector<std::string> knobs;     // knob names, in the order their arguments are added
    std::vector<std::string> combines;  // single-knob variants this combination is predicted from
};

struct CommandCatalog {
    std::string path;
    std::string description;
    std::vector<std::string> argv;
    std::string cwd;  // "" = where the study runs; relative paths are from there
    std::map<std::string, std::string> env;
    // Seeds per repeat: repeat r gets seed + r as this argument pair and/or environment variable.
    std::string seed_arg, seed_env;
    int64_t seed = 42;
    // The report: the child's metric that is the accuracy, its label, and the stage whose cost is
    // "evaluation" ("" = none). `primary_metric = "f1"` means a 0-1 score, higher is better; the
    // table form `primary_metric = { name = "loss", higher_is_better = false, range = [0, 1],
    // budget = 0.02 }` declares its direction, its range (none: unbounded, Δ in its own units;
    // a range: Δ in points of it) and the worsening the recommendation accepts (in Δ units).
    std::string primary_metric, primary_label, eval_stage;
    bool primary_declared = false;  // the table form was used (the spec then carries "primary")
    bool primary_higher_is_better = true;
    std::vector<double> primary_range;  // {low, high}; empty = unbounded
    double primary_budget = -1;         // < 0 = not given (the report's default)
    std::vector<CommandKnob> knobs;
    std::vector<CommandVariant> variants;
    // [tune] (docs/byo.md, "Tuning a command"): what `greenknobs tune` needs beyond a study.
    // The metric selection reads (the command's score on a validation split; same scale and
    // direction as the primary metric, which the tune reads as test score); "" = not tunable.
    std::string tune_validation_metric;
    // How a screening run at fidelity f < 1 is asked to do less: `fidelity_arg f` appended to argv
    // and/or `fidelity_env=f` set ("" = neither: the tune screens at full fidelity only).
    std::string tune_fidelity_arg, tune_fidelity_env;
    std::string tune_latency_metric;  // the evaluation latency per batch, ms ("" = not reported)

    const CommandVariant& find(const std::string& id) const;  // InputError if unknown
    const CommandKnob& knob(const std::string& name) const;
    // What the report and the plan need, in the pipeline catalog's shape (no RunConfig).
    knobs::Catalog as_catalog() const;
    // The command spec of one run (what measure --spec reads), config_hash included.
    nlohmann::json spec(const std::string& variant, int repeat, int64_t base_seed) const;
};

// True when the TOML file's [base] holds `argv` (a command catalog, not the pipeline's).
bool is_command_catalog(const std::string& path);
// Strict: unknown keys, missing fields, unknown knobs, a phase outside the five, combinations whose
// `combines` do not cover exactly their knobs: InputError naming the file and the place.
CommandCatalog load_command_catalog(const std::string& path);
// make_plan for a command catalog: every (variant, repeat) as a PlannedRun with `command` set.
Plan make_command_plan(const PlanOptions& opt);

}  // namespace gk::study
