// Pareto fronts with known answers, including exact ties and both axis directions.
#include "greenknobs/analysis/pareto.h"

#include <cmath>

#include <gtest/gtest.h>

namespace gk::analysis {
namespace {

using Ids = std::vector<std::string>;

TEST(Pareto, EnergyVsF1) {
    // minimise energy (x), maximise F1 (y)
    const std::vector<ParetoPoint> pts = {{"V0", 100, 0.80}, {"V1", 130, 0.81}, {"V2", 20, 0.50},
                                          {"V3", 60, 0.80},  {"V4", 60, 0.79},  {"V5", 90, 0.70},
                                          {"V6", 140, 0.80}};
    EXPECT_EQ(pareto_front(pts, true, false), (Ids{"V2", "V3", "V1"}));
}

TEST(Pareto, ExactTiesStayTogether) {
    const std::vector<ParetoPoint> pts = {{"V13", 50, 0.9}, {"V14", 50, 0.9}, {"V0", 100, 0.9}};
    EXPECT_EQ(pareto_front(pts, true, false), (Ids{"V13", "V14"}));
}

TEST(Pareto, EqualOnOneAxisIsDominatedWhenWorseOnTheOther) {
    const std::vector<ParetoPoint> pts = {{"a", 10, 5}, {"b", 10, 6}, {"c", 12, 4}};
    // minimise both
    EXPECT_EQ(pareto_front(pts, true, true), (Ids{"a", "c"}));
    EXPECT_TRUE(dominates(pts[0], pts[1], true, true));
    EXPECT_FALSE(dominates(pts[0], pts[0], true, true));
}

TEST(Pareto, NonFinitePointsAreIgnored) {
    const std::vector<ParetoPoint> pts = {{"a", NAN, 1}, {"b", 3, 1}};
    EXPECT_EQ(pareto_front(pts, true, true), (Ids{"b"}));
}

}  // namespace
}  // namespace gk::analysis
