// Budget parsing (every key, bad input named) and the check of measured values against it.
#include "greenknobs/tune/budget.h"

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::tune {

TEST(Budget, ParsesEveryKey) {
    Budget b = parse_budget("f1_drop=1.5,eval_latency_ms=40,time=-20");
    EXPECT_DOUBLE_EQ(b.f1_drop_points, 1.5);
    EXPECT_DOUBLE_EQ(b.eval_latency_ms, 40);
    EXPECT_DOUBLE_EQ(b.time_pct, -20);
    Budget only = parse_budget("f1_drop=1");
    EXPECT_TRUE(std::isnan(only.eval_latency_ms));
    EXPECT_TRUE(std::isnan(only.time_pct));
}

TEST(Budget, RejectsBadInputNamingThePart) {
    EXPECT_THROW(parse_budget("eval_latency_ms=40"), InputError);  // f1_drop is required
    try {
        parse_budget("f1_drop=1,speed=3");
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("speed"), std::string::npos);
    }
    EXPECT_THROW(parse_budget("f1_drop=abc"), InputError);
    EXPECT_THROW(parse_budget("f1_drop=-1"), InputError);
    EXPECT_THROW(parse_budget("f1_drop"), InputError);
    EXPECT_THROW(parse_budget("f1_drop=1,time=-100"), InputError);
}

TEST(Budget, ViolationsNameEachBrokenLimit) {
    Budget b = parse_budget("f1_drop=1,eval_latency_ms=10,time=0");
    EXPECT_TRUE(budget_violations(b, Measured{0.5, 9, -5}).empty());
    EXPECT_TRUE(budget_violations(b, Measured{1.0, 10, 0}).empty());  // limits are inclusive
    auto v = budget_violations(b, Measured{1.2, 11, 3});
    ASSERT_EQ(v.size(), 3u);
    EXPECT_NE(v[0].find("F1 drop"), std::string::npos);
    EXPECT_NE(v[1].find("latency"), std::string::npos);
    EXPECT_NE(v[2].find("time"), std::string::npos);
    // Unknown is not within budget.
    EXPECT_EQ(budget_violations(b, Measured{NAN, 5, 0}).size(), 1u);
    // Unlimited quantities are never checked.
    EXPECT_TRUE(budget_violations(parse_budget("f1_drop=1"), Measured{0, NAN, NAN}).empty());
}

}  // namespace gk::tune
