// What `greenknobs knobs` and `greenknobs variants` print: the registry and a catalog as text
// tables (with what runs here and why not) or as JSON for other programs. Kept out of the CLI so it
// is testable.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/knobs/knob.h"

namespace gk::knobs {

// Whether a knob can run here, checked for its default parameters and for each choice of its
// parameters
// ("yes", "yes, except precision=fp16: ...", "no: ...").
Support knob_support_here(const Knob& k, const Capabilities& caps, std::string* summary);

std::string knobs_table(const Capabilities& caps);
nlohmann::json knobs_json(const Capabilities& caps);

std::string variants_table(const Catalog& cat, const Capabilities& caps);
nlohmann::json variants_json(const Catalog& cat, const Capabilities& caps);

// A plain-text table: cells wrap at their column's width (0 = no wrap); '\n' in a cell starts a new
// line.
std::string render_table(const std::vector<std::string>& headers, const std::vector<size_t>& widths,
                         const std::vector<std::vector<std::string>>& rows);

}  // namespace gk::knobs
