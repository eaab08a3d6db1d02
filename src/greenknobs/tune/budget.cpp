// Budget parsing and checking.
#include "greenknobs/tune/budget.h"

#include <cstdlib>
#include <sstream>

#include "greenknobs/util/error.h"

namespace gk::tune {

namespace {

std::string num(double v) {
    std::ostringstream s;
    s.precision(3);
    s << v;
    return s.str();
}

}  // namespace

Budget parse_budget(const std::string& spec, const std::string& origin) {
    Budget b;
    b.text = spec;
    std::istringstream parts(spec);
    std::string part;
    while (std::getline(parts, part, ',')) {
        if (part.empty()) {
            continue;
        }
        const auto eq = part.find('=');
        if (eq == std::string::npos) {
            throw InputError(origin, part, "expected key=value (f1_drop, eval_latency_ms or time)");
        }
        const std::string key = part.substr(0, eq);
        const std::string value = part.substr(eq + 1);
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (value.empty() || end == nullptr || *end != '\0' || !std::isfinite(v)) {
            throw InputError(origin, key, "got '" + value + "', expected a number");
        }
        if (key == "f1_drop") {
            if (v < 0) {
                throw InputError(origin, key, "got " + value + ", expected points >= 0");
            }
            b.f1_drop_points = v;
        } else if (key == "eval_latency_ms") {
            if (v <= 0) {
                throw InputError(origin, key, "got " + value + ", expected ms > 0");
            }
            b.eval_latency_ms = v;
        } else if (key == "time") {
            if (v <= -100) {
                throw InputError(origin, key, "got " + value + ", expected a % change > -100");
            }
            b.time_pct = v;
        } else {
            throw InputError(origin, key,
                             "unknown budget key; expected f1_drop, eval_latency_ms or time");
        }
    }
    if (std::isnan(b.f1_drop_points)) {
        throw InputError(origin, spec,
                         "f1_drop=<points> is required (the F1 drop the search may spend)");
    }
    return b;
}

std::vector<std::string> budget_violations(const Budget& b, const Measured& m) {
    std::vector<std::string> out;
    if (!(m.f1_drop_points <= b.f1_drop_points)) {
        out.push_back("F1 drop " + num(m.f1_drop_points) + " > " + num(b.f1_drop_points) +
                      " points");
    }
    if (!std::isnan(b.eval_latency_ms) && !(m.eval_latency_ms <= b.eval_latency_ms)) {
        out.push_back("eval latency " + num(m.eval_latency_ms) + " > " + num(b.eval_latency_ms) +
                      " ms/batch");
    }
    if (!std::isnan(b.time_pct) && !(m.time_pct <= b.time_pct)) {
        out.push_back("time " + num(m.time_pct) + " % > " + num(b.time_pct) + " %");
    }
    return out;
}

}  // namespace gk::tune
