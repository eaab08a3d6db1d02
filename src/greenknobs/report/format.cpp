// Formatting rules. Means are rounded to the CI's second significant figure so that "0.85123 ±
// 0.02" never suggests more precision than the runs support.
#include "greenknobs/report/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gk::report {

int decimals_for(double v, int sig_figs) {
    if (!std::isfinite(v) || v == 0.0) {
        return std::max(0, sig_figs - 1);
    }
    const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(v))));
    return std::clamp(sig_figs - 1 - magnitude, 0, 9);
}

std::string fixed(double v, int decimals, Style style) {
    if (!std::isfinite(v)) {
        return "n/a";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    std::string s = buf;
    // "-0.0" reads as a signed measurement: drop the sign when everything shown is zero.
    if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) {
        s.erase(0, 1);
    }
    if (!s.empty() && s[0] == '-') {
        if (style == Style::kText) {
            s.replace(0, 1, "\u2212");
        } else if (style == Style::kLatex) {
            s.replace(0, 1, "$-$");
        }
    }
    return s;
}

std::string sig(double v, int sig_figs, Style style) {
    return fixed(v, decimals_for(v, sig_figs), style);
}

int mean_ci_decimals(const analysis::Summary& s, double scale) {
    const double m = s.mean * scale;
    const int d_mean = decimals_for(m, 3);
    if (!s.ci.valid) {
        return d_mean;
    }
    const double half = s.ci.half_width() * scale;
    if (half <= 0.0) {
        return d_mean;
    }
    // Two significant figures of the half-width, but never more than one digit past the mean's
    // third.
    return std::min(decimals_for(half, 2), d_mean + 1);
}

std::string mean_ci(const analysis::Summary& s, double scale, Style style) {
    if (s.n == 0) {
        return "n/a";
    }
    const int d = mean_ci_decimals(s, scale);
    const std::string m = fixed(s.mean * scale, d, style);
    if (!s.ci.valid) {
        return m + " (n = 1)";
    }
    const std::string pm = style == Style::kLatex ? " $\\pm$ " : " \u00b1 ";
    const double half = s.ci.half_width() * scale;
    // Identical runs: an exact zero, not a rounded one ("± 0.0000" would suggest a measured
    // precision).
    return m + (style == Style::kAscii ? " +/- " : pm) +
           (half == 0.0 ? "0" : fixed(half, d, style));
}

std::string delta_cell(const analysis::Delta& d, bool pct, int decimals, Style style) {
    if (!d.available) {
        return style == Style::kText ? "\u2014" : (style == Style::kLatex ? "--" : "");
    }
    const double v = pct ? d.pct : d.abs;
    const analysis::Interval& ci = pct ? d.pct_ci : d.abs_ci;
    std::string out = fixed(v, decimals, style);
    if (ci.valid) {
        const std::string pm =
            style == Style::kLatex ? " $\\pm$ " : (style == Style::kAscii ? " +/- " : " \u00b1 ");
        out += pm + fixed(ci.half_width(), decimals, style);
    } else {
        out += " (n/a)";
    }
    const analysis::TTestResult& test = pct ? d.pct_test : d.test;
    if (test.valid && test.p >= 0.05) {
        out += " ns";
    }
    return out;
}

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string latex_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "\\&";
                break;
            case '%':
                out += "\\%";
                break;
            case '$':
                out += "\\$";
                break;
            case '#':
                out += "\\#";
                break;
            case '_':
                out += "\\_";
                break;
            case '{':
                out += "\\{";
                break;
            case '}':
                out += "\\}";
                break;
            case '~':
                out += "\\textasciitilde{}";
                break;
            case '^':
                out += "\\textasciicircum{}";
                break;
            case '\\':
                out += "\\textbackslash{}";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace gk::report
