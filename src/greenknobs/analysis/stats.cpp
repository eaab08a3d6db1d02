// Student-t via the regularized incomplete beta function (modified Lentz continued fraction), so
// the quantiles for df = 1..30 and fractional Welch df come from one routine rather than a lookup
// table.
#include "greenknobs/analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "greenknobs/util/error.h"

namespace gk::analysis {

namespace {

// Continued fraction for I_x(a, b); converges fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
    const double kTiny = 1e-300;
    const double kEps = 1e-15;
    double c = 1.0;
    double d = 1.0 - (a + b) * x / (a + 1.0);
    if (std::fabs(d) < kTiny) {
        d = kTiny;
    }
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 1000; ++m) {
        const double m2 = 2.0 * m;
        // Even step.
        double num = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
        d = 1.0 + num * d;
        d = std::fabs(d) < kTiny ? kTiny : d;
        c = 1.0 + num / c;
        c = std::fabs(c) < kTiny ? kTiny : c;
        d = 1.0 / d;
        h *= d * c;
        // Odd step.
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
        d = 1.0 + num * d;
        d = std::fabs(d) < kTiny ? kTiny : d;
        c = 1.0 + num / c;
        c = std::fabs(c) < kTiny ? kTiny : c;
        d = 1.0 / d;
        const double step = d * c;
        h *= step;
        if (std::fabs(step - 1.0) < kEps) {
            break;
        }
    }
    return h;
}

double quantile_sorted(const std::vector<double>& sorted, double q) {
    // Linear interpolation between order statistics (type 7, R's default).
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
    GK_CHECK(a > 0.0 && b > 0.0, "incomplete beta needs a, b > 0");
    if (x <= 0.0) {
        return 0.0;
    }
    if (x >= 1.0) {
        return 1.0;
    }
    const double log_front =
        std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0)) {
        return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
    }
    // Symmetry I_x(a, b) = 1 − I_{1−x}(b, a) keeps the fraction in its fast-converging region.
    return 1.0 - std::exp(log_front) * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double df) {
    GK_CHECK(df > 0.0, "t distribution needs df > 0");
    const double x = df / (df + t * t);
    const double tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, x);  // P(T > |t|)
    return t >= 0.0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
    GK_CHECK(p > 0.0 && p < 1.0, "t quantile needs 0 < p < 1");
    if (p < 0.5) {
        return -student_t_quantile(1.0 - p, df);
    }
    double lo = 0.0;
    double hi = 2.0;
    while (student_t_cdf(hi, df) < p) {
        lo = hi;
        hi *= 2.0;
    }
    for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, hi); ++i) {
        const double mid = 0.5 * (lo + hi);
        if (student_t_cdf(mid, df) < p) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return 0.5 * (lo + hi);
}

double mean(const std::vector<double>& xs) {
    GK_CHECK(!xs.empty(), "mean of an empty sample");
    double sum = 0.0;
    for (double x : xs) {
        sum += x;
    }
    return sum / static_cast<double>(xs.size());
}

double sample_sd(const std::vector<double>& xs) {
    if (xs.size() < 2) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    const double m = mean(xs);
    double ss = 0.0;
    for (double x : xs) {
        ss += (x - m) * (x - m);
    }
    return std::sqrt(ss / static_cast<double>(xs.size() - 1));
}

int repeats_to_bound(double mean, double sd, int n0, double bound, int cap) {
    if (n0 < 2 || !(sd >= 0) || !std::isfinite(bound) || !(mean < bound)) {
        return 0;
    }
    for (int n = std::max(n0, 2); n <= cap; ++n) {
        const double t = student_t_quantile(0.975, n - 1);
        if (mean + t * sd / std::sqrt(static_cast<double>(n)) <= bound) {
            return n;
        }
    }
    return cap + 1;
}

Summary summarize(const std::vector<double>& xs, double level) {
    Summary s;
    s.n = static_cast<int>(xs.size());
    if (xs.empty()) {
        s.ci.why_invalid = "no runs";
        return s;
    }
    s.mean = mean(xs);
    if (s.n < 2) {
        s.ci.why_invalid = "n = 1";
        return s;
    }
    s.sd = sample_sd(xs);
    const double half = student_t_quantile(0.5 + level / 2.0, s.n - 1.0) * s.sd /
                        std::sqrt(static_cast<double>(s.n));
    s.ci.valid = true;
    s.ci.low = s.mean - half;
    s.ci.high = s.mean + half;
    return s;
}

TTestResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b, double level) {
    TTestResult w;
    w.method = kWelch;
    if (a.empty() || b.empty()) {
        w.why_invalid = "no runs";
        return w;
    }
    w.diff = mean(a) - mean(b);
    if (a.size() < 2 || b.size() < 2) {
        w.why_invalid = "n = 1";
        w.diff_ci.why_invalid = w.why_invalid;
        return w;
    }
    const double na = static_cast<double>(a.size());
    const double nb = static_cast<double>(b.size());
    const double sa = sample_sd(a);
    const double sb = sample_sd(b);
    const double va = sa * sa / na;
    const double vb = sb * sb / nb;
    // Identical values leave rounding residue in the sd (~1e-17 relative): treat that as no spread.
    const double scale = std::max({std::fabs(mean(a)), std::fabs(mean(b)), 1e-300});
    if (std::sqrt(va + vb) <= 1e-12 * scale) {
        w.why_invalid = "no spread in either group";
        w.diff_ci.why_invalid = w.why_invalid;
        return w;
    }
    const double se = std::sqrt(va + vb);
    w.t = w.diff / se;
    w.df = (va + vb) * (va + vb) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    w.p = regularized_incomplete_beta(w.df / 2.0, 0.5, w.df / (w.df + w.t * w.t));
    const double half = student_t_quantile(0.5 + level / 2.0, w.df) * se;
    w.diff_ci.valid = true;
    w.diff_ci.low = w.diff - half;
    w.diff_ci.high = w.diff + half;
    w.valid = true;
    return w;
}

Interval bootstrap_means_ci(const std::vector<std::vector<double>>& groups,
                            const std::function<double(const std::vector<double>&)>& stat,
                            uint64_t seed, int replicates, double level) {
    Interval out;
    for (const auto& g : groups) {
        if (g.size() < 2) {
            out.why_invalid = g.empty() ? "no runs" : "n = 1";
            return out;
        }
    }
    std::mt19937_64 rng(seed);
    std::vector<double> stats;
    stats.reserve(static_cast<size_t>(replicates));
    std::vector<double> means(groups.size());
    for (int r = 0; r < replicates; ++r) {
        for (size_t gi = 0; gi < groups.size(); ++gi) {
            const auto& g = groups[gi];
            double sum = 0.0;
            for (size_t k = 0; k < g.size(); ++k) {
                sum += g[rng() % g.size()];  // modulo bias is ~n/2^64: irrelevant here
            }
            means[gi] = sum / static_cast<double>(g.size());
        }
        const double v = stat(means);
        if (std::isfinite(v)) {
            stats.push_back(v);
        }
    }
    if (stats.size() < static_cast<size_t>(replicates) / 2) {
        out.why_invalid = "statistic undefined in most resamples";
        return out;
    }
    std::sort(stats.begin(), stats.end());
    out.valid = true;
    out.low = quantile_sorted(stats, (1.0 - level) / 2.0);
    out.high = quantile_sorted(stats, 1.0 - (1.0 - level) / 2.0);
    return out;
}

TTestResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b,
                          double level) {
    GK_CHECK(a.size() == b.size(), "paired t-test needs as many values on both sides");
    std::vector<double> d(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
        d[i] = a[i] - b[i];
    }
    TTestResult w = paired_t_test(d, level);
    // Scale the "constant differences" check by the data, not by the (possibly ~0) differences.
    if (w.valid) {
        double scale = 0.0;
        for (size_t i = 0; i < a.size(); ++i) {
            scale = std::max({scale, std::fabs(a[i]), std::fabs(b[i])});
        }
        if (sample_sd(d) <= 1e-12 * scale) {
            TTestResult flat;
            flat.method = kPairedT;
            flat.n_pairs = w.n_pairs;
            flat.diff = w.diff;
            flat.why_invalid = "the paired differences are constant";
            flat.diff_ci.why_invalid = flat.why_invalid;
            return flat;
        }
    }
    return w;
}

TTestResult paired_t_test(const std::vector<double>& diffs, double level) {
    TTestResult w;
    w.method = kPairedT;
    w.n_pairs = static_cast<int>(diffs.size());
    if (diffs.empty()) {
        w.why_invalid = "no pairs";
        w.diff_ci.why_invalid = w.why_invalid;
        return w;
    }
    w.diff = mean(diffs);
    if (diffs.size() < 2) {
        w.why_invalid = "n = 1";
        w.diff_ci.why_invalid = w.why_invalid;
        return w;
    }
    const double n = static_cast<double>(diffs.size());
    const double sd = sample_sd(diffs);
    // Identical differences leave rounding residue in the sd: treat that as no spread, as R's
    // t.test does ("data are essentially constant").
    if (!(sd > 1e-12 * std::max(std::fabs(w.diff), 1e-300))) {
        w.why_invalid = "the paired differences are constant";
        w.diff_ci.why_invalid = w.why_invalid;
        return w;
    }
    const double se = sd / std::sqrt(n);
    w.df = n - 1.0;
    w.t = w.diff / se;
    w.p = regularized_incomplete_beta(w.df / 2.0, 0.5, w.df / (w.df + w.t * w.t));
    const double half = student_t_quantile(0.5 + level / 2.0, w.df) * se;
    w.diff_ci.valid = true;
    w.diff_ci.low = w.diff - half;
    w.diff_ci.high = w.diff + half;
    w.valid = true;
    return w;
}

Interval bootstrap_mean_ci(const std::vector<double>& xs, uint64_t seed, int replicates,
                           double level) {
    return bootstrap_means_ci(
        {xs}, [](const std::vector<double>& m) { return m[0]; }, seed, replicates, level);
}

std::string format_p(const TTestResult& w) {
    if (!w.valid) {
        return "p n/a (" + w.why_invalid + ")";
    }
    char buf[32];
    if (w.p < 0.001) {
        return "p < 0.001";
    }
    std::snprintf(buf, sizeof buf, "p = %.3f", w.p);
    return buf;
}

std::string significance_verdict(const TTestResult& w, double alpha) {
    const std::string method = w.method.empty() ? "" : w.method + ", ";
    if (!w.valid) {
        return "not tested (" + method + w.why_invalid + ")";
    }
    return (w.p < alpha ? "significant (" : "not significant (") + method + format_p(w) + ")";
}

}  // namespace gk::analysis
