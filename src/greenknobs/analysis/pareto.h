// Pareto fronts over variant means with strict dominance: a point is dropped only when another is
// at least as good on both axes and strictly better on one, so exact ties stay on the front
// together.
#pragma once

#include <string>
#include <vector>

namespace gk::analysis {

struct ParetoPoint {
    std::string id;
    double x = 0.0;
    double y = 0.0;
};

// True when a dominates b. minimize_x / minimize_y choose each axis's direction.
bool dominates(const ParetoPoint& a, const ParetoPoint& b, bool minimize_x, bool minimize_y);

// The non-dominated ids, sorted by x ascending (ties by id). Points with a non-finite coordinate
// are ignored.
std::vector<std::string> pareto_front(const std::vector<ParetoPoint>& points, bool minimize_x,
                                      bool minimize_y);

}  // namespace gk::analysis
