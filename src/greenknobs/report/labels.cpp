// Label placement (labels.h): candidate boxes on rings around each point, scored by overlap with
// placed labels, markers and the outside of the plot, and by ambiguity; crowded points go first.
#include "greenknobs/report/labels.h"

#include <algorithm>
#include <cmath>

namespace gk::report {

double overlap_area(const LabelBox& a, const LabelBox& b) {
    const double w = std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x);
    const double h = std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y);
    return (w > 0 && h > 0) ? w * h : 0.0;
}

namespace {
double box_distance(const LabelBox& b, double x, double y) {
    const double dx = std::max({b.x - x, 0.0, x - (b.x + b.w)});
    const double dy = std::max({b.y - y, 0.0, y - (b.y + b.h)});
    return std::hypot(dx, dy);
}
}  // namespace

std::vector<PlacedLabel> place_labels(const std::vector<std::pair<double, double>>& points_px,
                                      const std::vector<std::pair<double, double>>& sizes_px,
                                      const LabelBox& bounds, double marker_px) {
    std::vector<PlacedLabel> out(points_px.size());
    std::vector<LabelBox> markers;
    for (const auto& [x, y] : points_px) {
        markers.push_back({x - marker_px, y - marker_px, 2 * marker_px, 2 * marker_px});
    }
    std::vector<LabelBox> placed;
    // Place crowded points first: they have the fewest free spots.
    std::vector<size_t> order(points_px.size());
    for (size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    auto crowd = [&](size_t i) {
        int c = 0;
        for (const auto& p : points_px) {
            c += std::hypot(p.first - points_px[i].first, p.second - points_px[i].second) < 60.0;
        }
        return c;
    };
    std::vector<int> crowding(points_px.size());
    for (size_t i = 0; i < order.size(); ++i) {
        crowding[i] = crowd(i);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return crowding[a] > crowding[b]; });
    const double kPi = 3.14159265358979323846;
    for (size_t i : order) {
        const auto [w, h] = sizes_px[i];
        const auto [px, py] = points_px[i];
        out[i].anchor_x = px;
        out[i].anchor_y = py;
        if (w <= 0.0) {
            continue;  // an obstacle only
        }
        double best_score = INFINITY;
        LabelBox best{};
        double best_r = 0;
        for (double r : {9.0, 20.0, 34.0, 50.0, 70.0}) {
            for (int k = 0; k < 16; ++k) {
                const double a = 2.0 * kPi * k / 16.0;
                const double dx = r * std::cos(a);
                const double dy = r * std::sin(a);
                LabelBox b;
                b.w = w;
                b.h = h;
                // Anchor the box's near side to the offset point.
                b.x = dx > 1e-9 ? px + dx : (dx < -1e-9 ? px + dx - w : px - w / 2);
                if (std::fabs(dy) < 1e-9 || std::fabs(dx) > 1e-9) {
                    b.y = py + dy - h / 2;  // beside the point (or diagonal): centred on the offset
                } else {
                    b.y = dy > 0 ? py + dy : py + dy - h;  // straight below / above
                }
                double score =
                    r * 0.6 + (k % 2) * 0.5;  // nearer first; prefer the 8 main directions
                for (const auto& o : placed) {
                    score += 10.0 * overlap_area(b, o);
                }
                for (size_t m = 0; m < markers.size(); ++m) {
                    score += 6.0 * overlap_area(b, markers[m]);
                }
                // Ambiguity: a label nearer to another marker than to its own reads as that
                // marker's.
                const double own = box_distance(b, px, py);
                for (size_t m = 0; m < points_px.size(); ++m) {
                    if (m != i &&
                        box_distance(b, points_px[m].first, points_px[m].second) < own + 3.0) {
                        score += 400.0;
                    }
                }
                const double inside = overlap_area(b, bounds);
                score += 20.0 * (b.w * b.h - inside);
                if (score < best_score) {
                    best_score = score;
                    best = b;
                    best_r = r;
                }
            }
        }
        out[i].box = best;
        out[i].leader = best_r > 25.0;
        placed.push_back(best);
    }
    return out;
}

}  // namespace gk::report
