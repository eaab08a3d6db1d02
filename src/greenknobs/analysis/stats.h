// Small-sample statistics for studies with a handful of repeats: mean, sample sd, Student-t
// confidence intervals, the paired t-test (repeat r of every variant shares seed and data order),
// Welch's t-test (when pairing is impossible) and seeded percentile bootstraps. No dependencies;
// quantiles computed here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gk::analysis {

// Regularized incomplete beta I_x(a, b) (continued fraction; |error| < 1e-14 for a, b in our
// range).
double regularized_incomplete_beta(double a, double b, double x);
// Student's t distribution with `df` degrees of freedom (df > 0, not necessarily an integer).
double student_t_cdf(double t, double df);
// The p-quantile, 0 < p < 1 (bisection on the cdf to ~1e-12).
double student_t_quantile(double p, double df);

// Paired repeats after which the 95 % t interval's upper end, mean + t(0.975, n − 1) · sd / √n, is
// at most `bound` if the mean and sd stay as measured over n0 pairs: the smallest n >= max(n0, 2);
// 0 when n0 < 2, sd is not a number or the mean is not below `bound` (no number of repeats makes
// it hold); cap + 1 when more than `cap` would be needed.
int repeats_to_bound(double mean, double sd, int n0, double bound, int cap = 1000);

double mean(const std::vector<double>& xs);
// Sample standard deviation (n − 1); NaN when n < 2.
double sample_sd(const std::vector<double>& xs);

// An interval that may not exist (n = 1, or no spread to resample): `valid` false means "n/a",
// never ±0.
struct Interval {
    bool valid = false;
    double low = 0.0;
    double high = 0.0;
    std::string why_invalid;  // e.g. "n = 1"
    double half_width() const { return (high - low) / 2.0; }
    bool spans_zero() const { return valid && low <= 0.0 && high >= 0.0; }
};

// Mean, sd and the Student-t CI of the mean.
struct Summary {
    int n = 0;
    double mean = 0.0;
    double sd = 0.0;  // meaningful only when n >= 2
    Interval ci;      // level given to summarize()
};
Summary summarize(const std::vector<double>& xs, double level = 0.95);

// A two-sided t-test of a difference and its CI: Welch's (two independent samples) or the paired
// one (the differences of matched pairs against 0). `method` names which one produced the numbers.
inline constexpr const char* kPairedT = "paired t";
inline constexpr const char* kWelch = "Welch";
struct TTestResult {
    bool valid = false;
    std::string why_invalid;
    std::string method;  // kPairedT | kWelch
    int n_pairs = 0;     // paired: the number of pairs; Welch: 0
    double diff = 0.0;   // Welch: mean(a) − mean(b); paired: mean of the differences
    double t = 0.0;
    double df = 0.0;
    double p = 1.0;
    Interval diff_ci;
};
using WelchResult = TTestResult;

// Welch's unequal-variance t-test of mean(a) − mean(b): t, Welch–Satterthwaite df, two-sided p, and
// the CI of the difference. Invalid (with why) when a group has n < 2 or both have zero spread.
TTestResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b,
                         double level = 0.95);

// The paired t-test of mean(d), d_i = a_i − b_i (a and b the same length; pair i matched, e.g. the
// same repeat): R's t.test(a, b, paired = TRUE). Invalid when n < 2 or the differences are constant
// (no spread: the t statistic does not exist).
TTestResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b,
                          double level = 0.95);
// The same test on given differences (one-sample t against 0).
TTestResult paired_t_test(const std::vector<double>& diffs, double level = 0.95);

// Seeded percentile bootstrap of the mean of `xs`: each replicate resamples the values (for paired
// data: the pairs) with replacement. Invalid when n < 2. With a handful of pairs it can only take a
// few distinct values and is narrower than the t interval; reports show it beside the t interval.
Interval bootstrap_mean_ci(const std::vector<double>& xs, uint64_t seed, int replicates = 4000,
                           double level = 0.95);

// Percentile bootstrap of a statistic of group means: each replicate resamples every group (with
// replacement, within the group) and calls stat(means). Seeded, so reports are reproducible.
// Invalid when any group has fewer than 2 values (a resample of one value carries no spread).
Interval bootstrap_means_ci(const std::vector<std::vector<double>>& groups,
                            const std::function<double(const std::vector<double>&)>& stat,
                            uint64_t seed, int replicates = 4000, double level = 0.95);

// "p = 0.012" / "p < 0.001" / "p n/a (n = 1)"; and the plain verdict used everywhere in reports.
// "significant (paired t, p = 0.003)" names the test when `method` is set.
std::string format_p(const TTestResult& w);
std::string significance_verdict(const TTestResult& w, double alpha = 0.05);

}  // namespace gk::analysis
