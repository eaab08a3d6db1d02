// Placing text labels beside scatter points so that they overlap neither each other nor any marker,
// stay inside the plot, and sit nearer their own point than any other (else with a leader line).
// Pure geometry in pixel space; figures.cpp maps data coordinates to pixels exactly.
#pragma once

#include <utility>
#include <vector>

namespace gk::report {

// Points in pixel space, labels as (width, height) boxes.
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
