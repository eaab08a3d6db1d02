// The tune's report: DIR/report/index.html (self-contained: CSS inline, SVG figures inlined) with
// the verdict, the verification, the search's cost and break-even, the trajectory of the cascade,
// the front, every step with its reason and the search space; figures drawn by gnuplot (the
// verification's through report::write_figures).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "greenknobs/tune/budget.h"
#include "greenknobs/tune/search.h"
#include "greenknobs/tune/space.h"

namespace gk::tune {

struct TuneReportInput {
    std::string out_dir;
    nlohmann::json settings;
    Budget budget;
    const SearchResult* result = nullptr;
    const Space* space = nullptr;
    std::string verify_study_dir;  // "" = no verification ran
    std::string run_hint;          // how to run the pick ("greenknobs train --config ...")
    std::string space_source = "the knob registry";  // where the search space came from
    bool render_figures = true;
};

// Writes DIR/report/ and returns the HTML file's path.
std::string write_tune_report(const TuneReportInput& in);

}  // namespace gk::tune
