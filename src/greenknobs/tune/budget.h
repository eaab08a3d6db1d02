// A tuning budget: what a configuration may cost in quality and speed relative to the baseline
// (`--budget f1_drop=1.0,eval_latency_ms=40,time=10`), and the check of one measured or verified
// configuration against it. Torch-free.
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace gk::tune {

struct Budget {
    // Largest allowed drop of F1 (vulnerable class) vs the baseline, in points (×100). Required.
    double f1_drop_points = NAN;
    // Largest allowed mean evaluation latency per batch, ms (absolute). NaN = no limit.
    double eval_latency_ms = NAN;
    // Largest allowed change of the total run time vs the baseline, % (10 = at most 10 % slower,
    // -20 = at least 20 % faster). NaN = no limit.
    double time_pct = NAN;
    std::string text;  // as given, for reports
};

// "f1_drop=1.0[,eval_latency_ms=…][,time=…]"; InputError naming `origin` and the bad part.
Budget parse_budget(const std::string& spec, const std::string& origin = "--budget");

// What a configuration showed, relative to the baseline measured beside it (same seeds).
struct Measured {
    double f1_drop_points = NAN;  // baseline F1 − its F1, ×100
    double eval_latency_ms = NAN;
    double time_pct = NAN;  // 100 · (t / t_baseline − 1)
};

// Every limit the configuration breaks, in words ("F1 drop 1.8 > 1.0 points"); empty = it fits.
// A NaN measurement of a limited quantity breaks the limit (unknown is not within budget).
std::vector<std::string> budget_violations(const Budget& b, const Measured& m);

}  // namespace gk::tune
