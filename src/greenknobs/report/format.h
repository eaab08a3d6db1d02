// Number formatting shared by the tables, figures and HTML: consistent significant figures (the
// mean is shown to the precision of its CI), "n/a" instead of ±0 for single runs, Unicode or ASCII
// minus signs.
#pragma once

#include <string>

#include "greenknobs/analysis/aggregate.h"
#include "greenknobs/util/csv_field.h"

namespace gk::report {

enum class Style {
    kText,
    kAscii,
    kLatex
};  // kText: Unicode minus (md, HTML); kAscii: CSV; kLatex: $-$

inline constexpr double kJoulesPerWh = 3600.0;

// Decimals that show `v` to `sig` significant figures (>= 0).
int decimals_for(double v, int sig);
// Fixed-point with the given decimals and minus style; non-finite → "n/a".
std::string fixed(double v, int decimals, Style style = Style::kText);
// `v` to `sig` significant figures, no exponent for the range we meet (1e-6 … 1e9).
std::string sig(double v, int sig_figs, Style style = Style::kText);

// "0.851 ± 0.021" (decimals from the CI's 2 significant figures) or "0.851 (n = 1)"; values ×
// scale.
std::string mean_ci(const analysis::Summary& s, double scale = 1.0, Style style = Style::kText);
// The decimals mean_ci() would use, so CSV and other formats round identically.
int mean_ci_decimals(const analysis::Summary& s, double scale = 1.0);

// A Δ: "−38.2 ± 2.9" with fixed decimals, "−38.2 (n = 1)" without a CI, and " ns" appended when its
// test (paired t or Welch, on the quantity shown) is valid and not significant. Empty Δ (baseline)
// → "—" (kText) / "" (kAscii) / "--" (kLatex).
std::string delta_cell(const analysis::Delta& d, bool pct, int decimals,
                       Style style = Style::kText);

// HTML text escaping (&, <, >, ").
std::string html_escape(const std::string& s);
// LaTeX text escaping (& % $ # _ { } ~ ^ \).
std::string latex_escape(const std::string& s);
using gk::csv_field;  // util/csv_field.h

}  // namespace gk::report
