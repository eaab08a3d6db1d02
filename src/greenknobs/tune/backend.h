// What `greenknobs tune` searches, behind one interface: the built-in pipeline over the knob
// registry (tune.cpp) or any command over its catalog's [[knob]]s (command_tune.cpp). run_tune
// owns what both share (the settings check that makes a resume safe, the search, search.json, the
// report); a backend owns its space, how a batch of trials becomes a study, what a run.json says
// and what the picked configuration is written as. Internal to gk_tune. Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/knobs/knob.h"
#include "greenknobs/tune/search.h"
#include "greenknobs/tune/space.h"
#include "greenknobs/tune/tune.h"

namespace gk::tune {

// Thrown through the search when a batch's study was stopped by a signal.
struct Interrupted {
    int signal = 0;
};

class Backend : public Evaluator {
  public:
    // The tune's identity besides the search settings: a resume must tune the same thing.
    virtual nlohmann::json identity() const = 0;
    virtual int64_t seed() const = 0;
    virtual const Space& space() const = 0;
    // The options the search runs with (the command's, e.g., without low fidelities it cannot
    // run), the --compare trials filled in.
    virtual const SearchOptions& search() const = 0;
    // Before the first run: what DIR/tune.json keeps besides the settings, given what an earlier
    // start stored there (null when none).
    virtual nlohmann::json prepare(const nlohmann::json& stored) = 0;
    // Writes verified configuration `v` (index 0: the chosen, 1: the runner-up) as what its user
    // runs, `note` in its head; returns the path.
    virtual std::string write_config(const Verified& v, size_t index, const std::string& note) = 0;
    // How to run what write_config wrote: "greenknobs train --config PATH --out DIR".
    virtual std::string run_hint(const std::string& path) const = 0;
    virtual std::string space_source() const = 0;  // "the knob registry"
};

std::unique_ptr<Backend> pipeline_backend(const TuneOptions& opt);
std::unique_ptr<Backend> command_backend(const TuneOptions& opt);

// One batch as a study in DIR/studies/<batch>/ (its catalog written from `catalog_text`), then
// every (trial, repeat)'s outcome from the study's store: complete runs through `outcome`, the
// others with the last attempt's error. Interrupted when the study was stopped.
std::vector<std::vector<Outcome>> run_batch(
    const TuneOptions& opt, const std::string& batch, double fidelity,
    const std::string& catalog_text, const std::vector<Trial>& trials, int repeats, int64_t seed,
    const std::optional<knobs::Capabilities>& caps,
    const std::function<Outcome(const nlohmann::json&)>& outcome);

// A catalog variant named in --compare: InputError when it is the baseline or its id is one the
// tune gives its own candidates (B, M<n>, C<n>, P<n>).
void check_compare_id(const std::string& catalog_path, const std::string& id, bool baseline);

}  // namespace gk::tune
