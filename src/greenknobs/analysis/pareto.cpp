// O(n²) dominance check: studies have tens of variants, and the simple form is obviously right.
#include "greenknobs/analysis/pareto.h"

#include <algorithm>
#include <cmath>

#include "greenknobs/analysis/run_record.h"

namespace gk::analysis {

bool dominates(const ParetoPoint& a, const ParetoPoint& b, bool minimize_x, bool minimize_y) {
    const double ax = minimize_x ? a.x : -a.x;
    const double bx = minimize_x ? b.x : -b.x;
    const double ay = minimize_y ? a.y : -a.y;
    const double by = minimize_y ? b.y : -b.y;
    return ax <= bx && ay <= by && (ax < bx || ay < by);
}

std::vector<std::string> pareto_front(const std::vector<ParetoPoint>& points, bool minimize_x,
                                      bool minimize_y) {
    std::vector<ParetoPoint> finite;
    for (const auto& p : points) {
        if (std::isfinite(p.x) && std::isfinite(p.y)) {
            finite.push_back(p);
        }
    }
    std::vector<ParetoPoint> front;
    for (const auto& p : finite) {
        bool dominated = false;
        for (const auto& q : finite) {
            if (dominates(q, p, minimize_x, minimize_y)) {
                dominated = true;
                break;
            }
        }
        if (!dominated) {
            front.push_back(p);
        }
    }
    std::sort(front.begin(), front.end(), [](const ParetoPoint& a, const ParetoPoint& b) {
        if (a.x != b.x) {
            return a.x < b.x;
        }
        return variant_id_less(a.id, b.id);
    });
    std::vector<std::string> ids;
    for (const auto& p : front) {
        ids.push_back(p.id);
    }
    return ids;
}

}  // namespace gk::analysis
