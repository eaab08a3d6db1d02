// The search space, read from the knob registry: for every knob this machine can run, a few
// settings ("levels"): its defaults, each other switch once (a bool flipped, another choice of a
// string: prune_layers' from = bottom), and values of its primary parameter around its default
// and the base's current value, in that order (--levels keeps the first),
// each checked by applying it to the base (range, conflicts, requirements). A knob that needs
// another (quantization needs lora) becomes a bundle with that knob's defaults; a setting that
// changes nothing (same config hash as the base or as an earlier level) is dropped; a control knob
// (targets "control": init) is searched only when named. Torch-free.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"
#include "greenknobs/knobs/knob.h"

namespace gk::tune {

struct Move {
    std::string id;        // "M03": the order it was generated in
    std::string knob;      // the knob it is a level of
    nlohmann::json knobs;  // {knob: params} (plus a prerequisite knob for a bundle)
    std::string label;     // "max_length=256", "lora + quantization(bits=4)"
    std::string detail;    // what it changes, in words, where the label does not say ("" = it does)
};

struct Excluded {
    std::string knob;
    std::string why;
};

struct Space {
    std::vector<Move> moves;  // registry order, then level order
    std::vector<Excluded> excluded;
};

struct SpaceOptions {
    std::vector<std::string> knobs;  // only these knobs (empty = every knob of the registry)
    int max_levels = 4;              // settings per knob at most
};

Space build_space(const config::RunConfig& base, const knobs::Capabilities& caps,
                  const SpaceOptions& opt);

// base + the knobs {knob: params} in registry order (knobs::resolve), named `name`. InputError
// (naming `origin`) when they conflict or a value is out of range.
config::RunConfig apply_knobs(const config::RunConfig& base, const nlohmann::json& knob_set,
                              const std::string& name, const std::string& origin);

// a's knobs with b's laid over them (b's parameters win for a knob both set).
nlohmann::json merge_knobs(const nlohmann::json& a, const nlohmann::json& b);

// "lora(r=8) + precision=bf16", registry order; "baseline" for none.
std::string describe_knobs(const nlohmann::json& knob_set);

}  // namespace gk::tune
