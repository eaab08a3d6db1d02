// HTML rendering. Plain string building: the page is static, every value escaped, and numbers go
// through format.h so the page, the Markdown and the LaTeX tables round identically.
#include "greenknobs/report/html.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "greenknobs/report/format.h"
#include "greenknobs/util/fs.h"

namespace gk::report {

namespace {

using analysis::Delta;
using analysis::Sample;
using analysis::VariantAggregate;

const char* kCss = R"CSS(
:root { --fg:#1f2328; --muted:#59636e; --line:#d8dee4; --bg:#ffffff; --soft:#f6f8fa; --accent:#1565c0;
        --good:#2e7d32; --bad:#c62828; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width: 1280px; margin: 0 auto; padding: 28px 32px 64px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
p, li { max-width: 78em; }
.sub { color: var(--muted); margin: 0 0 18px; }
nav { margin: 14px 0 8px; display:flex; flex-wrap:wrap; gap:6px 14px; font-size:14px; }
nav a, a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; margin: 16px 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:12px 14px; background:var(--soft); }
.card .k { color:var(--muted); font-size:13px; }
.card .v { font-size:20px; font-weight:600; font-variant-numeric: tabular-nums; }
.rec { border:1px solid #b7d3f2; background:#f0f7ff; border-radius:8px; padding:14px 18px; margin: 12px 0; }
.rec .choice { font-size:18px; font-weight:600; }
table.ladder { margin: 6px 0 10px; } table.ladder tr.current td { font-weight:600; background:#e2efff; }
.warn { border:1px solid #f0c36d; background:#fff8e6; border-radius:8px; padding:10px 14px; }
.scroll { overflow-x:auto; border:1px solid var(--line); border-radius:8px; }
/* Table I has 19 columns: let it use the window's width rather than the text column's. */
.wide { width: min(1560px, calc(100vw - 24px)); position: relative; left: 50%; transform: translateX(-50%); }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
.scroll table { width: 100%; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); text-align:left; font-weight:600; white-space: nowrap; position: sticky; top: 0; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tr.base td { background: #fff9e6; }
table.t1 { font-size: 12px; }
table.t1 th { white-space: normal; min-width: 4em; vertical-align: bottom; }
table.t1 td, table.t1 th { padding: 4px 5px; }
table.t1 td:nth-child(2) { min-width: 8.5em; }
.ci { display:block; font-size: 10.5px; color: var(--muted); line-height: 1.2; }
table.plain { border:1px solid var(--line); border-radius: 8px; }
.ns { display:inline-block; font-size:10.5px; color:var(--muted); border:1px solid var(--line);
      border-radius:4px; padding:0 3px; margin-left:2px; }
.prov { display:inline-block; font-size:11.5px; color:#4a5560; background:#eef1f4; border-radius:4px;
        padding:0 5px; white-space:nowrap; }
table.inter td:nth-child(2) { min-width: 12em; }
.lab-synergistic { color: var(--good); font-weight:600; }
.lab-antagonistic { color: var(--bad); font-weight:600; }
figure { margin: 18px 0 28px; }
figure svg { width: 100%; height: auto; max-width: 1100px; display:block; border:1px solid var(--line);
             border-radius: 8px; }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; max-width: 1100px; }
details { border:1px solid var(--line); border-radius:8px; margin: 8px 0; background: var(--bg); }
details > summary { cursor:pointer; padding: 8px 12px; font-variant-numeric: tabular-nums; }
details[open] > summary { border-bottom:1px solid var(--line); background: var(--soft); }
details .body { padding: 10px 14px 14px; }
.muted { color: var(--muted); }
code { font-size: 13px; background: var(--soft); padding: 1px 4px; border-radius: 4px; }
dl.kv { display:grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; }
footer { margin-top: 48px; color: var(--muted); font-size: 13px; }
)CSS";

std::string esc(const std::string& s) { return html_escape(s); }

std::string prov_tag(const std::string& p) { return "<span class=\"prov\">" + esc(p) + "</span>"; }

// Where the total is (partly) modelled: the stated range of the modelled parts (mean over runs of
// each run's low and high, docs/measurement.md), so a modelled number is never shown bare.
std::string range_tag(const VariantAggregate& v) {
    if (v.total_provenance.find("modelled") == std::string::npos || v.total_energy_low_j.empty() ||
        v.total_energy_high_j.empty()) {
        return "";
    }
    return " <span class=\"range\">stated range " +
           esc(fixed(v.total_energy_low_j.mean() / kJoulesPerWh, 2)) + "\u2013" +
           esc(fixed(v.total_energy_high_j.mean() / kJoulesPerWh, 2)) + " Wh</span>";
}

std::string num_td(const std::string& s) { return "<td class=\"num\">" + esc(s) + "</td>"; }

std::string wh(const Sample& s) { return mean_ci(s.summary, 1.0 / kJoulesPerWh); }

std::string delta_text(const Delta& d, bool pct, int decimals, const std::string& unit) {
    if (!d.available) {
        return "\u2014";
    }
    std::string s = fixed(pct ? d.pct : d.abs, decimals) + unit;
    const auto& ci = pct ? d.pct_ci : d.abs_ci;
    if (ci.valid) {
        s += " [" + fixed(ci.low, decimals) + ", " + fixed(ci.high, decimals) + "]";
    }
    const auto& boot = pct ? d.pct_boot_ci : d.abs_boot_ci;
    if (boot.valid) {
        s += " \u00b7 bootstrap [" + fixed(boot.low, decimals) + ", " + fixed(boot.high, decimals) +
             "]";
    }
    return s;
}

// An absolute energy Δ in Wh, to the precision of its interval.
std::string delta_wh(const Delta& d) {
    if (!d.available) {
        return "\u2014";
    }
    const double v = d.abs / kJoulesPerWh;
    const int dec = d.abs_ci.valid && d.abs_ci.half_width() > 0
                        ? decimals_for(d.abs_ci.half_width() / kJoulesPerWh, 2)
                        : decimals_for(v, 3);
    std::string s = fixed(v, dec);
    if (d.abs_ci.valid) {
        s += " \u00b1 " + fixed(d.abs_ci.half_width() / kJoulesPerWh, dec);
    }
    return s;
}

std::string quality_row(const std::string& label, const Sample& s, const Delta& d, bool points) {
    std::ostringstream o;
    o << "<tr><td>" << esc(label) << "</td>" << num_td(s.empty() ? "n/a" : mean_ci(s.summary))
      << num_td(delta_text(d, false, points ? 2 : 3, points ? " pts" : "")) << "<td>"
      << esc(d.verdict.empty() ? "\u2014" : d.verdict) << "</td></tr>\n";
    return o.str();
}

void machine_section(std::ostringstream& o, const HtmlInput& in) {
    const auto& st = *in.study;
    o << "<h2 id=\"machine\">Machine and measurement</h2>\n";
    const auto& m = st.machine;
    auto val = [&](const char* k) -> std::string {
        if (!m.is_object() || !m.contains(k) || m[k].is_null()) {
            return "n/a";
        }
        return m[k].is_string() ? m[k].get<std::string>() : m[k].dump();
    };
    o << "<dl class=\"kv\">";
    for (const char* k : {"cpu_model", "logical_cpus", "ram_gb", "os", "device", "threads",
                          "torch_version", "blas", "hostname"}) {
        o << "<dt>" << k << "</dt><dd>" << esc(val(k)) << "</dd>";
    }
    o << "</dl>\n";
    for (const auto& note : st.machine_notes) {
        o << "<p class=\"warn\">" << esc(note) << "</p>\n";
    }
    o << "<h3>Where the energy numbers come from</h3>\n<table "
         "class=\"plain\"><thead><tr><th>Component"
         "</th><th>Provenance</th></tr></thead><tbody>\n";
    if (st.component_provenance.empty()) {
        o << "<tr><td colspan=\"2\">no provenance recorded</td></tr>\n";
    }
    for (const auto& [component, kind] : st.component_provenance) {
        o << "<tr><td>" << esc(component) << "</td><td>" << prov_tag(kind) << "</td></tr>\n";
    }
    o << "</tbody></table>\n";
    if (!st.sources_used.empty()) {
        o << "<p>Sources used: ";
        for (size_t i = 0; i < st.sources_used.size(); ++i) {
            o << (i ? ", " : "") << "<code>" << esc(st.sources_used[i]) << "</code>";
        }
        o << ".</p>\n";
    }
    o << "<ul>"
         "<li><b>counter</b>: read from a hardware energy counter (RAPL, NVML total energy): the "
         "best "
         "this machine offers.</li>"
         "<li><b>integrated</b>: power samples integrated over time (e.g. NVML power polled at "
         "&ge; 10 Hz); "
         "accurate to the sampling period.</li>"
         "<li><b>modelled</b>: estimated from utilisation with a power model (TDP share, W per GB "
         "of RAM) "
         "where no counter exists. Differences between variants are meaningful only as far as the "
         "model "
         "tracks the work; absolute values are estimates.</li></ul>\n";
}

// "F1 drop" / "val_loss rise": what the recommendation guards, in words.
std::string worsening_words(const analysis::StudyAggregate& st) {
    const std::string what = st.primary_metric == "f1_vul" ? "F1" : primary_words(st);
    return what + (st.primary_higher_is_better ? " drop" : " rise");
}

std::string unit_suffix(const analysis::StudyAggregate& st) {
    const std::string u = primary_delta_unit(st);
    return u.empty() ? "" : " " + u;
}

// The recommendation at other quality budgets: what a looser or tighter budget would buy.
void budget_ladder_table(std::ostringstream& o, const HtmlInput& in) {
    if (in.budget_ladder.empty()) {
        return;
    }
    const auto& st = *in.study;
    o << "<p><b>At other budgets</b> (the same rule, the other limits unchanged):</p>\n"
         "<table class=\"ladder\"><thead><tr><th class=\"num\">"
      << esc(worsening_words(st)) << " budget" << esc(unit_suffix(st))
      << "</th><th>Choice</th><th class=\"num\">Energy saving (%)</th>"
         "<th class=\"num\">Saving, 95 % CI (%)</th><th class=\"num\">"
      << esc(worsening_words(st)) << ", CI upper bound" << esc(unit_suffix(st))
      << "</th></tr></thead><tbody>\n";
    for (const auto& step : in.budget_ladder) {
        const auto& r = step.recommendation;
        const bool current =
            std::fabs(step.max_f1_drop_points - in.budget.max_f1_drop_points) < 1e-12;
        o << "<tr" << (current ? " class=\"current\"" : "") << "><td class=\"num\">"
          << esc(fixed(step.max_f1_drop_points, 2)) << (current ? " (this report)" : "") << "</td>";
        if (!r.found) {
            o << "<td colspan=\"4\">nothing qualifies</td></tr>\n";
            continue;
        }
        const auto& c = r.chosen;
        const bool base = c.variant == st.baseline;
        o << "<td>" << esc(c.variant) << (base ? " (keep the baseline)" : "")
          << "</td><td class=\"num\">" << (base ? "\u2014" : esc(fixed(c.saving_pct, 1)))
          << "</td><td class=\"num\">"
          << (base || !c.saving_has_ci
                  ? std::string("\u2014")
                  : esc(fixed(c.saving_ci_low_pct, 1) + " to " + fixed(c.saving_ci_high_pct, 1)) +
                        (c.saving_significant ? "" : " ns"))
          << "</td><td class=\"num\">" << (base ? "\u2014" : esc(fixed(c.f1_drop_upper_points, 2)))
          << "</td></tr>\n";
    }
    o << "</tbody></table>\n";
}

void recommendation_section(std::ostringstream& o, const HtmlInput& in) {
    const auto& r = in.recommendation;
    o << "<h2 id=\"recommendation\">Recommendation</h2>\n<div class=\"rec\">";
    if (r.found) {
        o << "<div class=\"choice\">" << esc(r.chosen.variant) << " \u2014 " << esc(r.chosen.name)
          << "</div>";
    }
    o << "<p>" << esc(r.explanation) << "</p>";
    o << "<p class=\"muted\">Rule: " << esc(r.rule) << ".</p>";
    if (!r.runners_up.empty()) {
        o << "<p>Runners-up: ";
        for (size_t i = 0; i < r.runners_up.size(); ++i) {
            const auto& c = r.runners_up[i];
            o << (i ? "; " : "") << esc(c.variant) << " (" << esc(fixed(c.saving_pct, 1))
              << " % saving, " << esc(worsening_words(*in.study)) << " \u2264 "
              << esc(fixed(c.f1_drop_upper_points, 2)) << esc(unit_suffix(*in.study))
              << esc(c.f1_drop_has_ci && !c.f1_drop_ci_method.empty()
                         ? ", " + c.f1_drop_ci_method + " CI"
                         : (c.f1_drop_has_ci ? "" : ", no CI"))
              << ")";
        }
        o << ".</p>";
    }
    o << "<p><b>Untested combination</b> ("
      << esc(r.suggestion.found ? "predicted, not measured" : "none")
      << "): " << esc(r.suggestion.note) << ".</p></div>\n";
    budget_ladder_table(o, in);
    if (!r.rejected.empty()) {
        o << "<details><summary>Variants that did not qualify (" << r.rejected.size()
          << ")</summary><div class=\"body\"><ul>";
        for (const auto& c : r.rejected) {
            o << "<li>" << esc(c.variant) << ": " << esc(c.reason) << "</li>";
        }
        o << "</ul></div></details>\n";
    }
}

void figures_section(std::ostringstream& o, const HtmlInput& in) {
    o << "<h2 id=\"figures\">Figures</h2>\n";
    const auto& fs_ = in.figures;
    if (!fs_.skipped_why.empty()) {
        o << "<p class=\"warn\">Figures were not rendered: " << esc(fs_.skipped_why) << ".</p>\n";
    }
    for (const auto& e : fs_.errors) {
        o << "<p class=\"warn\">" << esc(e) << "</p>\n";
    }
    int k = 0;
    for (const auto& f : fs_.figures) {
        ++k;
        if (!f.rendered) {
            continue;
        }
        std::string svg;
        try {
            svg = fs::read_file(fs::join(in.figures_dir, f.svg));
        } catch (const std::exception&) {
            continue;
        }
        o << "<figure id=\"" << esc(f.name) << "\">"
          << inline_svg(svg, "f" + std::to_string(k) + "_") << "<figcaption>" << esc(f.title)
          << " <a href=\"" << esc(in.figures_rel_dir + "/" + f.png)
          << "\">PNG</a> \u00b7 <a href=\"" << esc(in.figures_rel_dir + "/" + f.script)
          << "\">gnuplot script</a></figcaption></figure>\n";
    }
}

void interactions_section(std::ostringstream& o, const HtmlInput& in) {
    o << "<h2 id=\"interactions\">Knob interactions</h2>\n";
    o << "<p>For each combination, the single-knob savings s<sub>i</sub> = 1 \u2212 "
         "E<sub>i</sub>/E<sub>0</sub> "
         "(total energy, means) predict a saving of 1 \u2212 \u220f(1 \u2212 s<sub>i</sub>) if the "
         "knobs act "
         "independently and multiplicatively (the paper's model). Where the baseline, the "
         "components and the combination all have the same repeats (repeat r of each trains with "
         "the same seed and data order), predicted \u2212 observed is computed per repeat and its "
         "interval is the paired t interval over repeats (the label uses it), with a seeded "
         "percentile bootstrap over repeats beside it; otherwise a seeded percentile bootstrap "
         "(4000 resamples of runs within each variant) of predicted \u2212 observed from means. "
         "The Method column says which. "
         "<b>Synergistic</b>: the combination saved significantly more than predicted; "
         "<b>antagonistic</b>: significantly less; <b>as predicted</b>: the interval spans "
         "0.</p>\n";
    if (in.interactions.empty()) {
        o << "<p class=\"muted\">No combination variants were measured.</p>\n";
        return;
    }
    o << "<div class=\"scroll\"><table class=\"inter\"><thead><tr><th>Variant</th><th>Combines</th>"
         "<th class=\"num\">Single-knob savings (%)</th><th class=\"num\">Predicted (%)</th>"
         "<th class=\"num\">Observed (%)</th><th class=\"num\">Predicted \u2212 observed (pts, 95 "
         "% CI)</th>"
         "<th>Method</th><th>Label</th></tr></thead><tbody>\n";
    for (const auto& x : in.interactions) {
        std::string comps;
        for (size_t i = 0; i < x.components.size(); ++i) {
            comps += (i ? " + " : "") + x.components[i];
        }
        o << "<tr><td>" << esc(x.variant) << "</td><td>" << esc(comps) << "</td>";
        if (x.computed) {
            std::string singles;
            for (size_t i = 0; i < x.single_savings.size(); ++i) {
                singles += (i ? ", " : "") + fixed(100.0 * x.single_savings[i], 1);
            }
            std::string diff_s = fixed(100.0 * x.diff, 1);
            if (x.diff_ci.valid) {
                diff_s += " [" + fixed(100.0 * x.diff_ci.low, 1) + ", " +
                          fixed(100.0 * x.diff_ci.high, 1) + "]";
            }
            std::string method = x.method;
            if (x.paired) {
                method += ", " + std::to_string(x.n_pairs) + " repeats";
                if (x.diff_boot_ci.valid) {
                    method += "; bootstrap [" + fixed(100.0 * x.diff_boot_ci.low, 1) + ", " +
                              fixed(100.0 * x.diff_boot_ci.high, 1) + "]";
                }
            } else {
                method += " (" + x.why_unpaired + ")";
            }
            o << num_td(singles) << num_td(fixed(100.0 * x.predicted, 1))
              << num_td(fixed(100.0 * x.observed, 1)) << num_td(diff_s) << "<td>" << esc(method)
              << "</td>";
        } else {
            o << "<td class=\"num\">\u2014</td><td class=\"num\">\u2014</td><td "
                 "class=\"num\">\u2014</td>"
                 "<td class=\"num\">\u2014</td><td>\u2014</td>";
        }
        std::string cls = x.label == "synergistic"    ? "lab-synergistic"
                          : x.label == "antagonistic" ? "lab-antagonistic"
                                                      : "";
        o << "<td class=\"" << cls << "\">" << esc(x.label) << "</td></tr>\n";
    }
    o << "</tbody></table></div>\n";
}

void pareto_section(std::ostringstream& o, const HtmlInput& in) {
    o << "<h2 id=\"pareto\">Pareto sets</h2>\n<p>Strict dominance on variant means: a variant is "
         "dropped "
         "only if another is at least as good on both axes and strictly better on one (exact ties "
         "stay).</p>"
         "<ul>";
    auto list = [&](const std::vector<std::string>& ids) {
        std::string s;
        for (size_t i = 0; i < ids.size(); ++i) {
            s += (i ? ", " : "") + ids[i];
        }
        return s.empty() ? std::string("n/a") : s;
    };
    const auto& st = *in.study;
    if (st.primary_metric == "f1_vul") {
        o << "<li><b>Energy vs F1 (vulnerable class)</b> \u2014 lowest total energy, highest F1: ";
    } else {
        o << "<li><b>Energy vs " << esc(primary_words(st)) << "</b> \u2014 lowest total energy, "
          << (st.primary_higher_is_better ? "highest " : "lowest ") << esc(primary_words(st))
          << ": ";
    }
    o << esc(list(in.front_energy_f1)) << "</li>";
    o << "<li><b>Energy vs time</b> \u2014 lowest total energy, lowest total time: "
      << esc(list(in.front_energy_time)) << "</li></ul>\n";
}

// Each variant's energy against the baseline's as the product of two ratios: the arithmetic it had
// to do (run.json's model FLOPs) and what each TFLOP cost. Only for studies whose runs count their
// arithmetic (the pipeline's; a command's runs do not).
bool has_work_section(const analysis::StudyAggregate& st) {
    const VariantAggregate* base = st.find(st.baseline);
    return base != nullptr && !base->model_tflop.empty() && !base->j_per_tflop.empty() &&
           !base->total_energy_j.empty();
}

void work_section(std::ostringstream& o, const HtmlInput& in) {
    const auto& st = *in.study;
    if (!has_work_section(st)) {
        return;
    }
    const VariantAggregate* base = st.find(st.baseline);
    o << "<h2 id=\"work\">Less arithmetic, or cheaper arithmetic</h2>\n<p>A knob saves energy by "
         "computing less (fewer tokens, layers, trained weights) or by computing the same "
         "thing more cheaply (a kernel, no padding, fewer passes over memory). The model FLOPs "
         "of a run (the matrix products its model needs for its real tokens, counted from the "
         "config and the data: docs/measurement.md) separate the two: energy \u00d7 "
         "<i>r</i><sub>E</sub> = arithmetic \u00d7 <i>r</i><sub>F</sub> \u00b7 cost per TFLOP "
         "\u00d7 <i>r</i><sub>E</sub>/<i>r</i><sub>F</sub>, ratios of means vs "
      << esc(st.baseline)
      << ". A knob that computes the same model on the same tokens leaves <i>r</i><sub>F</sub> "
         "at 1.00 and the predictions as they were; one that moves it computes less, which "
         "changes the predictions unless what it drops fed none of them (one epoch's "
         "validation pass).</p>\n"
         "<div class=\"scroll\"><table class=\"plain\"><thead><tr><th>Variant</th>"
         "<th>TFLOP per run</th><th>J per TFLOP</th><th>energy \u00d7</th><th>= arithmetic "
         "\u00d7</th><th>\u00b7 cost per TFLOP \u00d7</th></tr></thead><tbody>\n";
    for (const auto& v : st.variants) {
        if (v.model_tflop.empty() || v.j_per_tflop.empty() || v.total_energy_j.empty()) {
            continue;
        }
        const double r_e = v.total_energy_j.mean() / base->total_energy_j.mean();
        const double r_f = v.model_tflop.mean() / base->model_tflop.mean();
        o << "<tr><td><b>" << esc(v.variant) << "</b> " << esc(v.name) << "</td>"
          << num_td(sig(v.model_tflop.mean(), 3)) << num_td(sig(v.j_per_tflop.mean(), 3))
          << num_td(fixed(r_e, 2)) << num_td(fixed(r_f, 2)) << num_td(fixed(r_e / r_f, 2))
          << "</tr>\n";
    }
    o << "</tbody></table></div>\n";
}

void variant_details(std::ostringstream& o, const HtmlInput& in) {
    const auto& st = *in.study;
    o << "<h2 id=\"variants\">Per-variant detail</h2>\n<p class=\"muted\">Mean \u00b1 95 % CI "
         "half-width "
         "(Student t) over the runs; \u0394 columns are vs "
      << esc(st.baseline)
      << " with the 95 % CI in brackets and a seeded percentile bootstrap beside it: paired over "
         "repeats (paired t; repeat r of every variant shares seed and data order) when the "
         "variant and the baseline have the same repeats, Welch's t-test otherwise; each "
         "variant's \u0394 test line and each verdict name the test. "
         "Energies in Wh; every energy value carries its provenance.</p>\n";
    for (const auto& v : st.variants) {
        // The baseline opens by default: it shows what every other entry holds.
        o << "<details" << (v.variant == st.baseline ? " open" : "") << "><summary><b>"
          << esc(v.variant) << "</b> \u2014 " << esc(v.name) << " \u00b7 n = " << v.n_runs
          << " \u00b7 total " << esc(wh(v.total_energy_j)) << " Wh " << prov_tag(v.total_provenance)
          << range_tag(v);
        if (v.d_total_energy.available) {
            o << " \u00b7 \u0394 " << esc(fixed(v.d_total_energy.pct, 1)) << " %, "
              << esc(v.d_total_energy.verdict);
        }
        if (!v.f1_vul.empty()) {
            o << " \u00b7 " << esc(st.primary_metric == "f1_vul" ? "F1 vul" : primary_words(st))
              << " " << esc(mean_ci(v.f1_vul.summary));
        }
        o << "</summary><div class=\"body\">\n";
        const std::string methods = analysis::delta_methods(v);
        if (!methods.empty()) {
            o << "<p>\u0394 test: " << esc(methods) << "</p>\n";
        }
        if (!v.knobs.empty()) {
            o << "<p>Knobs applied: ";
            for (size_t i = 0; i < v.knobs.size(); ++i) {
                o << (i ? ", " : "") << "<code>" << esc(v.knobs[i]) << "</code>";
            }
            o << (v.phase.empty() ? "" : " \u00b7 phase: " + esc(v.phase)) << "</p>\n";
        }
        o << "<table class=\"plain\"><thead><tr><th>Stage</th><th class=\"num\">Energy (Wh)</th>"
             "<th>Provenance</th><th class=\"num\">Time (s)</th><th class=\"num\">\u0394 energy "
             "(Wh)</th>"
             "<th class=\"num\">\u0394 energy vs "
          << esc(st.baseline) << " (%)</th><th>Significance</th></tr></thead><tbody>\n";
        for (const auto& s : v.stages) {
            const bool nested = s.path.find('/') != std::string::npos;
            o << "<tr><td>" << (nested ? "&nbsp;&nbsp;\u21b3 " : "") << esc(s.path) << "</td>"
              << num_td(wh(s.energy_j)) << "<td>" << prov_tag(s.provenance) << "</td>"
              << num_td(mean_ci(s.duration_s.summary)) << num_td(delta_wh(s.d_energy))
              << num_td(delta_text(s.d_energy, true, 1, "")) << "<td>"
              << esc(s.d_energy.verdict.empty() ? "\u2014" : s.d_energy.verdict) << "</td></tr>\n";
        }
        o << "<tr><td><b>total</b></td>" << num_td(wh(v.total_energy_j)) << "<td>"
          << prov_tag(v.total_provenance) << range_tag(v) << "</td>"
          << num_td(mean_ci(v.total_duration_s.summary)) << num_td(delta_wh(v.d_total_energy))
          << num_td(delta_text(v.d_total_energy, true, 1, "")) << "<td>"
          << esc(v.d_total_energy.verdict.empty() ? "\u2014" : v.d_total_energy.verdict)
          << "</td></tr>\n";
        o << "</tbody></table>\n";
        o << "<h3>Quality and evaluation</h3><table class=\"plain\"><thead><tr><th>Metric</th>"
             "<th class=\"num\">Mean \u00b1 CI</th><th class=\"num\">\u0394 vs "
          << esc(st.baseline) << " [95 % CI]</th><th>Significance</th></tr></thead><tbody>\n";
        if (!in.command_study) {
            o << quality_row("F1, vulnerable class (primary)", v.f1_vul, v.d_f1_vul_points, true);
            o << quality_row("F1, weighted (the paper's metric)", v.f1_weighted,
                             v.d_f1_weighted_points, true);
            o << quality_row("MCC", v.mcc, v.d_mcc, false);
            o << quality_row("Accuracy", v.accuracy, v.d_accuracy_points, true);
        } else {
            // The command's metrics: the primary one in its declared direction and unit, and the
            // common ones only where the command reported them.
            o << quality_row(primary_words(st) + " (primary, reported by the command; " +
                                 (st.primary_higher_is_better ? "higher" : "lower") + " is better)",
                             v.f1_vul, v.d_f1_vul_points, st.primary_in_points);
            if (st.primary_metric != "f1_weighted" && !v.f1_weighted.empty()) {
                o << quality_row("F1, weighted", v.f1_weighted, v.d_f1_weighted_points, true);
            }
            if (st.primary_metric != "mcc" && !v.mcc.empty()) {
                o << quality_row("MCC", v.mcc, v.d_mcc, false);
            }
            if (st.primary_metric != "accuracy" && !v.accuracy.empty()) {
                o << quality_row("Accuracy", v.accuracy, v.d_accuracy_points, true);
            }
        }
        o << "<tr><td>Evaluation time (s)</td>" << num_td(mean_ci(v.eval_duration_s.summary))
          << num_td(delta_text(v.d_eval_time, true, 1, " %")) << "<td>"
          << esc(v.d_eval_time.verdict.empty() ? "\u2014" : v.d_eval_time.verdict)
          << "</td></tr>\n";
        o << "<tr><td>Evaluation energy (Wh) " << prov_tag(v.eval_provenance) << "</td>"
          << num_td(wh(v.eval_energy_j)) << num_td(delta_text(v.d_eval_energy, true, 1, " %"))
          << "<td>" << esc(v.d_eval_energy.verdict.empty() ? "\u2014" : v.d_eval_energy.verdict)
          << "</td></tr>\n";
        o << "</tbody></table>\n";
        for (const auto& [id, text] : in.paper_differences) {
            if (id == v.variant) {
                o << "<p class=\"muted\">Differs from the paper: " << esc(text) << "</p>\n";
            }
        }
        o << "</div></details>\n";
    }
}

void paper_notes(std::ostringstream& o, const HtmlInput& in) {
    if (in.command_study) {
        // The paper measured its own pipeline: a study of another command is not compared with
        // it, unless its variants say how they differ.
        if (in.paper_differences.empty()) {
            return;
        }
        o << "<h2 id=\"paper\">How the variants differ from the paper</h2>\n<dl class=\"kv\">";
        for (const auto& [id, text] : in.paper_differences) {
            o << "<dt>" << esc(id) << "</dt><dd>" << esc(text) << "</dd>";
        }
        o << "</dl>\n";
        return;
    }
    o << "<h2 id=\"paper\">How this study differs from the paper</h2>\n<ul>"
         "<li><b>Repeats and intervals.</b> Every number is a mean over all completed runs with a "
         "95 % "
         "confidence interval; the paper's package compared single runs (\u00b10 everywhere) and "
         "took some "
         "values from the first run only.</li>"
         "<li><b>Significance.</b> Each \u0394 pairs repeat r of the variant with repeat r of the "
         "baseline (same seed, same data order) and uses the paired t-test, with a seeded "
         "bootstrap of the mean paired relative difference beside it; Welch's t-test only where "
         "pairing is impossible (a repeat missing on one side). The paper's Wilcoxon signed-rank "
         "test with n \u2264 3 can never reach p &lt; 0.05. \"Not significant\" is said "
         "plainly.</li>"
         "<li><b>Quality metric.</b> F1 of the vulnerable class is primary; weighted F1 (the "
         "paper's) is "
         "shown for comparison only, because on imbalanced data it is dominated by the negative "
         "class.</li>"
         "<li><b>Interactions.</b> Each combination is predicted from the single-knob variants it "
         "really "
         "contains (from the catalog, checked against its knobs) with a bootstrap interval; the "
         "paper's "
         "hard-coded component lists did not match what the variants did.</li>"
         "<li><b>Stages.</b> Identical stage boundaries in every variant; validation is a nested "
         "stage "
         "inside train, never counted twice.</li>"
         "<li><b>Scale and units.</b> A CPU-scale study: energies are in Wh (the paper: kWh on a "
         "GPU). Compare "
         "relative changes, not absolute values; the paper's columns are its published single-run "
         "numbers.</li>"
         "<li><b>Provenance.</b> Each energy number says whether it was read from a counter, "
         "integrated "
         "from power samples or modelled.</li>"
         "</ul>\n";
    if (!in.paper_differences.empty()) {
        o << "<details><summary>Per-variant differences from the paper ("
          << in.paper_differences.size() << ")</summary><div class=\"body\"><dl class=\"kv\">";
        for (const auto& [id, text] : in.paper_differences) {
            o << "<dt>" << esc(id) << "</dt><dd>" << esc(text) << "</dd>";
        }
        o << "</dl></div></details>\n";
    }
}

}  // namespace

std::string inline_svg(const std::string& svg_text, const std::string& id_prefix) {
    const size_t start = svg_text.find("<svg");
    std::string s = start == std::string::npos ? svg_text : svg_text.substr(start);
    // gnuplot names its defs identically in every file; prefix them so ids stay unique on one page.
    for (const std::string& token :
         {std::string("gpPt"), std::string("gpDot"), std::string("gnuplot_canvas"),
          std::string("gnuplot_plot_"), std::string("gpPat")}) {
        std::string out;
        size_t pos = 0;
        while (true) {
            const size_t hit = s.find(token, pos);
            if (hit == std::string::npos) {
                out.append(s, pos, std::string::npos);
                break;
            }
            out.append(s, pos, hit - pos);
            out += id_prefix + token;
            pos = hit + token.size();
        }
        s = std::move(out);
    }
    return s;
}

std::string render_html(const HtmlInput& in) {
    const auto& st = *in.study;
    std::ostringstream o;
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>"
      << esc(in.title) << "</title><style>" << kCss << "</style></head><body><main>\n";
    o << "<h1>" << esc(in.title) << "</h1>\n<p class=\"sub\">" << st.variants.size()
      << " variants \u00b7 " << st.runs << " completed runs"
      << (in.failed_runs > 0 ? " \u00b7 " + std::to_string(in.failed_runs) + " failed (not used)"
                             : "")
      << " \u00b7 baseline " << esc(st.baseline) << " \u00b7 generated " << esc(in.generated_at)
      << " by greenknobs</p>\n";
    o << "<nav><a href=\"#recommendation\">Recommendation</a><a href=\"#table1\">Table I</a>"
         "<a href=\"#figures\">Figures</a><a href=\"#interactions\">Interactions</a>"
         "<a href=\"#pareto\">Pareto sets</a>";
    if (has_work_section(st)) {
        o << "<a href=\"#work\">Arithmetic</a>";
    }
    o << "<a href=\"#variants\">Per-variant detail</a>"
         "<a href=\"#machine\">Machine &amp; provenance</a>";
    if (!in.command_study || !in.paper_differences.empty()) {
        o << "<a href=\"#paper\">Differences from the paper</a>";
    }
    o << "</nav>\n";
    if (!st.has_baseline) {
        o << "<p class=\"warn\">The baseline " << esc(st.baseline)
          << " has no completed runs: no \u0394 can be computed.</p>\n";
    }
    // Headline cards: the baseline and the best measured saving.
    if (const auto* base = st.find(st.baseline)) {
        const VariantAggregate* best = nullptr;
        for (const auto& v : st.variants) {
            if (!v.total_energy_j.empty() &&
                (best == nullptr || v.total_energy_j.mean() < best->total_energy_j.mean())) {
                best = &v;
            }
        }
        o << "<div class=\"cards\">";
        o << "<div class=\"card\"><div class=\"k\">Baseline " << esc(base->variant)
          << " total energy per run</div><div class=\"v\">" << esc(wh(base->total_energy_j))
          << " Wh</div>" << prov_tag(base->total_provenance) << "</div>";
        o << "<div class=\"card\"><div class=\"k\">Baseline " << esc(primary_words(st))
          << "</div><div "
             "class=\"v\">"
          << esc(base->f1_vul.empty() ? "n/a" : mean_ci(base->f1_vul.summary)) << "</div></div>";
        if (best != nullptr && best->variant != st.baseline) {
            o << "<div class=\"card\"><div class=\"k\">Lowest energy: " << esc(best->variant)
              << " (" << esc(best->name) << ")</div><div class=\"v\">"
              << esc(fixed(best->d_total_energy.pct, 1)) << " %</div><span class=\"muted\">"
              << esc(best->d_total_energy.verdict) << "</span></div>";
        }
        if (in.recommendation.found) {
            o << "<div class=\"card\"><div class=\"k\">Recommended ("
              << esc(st.primary_metric == "f1_vul" ? std::string("F1") : primary_words(st))
              << " budget "
              << esc(st.primary_metric == "f1_vul" ? fixed(in.budget.max_f1_drop_points, 1)
                                                   : sig(in.budget.max_f1_drop_points, 2))
              << esc(unit_suffix(st)) << ")</div><div class=\"v\">"
              << esc(in.recommendation.chosen.variant) << "</div><span class=\"muted\">"
              << esc(fixed(in.recommendation.chosen.saving_pct, 1))
              << " % energy saving</span></div>";
        }
        o << "</div>\n";
    }
    recommendation_section(o, in);
    o << "<h2 id=\"table1\">Table I</h2>\n<p class=\"muted\">Mean \u00b1 95 % CI half-width over n "
         "runs "
         "(\"(n = 1)\": a single run, no interval). Energies in Wh per run"
      << (in.command_study ? ""
                           : "; the paper's columns are its published single-run values in kWh")
      << ". \u0394 vs " << esc(st.baseline)
      << ": paired t CIs over repeats where the variant and the baseline have the same repeats, "
         "else Welch CIs (the \u0394 test column says which); <span class=\"ns\">ns</span> = not "
         "significant (p \u2265 0.05). ";
    if (in.command_study) {
        o << "Stages: as the command reported them. " << esc(primary_words(st))
          << (primary_words(st) == st.primary_metric ? "" : " (" + esc(st.primary_metric) + ")")
          << ": the command's primary metric, "
          << (st.primary_higher_is_better ? "higher" : "lower") << " is better, \u0394 "
          << (st.primary_in_points ? "in points of its range" : "in its own units")
          << ". Downloads: ";
    } else {
        o << "F1 vul: F1 of the vulnerable class; F1 w: weighted F1 (the paper's metric). "
             "Downloads: ";
    }
    for (size_t i = 0; i < in.downloads.size(); ++i) {
        o << (i ? " \u00b7 " : "") << "<a href=\"" << esc(in.downloads[i].second) << "\">"
          << esc(in.downloads[i].first) << "</a>";
    }
    o << ".</p>\n" << table1_html(in.table);
    figures_section(o, in);
    interactions_section(o, in);
    pareto_section(o, in);
    work_section(o, in);
    variant_details(o, in);
    machine_section(o, in);
    paper_notes(o, in);
    o << "<footer>greenknobs \u00b7 statistics: Student-t intervals, paired t-tests over repeats "
         "(Welch's where pairing is impossible), seeded percentile bootstrap \u00b7 figures: "
         "gnuplot</footer>\n</main></body></html>\n";
    return o.str();
}

}  // namespace gk::report
