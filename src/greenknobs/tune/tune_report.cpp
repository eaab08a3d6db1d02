// The tune's HTML report and its two own figures (trajectory, front); see tune_report.h.
#include "greenknobs/tune/tune_report.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "greenknobs/analysis/aggregate.h"
#include "greenknobs/report/figures.h"
#include "greenknobs/report/format.h"
#include "greenknobs/report/html.h"
#include "greenknobs/study/study_report.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/process.h"
#include "greenknobs/util/utc_time.h"

namespace gk::tune {

namespace {

using report::html_escape;

std::string num(double v, int decimals = 1) {
    if (!std::isfinite(v)) {
        return "n/a";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string estimate(const PairedEstimate& e, int decimals = 1) {
    if (e.n == 0) {
        return "n/a";
    }
    std::string s = num(e.mean, decimals);
    if (e.ci.valid) {
        s += " [" + num(e.ci.low, decimals) + ", " + num(e.ci.high, decimals) + "]";
    } else {
        s += " (no CI: " + (e.ci.why_invalid.empty() ? "no spread" : e.ci.why_invalid) + ")";
    }
    return s + " (n = " + std::to_string(e.n) + ")";
}

const char* kCss = R"CSS(
body { font: 15px/1.45 "DejaVu Sans", sans-serif; margin: 24px auto; max-width: 1180px; color: #222; padding: 0 16px; }
h1 { font-size: 26px; } h2 { font-size: 20px; margin-top: 36px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13.5px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; text-align: left; }
th { background: #f3f5f7; }
td.num { text-align: right; white-space: nowrap; }
.ok { color: #17703a; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
.verdict { border: 1px solid #ccd; border-radius: 8px; padding: 12px 16px; background: #f7f9fc; }
figure svg { width: 100%; height: auto; max-width: 1100px; border: 1px solid #e3e3e3; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
)CSS";

std::string q(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

std::string gp_header(const std::string& name) {
    std::ostringstream s;
    s << "# " << name << " — written by greenknobs tune; rerun with: gnuplot " << name << ".gp\n"
      << "set encoding utf8\nset terminal svg size 960,540 dynamic noenhanced font "
      << q("DejaVu Sans,13") << " background rgb \"white\"\n"
      << "set output " << q(name + ".svg") << "\n"
      << "set grid lc rgb \"#dddddd\"\nset key outside right top\n";
    return s.str();
}

std::string gp_footer(const std::string& name) {
    return "set terminal pngcairo size 1440,810 noenhanced font \"DejaVu Sans,18\"\nset output " +
           q(name + ".png") + "\nreplot\nunset output\n";
}

struct Fig {
    std::string name, title, svg;
    bool rendered = false;
};

// The cascade: observed and predicted saving per step at the cascade fidelity.
Fig trajectory(const SearchResult& r, const std::string& dir) {
    Fig f{"tune_trajectory",
          "Cascade trajectory: saving per step (accepted, rejected) vs predicted", "", false};
    std::ostringstream data;
    data << "# step observed_saving_pct predicted_saving_pct accepted(1/0) label\n";
    int i = 0;
    for (const auto& s : r.steps) {
        if (s.phase != "cascade" && s.phase != "preserve") {
            continue;
        }
        ++i;
        data << i << " "
             << (std::isfinite(s.observed_saving_pct) ? num(s.observed_saving_pct, 3) : "NaN")
             << " "
             << (std::isfinite(s.predicted_saving_pct) ? num(s.predicted_saving_pct, 3) : "NaN")
             << " " << (s.decision == "accepted" ? 1 : 0) << " " << q(s.id) << "\n";
    }
    fs::write_file_atomic(fs::join(dir, f.name + ".dat"), data.str());
    std::ostringstream s;
    s << gp_header(f.name)
      << "set xlabel \"cascade step\"\nset ylabel \"saving vs baseline (%), cascade fidelity\"\n"
      << "set xrange [0:" << i + 1 << "]\nset xtics 1\n"
      << "plot " << q(f.name + ".dat")
      << " using 1:($4==1?$2:1/0) with points pt 7 ps 1.6 lc rgb \"#17703a\" title \"accepted\", "
         "\\\n"
      << "     '' using 1:($4==0?$2:1/0) with points pt 6 ps 1.6 lc rgb \"#b3261e\" title "
         "\"rejected\", \\\n"
      << "     '' using 1:3 with points pt 2 ps 1.3 lc rgb \"#555555\" title \"predicted\", \\\n"
      << "     '' using 1:2:5 with labels offset 0,1 notitle\n"
      << gp_footer(f.name);
    fs::write_file_atomic(fs::join(dir, f.name + ".gp"), s.str());
    return f;
}

// Every configuration measured at the cascade fidelity: energy ratio vs validation F1 drop.
Fig front_fig(const SearchResult& r, double fidelity, double budget_points,
              const std::string& dir) {
    Fig f{"tune_front",
          "Configurations at the cascade fidelity: energy vs validation F1 drop (front filled)", "",
          false};
    std::ostringstream data;
    data << "# energy_ratio val_f1_drop_points on_front(1/0) id\n";
    for (const auto& p : r.points) {
        if (p.fidelity != fidelity || !std::isfinite(p.energy_ratio)) {
            continue;
        }
        data << num(p.energy_ratio, 5) << " " << num(p.vs_baseline.f1_drop_points, 4) << " "
             << (p.on_front ? 1 : 0) << " " << q(p.id) << "\n";
    }
    fs::write_file_atomic(fs::join(dir, f.name + ".dat"), data.str());
    std::ostringstream s;
    s << gp_header(f.name)
      << "set xlabel \"energy / baseline energy\"\nset ylabel \"validation F1 drop (points)\"\n"
      << "set arrow from graph 0, first " << budget_points << " to graph 1, first " << budget_points
      << " nohead dt 2 lc rgb \"#b3261e\"\n"
      << "plot " << q(f.name + ".dat")
      << " using 1:($3==1?$2:1/0) with points pt 7 ps 1.5 lc rgb \"#1f5fa8\" title \"on the "
         "front\", \\\n"
      << "     '' using 1:($3==0?$2:1/0) with points pt 6 ps 1.3 lc rgb \"#888888\" title "
         "\"dominated\", \\\n"
      << "     '' using 1:2:4 with labels offset 0,1 notitle\n"
      << gp_footer(f.name);
    fs::write_file_atomic(fs::join(dir, f.name + ".gp"), s.str());
    return f;
}

}  // namespace

std::string write_tune_report(const TuneReportInput& in) {
    const SearchResult& r = *in.result;
    const std::string rdir = fs::join(in.out_dir, "report");
    const std::string fdir = fs::join(rdir, "figures");
    fs::make_dirs(fdir);
    const double fc = r.cascade_fidelity;
    std::vector<Fig> figs = {trajectory(r, fdir), front_fig(r, fc, in.budget.f1_drop_points, fdir)};
    std::string figures_note;
    const std::string gnuplot = in.render_figures ? process::find_executable("gnuplot") : "";
    if (gnuplot.empty()) {
        figures_note = in.render_figures ? "gnuplot not found (apt-get install gnuplot-nox): the "
                                           "data and scripts are in report/figures/"
                                         : "rendering disabled";
    }
    for (auto& f : figs) {
        if (gnuplot.empty()) {
            break;
        }
        const process::RunResult pr = process::run({gnuplot, f.name + ".gp"}, fdir);
        f.rendered = pr.exit_code == 0 && fs::exists(fs::join(fdir, f.name + ".svg"));
        if (f.rendered) {
            f.svg = report::inline_svg(fs::read_file(fs::join(fdir, f.name + ".svg")), f.name);
        }
    }
    // The verification study's own figures (energy vs F1, stages, fronts) by the study report's
    // code, over its runs.
    report::FigureSet vfigs;
    if (!in.verify_study_dir.empty()) {
        const auto records = study::load_study_records(in.verify_study_dir);
        if (!records.empty()) {
            const analysis::StudyAggregate agg = analysis::aggregate(records, "B");
            report::FigureOptions fo;
            fo.render = in.render_figures;
            vfigs = report::write_figures(agg, fs::join(fdir, "verify"), fo);
        }
    }

    std::ostringstream h;
    h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>greenknobs tune</title><style>"
      << kCss << "</style></head><body>\n<h1>greenknobs tune</h1>\n";
    h << "<p>Budget <code>" << html_escape(in.budget.text) << "</code>; settings <code>"
      << html_escape(in.settings.dump()) << "</code>. Generated " << utc_now_iso8601()
      << ". Selection used validation F1 only; test F1 was read once, after the pick.</p>\n";

    // Verdict.
    h << "<div class=\"verdict\">";
    if (r.picked >= 0) {
        const Verified& p = r.verified[static_cast<size_t>(r.picked)];
        h << "<p><b>Picked: " << html_escape(p.label) << "</b> (" << html_escape(p.id)
          << "): saves <b>" << num(p.saving_pct.mean) << " %</b> of the baseline's total energy at "
          << "full fidelity (95 % CI "
          << (p.saving_pct.ci.valid ? num(p.saving_pct.ci.low) + " to " + num(p.saving_pct.ci.high)
                                    : "n/a")
          << " %). Test F1 drop " << estimate(p.test_f1_drop, 2) << " points: the budget "
          << (p.holds_on_test ? "<span class=\"ok\">holds</span>"
                              : "<span class=\"bad\">does not hold</span>")
          << " on test (upper end of the paired CI " << num(p.test_f1_drop.upper, 2) << " vs "
          << num(in.budget.f1_drop_points, 2) << ").</p>";
        if (!in.run_hint.empty()) {
            h << "<p>Run it: <code>" << html_escape(in.run_hint) << "</code></p>";
        }
    }
    h << "<p>" << html_escape(r.pick_why) << "</p></div>\n";

    // Verification.
    h << "<h2>Verification (full fidelity, paired repeats)</h2>\n";
    if (r.verified.empty()) {
        h << "<p>Nothing verified.</p>\n";
    } else {
        h << "<table><tr><th>role</th><th>id</th><th>configuration</th><th>saving % [95 % CI]</th>"
             "<th>validation F1 drop, points</th><th>holds on validation</th><th>test F1 drop, "
             "points</th>"
             "<th>holds on test</th><th>time %</th><th>eval latency ms/batch</th></tr>\n";
        for (const auto& v : r.verified) {
            h << "<tr><td>" << v.role << "</td><td>" << html_escape(v.id) << "</td><td>"
              << html_escape(v.label) << "</td><td class=\"num\">" << estimate(v.saving_pct)
              << "</td><td class=\"num\">" << estimate(v.val_f1_drop, 2) << "</td><td>"
              << (v.holds_on_validation ? "<span class=\"ok\">yes</span>"
                                        : "<span class=\"bad\">no</span>: " + html_escape([&] {
                                              std::string s;
                                              for (const auto& x : v.validation_violations) {
                                                  s += (s.empty() ? "" : "; ") + x;
                                              }
                                              if (!v.f1_resolution_text.empty()) {
                                                  s += " (" + v.f1_resolution_text + ")";
                                              }
                                              return s;
                                          }()))
              << "</td><td class=\"num\">" << estimate(v.test_f1_drop, 2) << "</td><td>"
              << (v.test_f1_drop.n == 0 ? "not read"
                  : v.holds_on_test     ? "<span class=\"ok\">yes</span>"
                                        : "<span class=\"bad\">no</span>")
              << "</td><td class=\"num\">" << estimate(v.time_pct) << "</td><td class=\"num\">"
              << num(v.eval_latency_ms, 2) << "</td></tr>\n";
        }
        h << "</table>\n";
    }

    // Cost.
    const Accounting& a = r.accounting;
    h << "<h2>What the search cost</h2>\n<table>"
      << "<tr><td>runs with measured energy</td><td class=\"num\">" << a.runs << "</td></tr>"
      << "<tr><td>screening and cascade energy</td><td class=\"num\">"
      << num(a.search_energy_j / 3600.0, 3) << " Wh</td></tr>"
      << "<tr><td>verification energy</td><td class=\"num\">" << num(a.verify_energy_j / 3600.0, 3)
      << " Wh</td></tr>"
      << "<tr><td>in full baseline runs (measured)</td><td class=\"num\">"
      << num(a.full_run_equivalents, 2) << "</td></tr>"
      << "<tr><td>planned cost (charged against --max-runs)</td><td class=\"num\">"
      << num(r.planned_cost, 2) << "</td></tr>"
      << "<tr><td>saving per future run (full fidelity)</td><td class=\"num\">"
      << num(a.saving_per_run_j / 3600.0, 4) << " Wh</td></tr>"
      << "<tr><td>break-even: future runs after which the search has paid for itself</td><td "
         "class=\"num\">"
      << num(a.break_even_runs, 1)
      << (std::isfinite(a.break_even_runs_high)
              ? " (≤ " + num(a.break_even_runs_high, 1) + " at the low end of the saving's CI)"
              : "")
      << "</td></tr></table>\n";

    // Figures.
    h << "<h2>Figures</h2>\n";
    if (!figures_note.empty()) {
        h << "<p>" << html_escape(figures_note) << "</p>\n";
    }
    for (const auto& f : figs) {
        h << "<figure>"
          << (f.rendered ? f.svg : "<p>(not rendered: see figures/" + f.name + ".gp)</p>")
          << "<figcaption>" << html_escape(f.title) << " — <a href=\"figures/" << f.name
          << ".png\">PNG</a></figcaption></figure>\n";
    }
    for (const auto& f : vfigs.figures) {
        if (!f.rendered) {
            continue;
        }
        const std::string svg = fs::join(fs::join(fdir, "verify"), f.svg);
        h << "<figure>" << report::inline_svg(fs::read_file(svg), "v_" + f.name)
          << "<figcaption>Verification: " << html_escape(f.title) << "</figcaption></figure>\n";
    }

    // Steps.
    h << "<h2>Every step and "
         "why</h2>\n<table><tr><th>#</th><th>phase</th><th>id</th><th>configuration</th>"
         "<th>fidelity</th><th>predicted saving %</th><th>observed saving %</th><th>val F1 "
         "drop</th>"
         "<th>decision</th><th>why</th></tr>\n";
    int i = 0;
    for (const auto& s : r.steps) {
        const bool good = s.decision == "accepted" || s.decision == "promoted" ||
                          s.decision == "chosen" || s.decision == "holds" || s.decision == "picked";
        h << "<tr><td>" << ++i << "</td><td>" << s.phase << "</td><td>" << html_escape(s.id)
          << "</td><td>" << html_escape(s.label) << "</td><td class=\"num\">" << num(s.fidelity, 2)
          << "</td><td class=\"num\">" << num(s.predicted_saving_pct) << "</td><td class=\"num\">"
          << num(s.observed_saving_pct) << "</td><td class=\"num\">" << num(s.f1_drop_points, 2)
          << "</td><td class=\"" << (good ? "ok" : "bad") << "\">" << s.decision << "</td><td>"
          << html_escape(s.why) << "</td></tr>\n";
    }
    h << "</table>\n";

    // Points.
    h << "<h2>Every configuration "
         "measured</h2>\n<table><tr><th>batch</th><th>id</th><th>configuration</th>"
         "<th>fidelity</th><th>energy J</th><th>saving %</th><th>val F1</th><th>val F1 drop</th>"
         "<th>time %</th><th>front</th><th>budget</th></tr>\n";
    for (const auto& p : r.points) {
        std::string viol;
        for (const auto& v : p.violations) {
            viol += (viol.empty() ? "" : "; ") + v;
        }
        h << "<tr><td>" << html_escape(p.batch) << "</td><td>" << html_escape(p.id) << "</td><td>"
          << html_escape(p.label) << "</td><td class=\"num\">" << num(p.fidelity, 2)
          << "</td><td class=\"num\">" << num(p.outcome.energy_j, 1) << "</td><td class=\"num\">"
          << num(p.saving_pct) << "</td><td class=\"num\">" << num(p.outcome.val_f1, 3)
          << "</td><td class=\"num\">" << num(p.vs_baseline.f1_drop_points, 2)
          << "</td><td class=\"num\">" << num(p.vs_baseline.time_pct) << "</td><td>"
          << (p.on_front ? "yes" : "") << "</td><td>"
          << html_escape(p.outcome.ok ? (viol.empty() ? "within" : viol)
                                      : "failed: " + p.outcome.error)
          << "</td></tr>\n";
    }
    h << "</table>\n";

    // Space.
    h << "<h2>Search space (from " << html_escape(in.space_source)
      << ")</h2>\n<table><tr><th>id</th><th>knob</th><th>setting</th></tr>\n";
    for (const auto& m : in.space->moves) {
        h << "<tr><td>" << m.id << "</td><td>" << html_escape(m.knob) << "</td><td>"
          << html_escape(m.label) << (m.detail.empty() ? "" : ": " + html_escape(m.detail))
          << "</td></tr>\n";
    }
    h << "</table>\n";
    if (!in.space->excluded.empty()) {
        h << "<p>Excluded knobs:</p><ul>";
        for (const auto& e : in.space->excluded) {
            h << "<li><b>" << e.knob << "</b>: " << html_escape(e.why) << "</li>";
        }
        h << "</ul>\n";
    }
    h << "</body></html>\n";
    const std::string path = fs::join(rdir, "index.html");
    fs::write_file_atomic(path, h.str());
    return path;
}

}  // namespace gk::tune
