// The knob registry: every optimisation of the paper as a named, typed change to a RunConfig. A
// knob knows its phase, the resource it targets, its parameters (types, defaults, ranges), what it
// cannot combine with, and whether this machine can run it. Applying a knob changes only the
// RunConfig fields it names. Torch-free.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"

namespace gk::knobs {

enum class Phase { kData, kModel, kTraining, kSystem, kInference };
std::string to_string(Phase);

struct ParamSpec {
    std::string name;
    std::string type;  // int | float | bool | string | list (of strings)
    nlohmann::json default_value;
    double min = 0, max = 0;           // inclusive range for int/float; ignored when min == max
    std::vector<std::string> choices;  // allowed values (ints as strings); empty = any
    std::string config_key;            // the config::RunConfig field it sets ("train.precision")
    std::string help;
    // The field acts only on a CUDA device (pinned host memory): elsewhere a setting that differs
    // from another only here runs the same thing (the tune's space counts them as one).
    bool cuda_only = false;
};

// Where a config_key ("train.precision") stands in config::to_json's output (/train/precision).
nlohmann::json::json_pointer config_pointer(const std::string& config_key);

// What this machine and build can do; filled by detect_capabilities() (capabilities.h) or by the
// CLI.
struct Capabilities {
    bool cuda = false;
    bool gpu_power_limit = false;    // NVML can set the GPU power limit here
    bool cpu_power_limit = false;    // a RAPL powercap constraint is writable here
    std::string power_limit_reason;  // why neither works (empty when one does)
    std::string device = "cpu";
};

struct Support {
    bool ok = true;
    std::string reason;  // why not, when !ok
};

// Applies a knob's fully defaulted and checked parameters (always a JSON object) to a config.
using ApplyFn = std::function<void(config::RunConfig&, const nlohmann::json& params,
                                   const std::string& origin)>;

// One knob, written in the registry (knob.cpp) as one block of named fields.
struct Knob {
    std::string name;
    Phase phase = Phase::kData;
    std::string targets;  // compute | memory traffic | precision | I/O | idle power
    std::string summary;
    std::vector<ParamSpec> params;
    // What this knob cannot be combined with: "knob" (any use of it) or "knob.param=value" (that
    // setting, enforced as a rule over the resulting fields, so it also holds for values a base
    // config set).
    std::vector<std::string> conflicts;
    // Whether the config's use of this knob can run here (ok when the config does not use it).
    // Unset: the knob runs everywhere.
    std::function<Support(const config::RunConfig&, const Capabilities&)> supported =
        [](const config::RunConfig&, const Capabilities&) { return Support{}; };
    std::string notes;
    ApplyFn apply;  // sets the fields; called by apply_knob after the parameters are checked
};

// All knobs in application order (resolve() applies a variant's knobs in this order).
const std::vector<Knob>& registry();
// InputError if unknown (the message lists the known ones).
const Knob& find_knob(const std::string& name);

// params: a JSON object {param: value}, or a scalar that sets the knob's primary (first) parameter,
// the only one for single-parameter knobs (null = all defaults). Validates types, ranges, choices
// and conflicts with knobs already applied (c.knobs); appends the knob name to c.knobs. Errors are
// InputErrors naming `origin`, the knob and the parameter.
void apply_knob(config::RunConfig& c, const std::string& knob, const nlohmann::json& params,
                const std::string& origin);

// The knob's parameters with defaults filled in and every value checked (type, range, choices): an
// object. `params` as for apply_knob. Two applications with equal normalized params set the same
// fields.
nlohmann::json normalized_params(const std::string& knob, const nlohmann::json& params,
                                 const std::string& origin);

// The knobs whose settings in `c` cannot run with `caps`, each with the reason.
std::vector<std::pair<std::string, Support>> unsupported_knobs(const config::RunConfig& c,
                                                               const Capabilities& caps);

// The knobs named in c.knobs with the parameter values the config now holds (read back from each
// parameter's config_key): [{"name": "lora", "params": {"r": 8, ...}}], for run records.
nlohmann::json knob_settings(const config::RunConfig& c);

// "r=8 [1..1024]", "precision=bf16 {fp32|bf16|fp16|half}": one parameter for tables.
std::string describe_param(const ParamSpec& p);
// "lora(r=8, alpha=16)" / "precision=bf16": a knob application for tables.
std::string describe_application(const std::string& knob, const nlohmann::json& params);

}  // namespace gk::knobs
