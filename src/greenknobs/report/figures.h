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

// Label placement, exposed for tests: points in pixel space, labels as (width, height) boxes.
struct LabelBox {
    double x = 0, y = 0, w = 0, h = 0;  // top-left corner, pixels (y grows downwards)
};
struct PlacedLabel {
    LabelBox box;
    double anchor_x = 0, anchor_y = 0;  // the point it belongs to
    bool leader = false;                // drawn far from its point: connect with a thin line
};
// Places one label per point (sizes in `sizes`), avoiding earlier labels, all markers (± marker_px)
// and the area outside `bounds`. Deterministic.
std::vector<PlacedLabel> place_labels(const std::vector<std::pair<double, double>>& points_px,
                                      const std::vector<std::pair<double, double>>& sizes_px,
                                      const LabelBox& bounds, double marker_px = 6.0);
double overlap_area(const LabelBox& a, const LabelBox& b);

}  // namespace gk::report
