// Figures drawn by gnuplot (a real plotting tool, run as a child process without a shell): for each
// figure a data file and a script are written, then rendered to SVG (inlined in the HTML) and PNG.
// Labels are placed here, greedily, against the other labels and the markers, so 31 variants stay
// readable.
#pragma once

#include <string>
#include <vector>

#include "greenknobs/analysis/aggregate.h"

namespace gk::report {

struct FigureFile {
    std::string name;    // "fig2_eval_tradeoff"
    std::string title;   // a caption for the HTML
    std::string script;  // paths inside the figures directory
    std::string data;
    std::string svg;
    std::string png;
    bool rendered = false;
};

struct FigureSet {
    std::vector<FigureFile> figures;
    bool gnuplot_found = false;
    std::string skipped_why;          // set when nothing was rendered
    std::vector<std::string> errors;  // gnuplot's stderr for a figure that failed
};

struct FigureOptions {
    std::string gnuplot = "gnuplot";  // a name looked up in PATH, or a path
    bool render = true;               // false: write data and scripts only
    // The stacked stages of the stage-energy figure: a command study's own (top level, as
    // reported); empty = the pipeline's, with validation shown apart inside train.
    std::vector<std::string> stages;
};

// Writes every figure's data and script into `dir` and renders them when gnuplot is available.
// Never throws for a missing or failing gnuplot: the result says what happened.
FigureSet write_figures(const analysis::StudyAggregate& study, const std::string& dir,
                        const FigureOptions& opt = {});

}  // namespace gk::report
