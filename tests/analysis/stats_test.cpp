// Statistics against known answers: t quantiles (tables), the incomplete beta's closed forms, R's
// t.test on the `sleep` data (Welch, paired and one-sample), and the bootstraps' seeding and n = 1
// handling.
#include "greenknobs/analysis/stats.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

namespace gk::analysis {
namespace {

const std::vector<double> kSleep1 = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
const std::vector<double> kSleep2 = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};

TEST(IncompleteBeta, ClosedForms) {
    EXPECT_NEAR(regularized_incomplete_beta(1.0, 1.0, 0.3), 0.3, 1e-14);
    EXPECT_NEAR(regularized_incomplete_beta(3.0, 1.0, 0.4), std::pow(0.4, 3), 1e-14);
    EXPECT_NEAR(regularized_incomplete_beta(2.5, 2.5, 0.5), 0.5, 1e-14);
    EXPECT_NEAR(regularized_incomplete_beta(1.0, 4.0, 0.2), 1.0 - std::pow(0.8, 4), 1e-14);
    EXPECT_EQ(regularized_incomplete_beta(2.0, 3.0, 0.0), 0.0);
    EXPECT_EQ(regularized_incomplete_beta(2.0, 3.0, 1.0), 1.0);
}

TEST(StudentT, QuantilesMatchTables) {
    EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302652730, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776445105, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228138852, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042272456, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.95, 5), 2.015048373, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.995, 3), 5.840909310, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.975, 1e7), 1.959964, 1e-5);  // → normal
    EXPECT_NEAR(student_t_quantile(0.025, 10), -2.228138852, 1e-8);
    EXPECT_NEAR(student_t_quantile(0.5, 7), 0.0, 1e-12);
}

TEST(StudentT, CdfIsSymmetricAndInvertsTheQuantile) {
    EXPECT_NEAR(student_t_cdf(0.0, 3.0), 0.5, 1e-15);
    EXPECT_NEAR(student_t_cdf(1.3, 4.5) + student_t_cdf(-1.3, 4.5), 1.0, 1e-14);
    EXPECT_NEAR(student_t_cdf(student_t_quantile(0.9, 17.776), 17.776), 0.9, 1e-12);
    // df = 1 is the Cauchy distribution: F(1) = 3/4.
    EXPECT_NEAR(student_t_cdf(1.0, 1.0), 0.75, 1e-14);
}

TEST(Summary, OneSampleCiMatchesR) {
    // R: t.test(sleep$extra[1:10]) → mean 0.75, 95 % CI -0.5297804 2.0297804
    const Summary s = summarize(kSleep1);
    EXPECT_EQ(s.n, 10);
    EXPECT_NEAR(s.mean, 0.75, 1e-12);
    EXPECT_NEAR(s.sd, 1.789010, 1e-6);
    ASSERT_TRUE(s.ci.valid);
    EXPECT_NEAR(s.ci.low, -0.5297804, 1e-6);
    EXPECT_NEAR(s.ci.high, 2.0297804, 1e-6);
}

TEST(Summary, SingleRunHasNoInterval) {
    const Summary s = summarize({42.0});
    EXPECT_EQ(s.n, 1);
    EXPECT_EQ(s.mean, 42.0);
    EXPECT_FALSE(s.ci.valid);
    EXPECT_EQ(s.ci.why_invalid, "n = 1");
    EXPECT_TRUE(std::isnan(sample_sd({42.0})));
}

TEST(Welch, SleepDataMatchesR) {
    // R: t.test(extra ~ group, data = sleep) → t = -1.8608, df = 17.776, p-value = 0.07939,
    // 95 % CI -3.3654832 0.2054832
    const WelchResult w = welch_t_test(kSleep1, kSleep2);
    ASSERT_TRUE(w.valid);
    EXPECT_NEAR(w.diff, -1.58, 1e-12);
    EXPECT_NEAR(w.t, -1.860813, 1e-5);
    EXPECT_NEAR(w.df, 17.77647, 1e-4);
    EXPECT_NEAR(w.p, 0.07939414, 1e-6);
    EXPECT_NEAR(w.diff_ci.low, -3.3654832, 1e-6);
    EXPECT_NEAR(w.diff_ci.high, 0.2054832, 1e-6);
    EXPECT_EQ(w.method, kWelch);
    EXPECT_EQ(significance_verdict(w), "not significant (Welch, p = 0.079)");
    EXPECT_TRUE(w.diff_ci.spans_zero());
}

TEST(Welch, ClearDifferenceIsSignificant) {
    const WelchResult w = welch_t_test({10.0, 10.2, 9.9}, {5.0, 5.1, 4.8});
    ASSERT_TRUE(w.valid);
    EXPECT_LT(w.p, 0.001);
    EXPECT_EQ(significance_verdict(w), "significant (Welch, p < 0.001)");
    EXPECT_FALSE(w.diff_ci.spans_zero());
}

TEST(Welch, SmallOrFlatSamplesAreNotTested) {
    const WelchResult one = welch_t_test({1.0}, {1.0, 2.0});
    EXPECT_FALSE(one.valid);
    EXPECT_EQ(significance_verdict(one), "not tested (Welch, n = 1)");
    const WelchResult flat = welch_t_test({1.0, 1.0}, {1.0, 1.0});
    EXPECT_FALSE(flat.valid);
    EXPECT_FALSE(flat.diff_ci.valid);
}

TEST(PairedT, SleepDataMatchesR) {
    // R: t.test(sleep$extra[1:10], sleep$extra[11:20], paired = TRUE) → t = -4.0621, df = 9,
    // p-value = 0.002833, 95 % CI -2.4598858 -0.7001142, mean difference -1.58. The same
    // numbers Welch calls not significant (p = 0.079, above): each subject is its own control.
    const TTestResult p = paired_t_test(kSleep1, kSleep2);
    ASSERT_TRUE(p.valid);
    EXPECT_EQ(p.method, kPairedT);
    EXPECT_EQ(p.n_pairs, 10);
    EXPECT_NEAR(p.diff, -1.58, 1e-12);
    EXPECT_NEAR(p.t, -4.062128, 1e-5);
    EXPECT_EQ(p.df, 9.0);
    EXPECT_NEAR(p.p, 0.002833, 5e-7);
    EXPECT_NEAR(p.diff_ci.low, -2.4598858, 1e-6);
    EXPECT_NEAR(p.diff_ci.high, -0.7001142, 1e-6);
    EXPECT_EQ(significance_verdict(p), "significant (paired t, p = 0.003)");
    // The differences directly (one-sample t against 0) give the same test.
    std::vector<double> d;
    for (size_t i = 0; i < kSleep1.size(); ++i) {
        d.push_back(kSleep1[i] - kSleep2[i]);
    }
    const TTestResult q = paired_t_test(d);
    EXPECT_NEAR(q.t, p.t, 1e-12);
    EXPECT_NEAR(q.diff_ci.low, p.diff_ci.low, 1e-12);
}

TEST(PairedT, ConstantDifferencesAndSinglePairsAreNotTested) {
    // Every pair differs by exactly 5: no spread, so no t statistic (R: "data are essentially
    // constant"), even though the values themselves vary.
    const TTestResult flat = paired_t_test({105.0, 210.0, 307.0}, {100.0, 205.0, 302.0});
    EXPECT_FALSE(flat.valid);
    EXPECT_FALSE(flat.diff_ci.valid);
    EXPECT_NEAR(flat.diff, 5.0, 1e-12);
    EXPECT_EQ(significance_verdict(flat),
              "not tested (paired t, the paired differences are constant)");
    // Rounding residue of values ~1e6 apart from identical is not spread either.
    const TTestResult same = paired_t_test({1e6 + 0.1, 2e6 + 0.1}, {1e6, 2e6});
    EXPECT_FALSE(same.valid);
    const TTestResult one = paired_t_test(std::vector<double>{1.0}, std::vector<double>{2.0});
    EXPECT_FALSE(one.valid);
    EXPECT_EQ(one.why_invalid, "n = 1");
    EXPECT_ANY_THROW(paired_t_test(std::vector<double>{1.0, 2.0}, std::vector<double>{1.0}));
}

TEST(Bootstrap, MeanOfPairedDifferencesIsSeededAndWithinTheData) {
    std::vector<double> d;
    for (size_t i = 0; i < kSleep1.size(); ++i) {
        d.push_back(kSleep1[i] - kSleep2[i]);
    }
    const Interval a = bootstrap_mean_ci(d, 11);
    const Interval b = bootstrap_mean_ci(d, 11);
    ASSERT_TRUE(a.valid);
    EXPECT_EQ(a.low, b.low);
    EXPECT_EQ(a.high, b.high);
    EXPECT_LT(a.low, -1.58);
    EXPECT_GT(a.high, -1.58);
    EXPECT_LT(a.high, 0.0);  // significant both ways on this data
    // A percentile bootstrap never leaves the range of possible resample means.
    EXPECT_GE(a.low, *std::min_element(d.begin(), d.end()));
    EXPECT_LE(a.high, *std::max_element(d.begin(), d.end()));
    EXPECT_FALSE(bootstrap_mean_ci({1.0}, 1).valid);
}

TEST(Bootstrap, SeededAndSensible) {
    const std::vector<std::vector<double>> groups = {{10.0, 11.0, 9.0, 10.5}, {5.0, 5.5, 4.5, 5.2}};
    auto ratio = [](const std::vector<double>& m) { return m[1] / m[0]; };
    const Interval a = bootstrap_means_ci(groups, ratio, 7);
    const Interval b = bootstrap_means_ci(groups, ratio, 7);
    ASSERT_TRUE(a.valid);
    EXPECT_EQ(a.low, b.low);
    EXPECT_EQ(a.high, b.high);
    const double point = (5.05) / (10.125);
    EXPECT_LT(a.low, point);
    EXPECT_GT(a.high, point);
    EXPECT_GT(a.low, 0.4);  // the resampled means stay within the data's range
    EXPECT_LT(a.high, 0.6);
}

TEST(Bootstrap, SingleRunGroupsGiveNoInterval) {
    const Interval i = bootstrap_means_ci(
        {{1.0, 2.0}, {3.0}}, [](const std::vector<double>& m) { return m[0]; }, 1);
    EXPECT_FALSE(i.valid);
    EXPECT_EQ(i.why_invalid, "n = 1");
}

}  // namespace
}  // namespace gk::analysis
