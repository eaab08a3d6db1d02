// Figure data and gnuplot scripts. The plot area is pinned with screen margins so that data
// coordinates map to pixels exactly; that is what lets place_labels() keep labels off each other
// and off the markers.
#include "greenknobs/report/figures.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "greenknobs/analysis/pareto.h"
#include "greenknobs/report/format.h"
#include "greenknobs/report/labels.h"
#include "greenknobs/report/table.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/process.h"

namespace gk::report {

namespace {

// Canvas (SVG pixels) and plot area as screen fractions. PNGs are the same layout scaled 1.5×.
constexpr double kWidthPx = 1000.0;
constexpr double kHeightPx = 680.0;
constexpr double kLeft = 0.085, kRight = 0.975, kBottom = 0.115, kTop = 0.865;
constexpr int kFontPx = 13;
constexpr double kCharPx =
    8.4;  // DejaVu Sans digits and capitals at 13 px (8.3), with a little slack
constexpr double kLinePx = 16.0;

const char* kGreen = "#2e7d32";
const char* kRed = "#c62828";
const char* kGrey = "#757575";
const char* kBlue = "#1565c0";
const char* kGold = "#f2b705";

std::string q(const std::string& s) {  // a gnuplot double-quoted string
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

std::string n(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.8g", v);
    return buf;
}

std::string header(const std::string& name) {
    std::ostringstream s;
    s << "# " << name << " — written by greenknobs report; rerun with: gnuplot " << name << ".gp\n"
      << "set encoding utf8\n"
      << "set terminal svg size " << kWidthPx << "," << kHeightPx << " dynamic noenhanced font "
      << q("DejaVu Sans," + std::to_string(kFontPx)) << " background rgb \"white\"\n"
      << "set output " << q(name + ".svg") << "\n"
      << "set lmargin at screen " << kLeft << "\nset rmargin at screen " << kRight
      << "\nset bmargin at screen " << kBottom << "\nset tmargin at screen " << kTop << "\n"
      << "set border lw 1 lc rgb \"#444444\"\nset grid lc rgb \"#dddddd\" lw 1 dt 1\n";
    return s.str();
}

std::string footer(const std::string& name) {
    // The same plot again as PNG, 1.5× larger with proportionally larger fonts: identical layout.
    std::ostringstream s;
    s << "set terminal pngcairo size " << kWidthPx * 1.5 << "," << kHeightPx * 1.5
      << " noenhanced font " << q("DejaVu Sans," + std::to_string(kFontPx * 3 / 2 - 3))
      << " background rgb \"white\"\n"
      << "set output " << q(name + ".png") << "\nreplot\nunset output\n";
    return s.str();
}

struct Range {
    double lo = 0, hi = 1;
};

Range padded(double lo, double hi, double pad_frac) {
    if (!(hi > lo)) {
        lo -= 1.0;
        hi += 1.0;
    }
    const double pad = (hi - lo) * pad_frac;
    return {lo - pad, hi + pad};
}

struct SPoint {
    std::string id;
    double x = 0, y = 0, xerr = 0, yerr = 0;
    int series = 0;
};

struct Series {
    std::string title;
    std::string colour;
    int point_type = 7;  // filled circle
};

struct Star {
    double x = 0, y = 0;
    std::string colour;
};

struct Scatter {
    std::string name, title, xlabel, ylabel;
    std::vector<Series> series;
    std::vector<SPoint> points;
    std::vector<std::string> front;  // ids, drawn as a dashed line in this order
    std::vector<Star> stars;
    std::vector<std::pair<std::string, std::string>> star_legend;  // colour, text
    bool quadrants = false;
};

// Builds data + script for a scatter; labels placed in pixel space.
void scatter_files(const Scatter& sc, std::string& data, std::string& script) {
    double xlo = sc.quadrants ? 0.0 : INFINITY, xhi = sc.quadrants ? 0.0 : -INFINITY;
    double ylo = xlo, yhi = xhi;
    for (const auto& p : sc.points) {
        xlo = std::min(xlo, p.x - p.xerr);
        xhi = std::max(xhi, p.x + p.xerr);
        ylo = std::min(ylo, p.y - p.yerr);
        yhi = std::max(yhi, p.y + p.yerr);
    }
    for (const auto& s : sc.stars) {
        xlo = std::min(xlo, s.x);
        xhi = std::max(xhi, s.x);
        ylo = std::min(ylo, s.y);
        yhi = std::max(yhi, s.y);
    }
    if (!std::isfinite(xlo)) {
        xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    }
    const Range xr = padded(xlo, xhi, 0.08);
    const Range yr = padded(ylo, yhi, 0.10);

    const double px0 = kLeft * kWidthPx, px1 = kRight * kWidthPx;
    const double py_top = (1.0 - kTop) * kHeightPx, py_bottom = (1.0 - kBottom) * kHeightPx;
    auto to_px = [&](double x, double y) {
        return std::make_pair(px0 + (x - xr.lo) / (xr.hi - xr.lo) * (px1 - px0),
                              py_top + (yr.hi - y) / (yr.hi - yr.lo) * (py_bottom - py_top));
    };
    auto to_data = [&](double px, double py) {
        return std::make_pair(xr.lo + (px - px0) / (px1 - px0) * (xr.hi - xr.lo),
                              yr.hi - (py - py_top) / (py_bottom - py_top) * (yr.hi - yr.lo));
    };

    std::ostringstream d;
    d << "# " << sc.name << ": one block per series (x y xerr yerr id), then the Pareto front\n";
    std::vector<int> block_of_series(sc.series.size(), -1);
    int block = 0;
    for (size_t si = 0; si < sc.series.size(); ++si) {
        bool any = false;
        for (const auto& p : sc.points) {
            if (p.series == static_cast<int>(si)) {
                if (!any) {
                    d << "# series: " << sc.series[si].title << "\n";
                }
                any = true;
                d << n(p.x) << " " << n(p.y) << " " << n(p.xerr) << " " << n(p.yerr) << " " << p.id
                  << "\n";
            }
        }
        if (any) {
            block_of_series[si] = block++;
            d << "\n\n";
        }
    }
    int front_block = -1;
    if (sc.front.size() >= 2) {
        d << "# Pareto front\n";
        for (const auto& id : sc.front) {
            for (const auto& p : sc.points) {
                if (p.id == id) {
                    d << n(p.x) << " " << n(p.y) << " 0 0 " << p.id << "\n";
                }
            }
        }
        front_block = block++;
        d << "\n\n";
    }
    data = d.str();

    std::ostringstream s;
    s << header(sc.name);
    s << "set title " << q(sc.title) << " font \",15\" offset 0,1.6\n";
    s << "set xlabel " << q(sc.xlabel) << "\nset ylabel " << q(sc.ylabel) << "\n";
    s << "set xrange [" << n(xr.lo) << ":" << n(xr.hi) << "]\nset yrange [" << n(yr.lo) << ":"
      << n(yr.hi) << "]\n";
    s << "set key at screen 0.5, screen " << n(kTop + 0.045) << " center center horizontal "
      << "samplen 1.5 spacing 1 width 2\n";
    if (sc.quadrants) {
        s << "set xzeroaxis lt 1 lc rgb \"#555555\" lw 1\nset yzeroaxis lt 1 lc rgb \"#555555\" lw "
             "1\n";
        s << "set object 1 rect from " << n(xr.lo) << "," << n(yr.lo)
          << " to 0,0 fc rgb \"#e8f5e9\" "
          << "fs solid 1.0 noborder behind\n";
        s << "set object 2 rect from 0,0 to " << n(xr.hi) << "," << n(yr.hi)
          << " fc rgb \"#fdecea\" "
          << "fs solid 1.0 noborder behind\n";
        s << "set object 3 rect from " << n(xr.lo) << ",0 to 0," << n(yr.hi)
          << " fc rgb \"#f3f3f3\" "
          << "fs solid 1.0 noborder behind\n";
        s << "set object 4 rect from 0," << n(yr.lo) << " to " << n(xr.hi)
          << ",0 fc rgb \"#f3f3f3\" "
          << "fs solid 1.0 noborder behind\n";
    }
    // Star legend on the line under the key, centred: each entry is a star, a space and its text.
    double legend_w = 0.0;
    for (const auto& entry : sc.star_legend) {
        legend_w += (3.0 + static_cast<double>(entry.second.size())) * kCharPx / kWidthPx + 0.03;
    }
    double legend_x = 0.5 - legend_w / 2.0;
    for (const auto& [colour, text] : sc.star_legend) {
        s << "set label " << q("\u2605") << " at screen " << n(legend_x) << ", screen "
          << n(kTop + 0.012) << " left tc rgb " << q(colour) << " font \",17\" front\n";
        s << "set label " << q(text) << " at screen " << n(legend_x + 2.5 * kCharPx / kWidthPx)
          << ", screen " << n(kTop + 0.012) << " left front\n";
        legend_x += (3.0 + static_cast<double>(text.size())) * kCharPx / kWidthPx + 0.03;
    }
    for (const auto& st : sc.stars) {
        s << "set label " << q("\u2605") << " at " << n(st.x) << "," << n(st.y) << " center tc rgb "
          << q(st.colour) << " font \",24\" front\n";
    }

    // Labels: one per point, placed against markers, stars and each other.
    std::vector<std::pair<double, double>> pts_px, sizes;
    for (const auto& p : sc.points) {
        pts_px.push_back(to_px(p.x, p.y));
        sizes.emplace_back(kCharPx * static_cast<double>(p.id.size()) + 8.0, kLinePx);
    }
    std::vector<std::pair<double, double>> obstacles = pts_px;
    for (const auto& st : sc.stars) {
        obstacles.push_back(to_px(st.x, st.y));
    }
    LabelBox bounds{px0, py_top, px1 - px0, py_bottom - py_top};
    // Stars are obstacles too: place_labels sees them as extra points without labels.
    std::vector<std::pair<double, double>> sizes_all = sizes;
    sizes_all.resize(obstacles.size(), {0.0, 0.0});
    const auto placed = place_labels(obstacles, sizes_all, bounds, 7.0);
    for (size_t i = 0; i < sc.points.size(); ++i) {
        const auto& pl = placed[i];
        const auto at = to_data(pl.box.x + 4.0, pl.box.y + pl.box.h / 2.0);
        s << "set label " << q(sc.points[i].id) << " at " << n(at.first) << "," << n(at.second)
          << " left front tc rgb \"#222222\"\n";
        if (pl.leader) {
            // From the point to the nearest edge midpoint of the label box.
            const double cx = std::clamp(pl.anchor_x, pl.box.x, pl.box.x + pl.box.w);
            const double cy = std::clamp(pl.anchor_y, pl.box.y, pl.box.y + pl.box.h);
            const auto from = to_data(pl.anchor_x, pl.anchor_y);
            const auto to = to_data(cx, cy);
            s << "set arrow from " << n(from.first) << "," << n(from.second) << " to "
              << n(to.first) << "," << n(to.second) << " nohead lc rgb \"#616161\" lw 0.9 front\n";
        }
    }

    std::vector<std::string> clauses;
    for (size_t si = 0; si < sc.series.size(); ++si) {
        if (block_of_series[si] < 0) {
            continue;
        }
        const auto& se = sc.series[si];
        const std::string idx = " index " + std::to_string(block_of_series[si]);
        clauses.push_back(q(sc.name + ".dat") + idx + " using 1:2:3:4 with xyerrorbars lc rgb " +
                          q(se.colour) + " lw 1 pt " + std::to_string(se.point_type) +
                          " ps 1.1 title " + q(se.title));
    }
    if (front_block >= 0) {
        clauses.push_back(q(sc.name + ".dat") + " index " + std::to_string(front_block) +
                          " using 1:2 with lines dt 2 lw 1.6 lc rgb " + q(kBlue) +
                          " title \"Pareto front\"");
    }
    if (clauses.empty()) {
        clauses.push_back("NaN notitle");
    }
    s << "plot ";
    for (size_t i = 0; i < clauses.size(); ++i) {
        s << (i ? ", \\\n     " : "") << clauses[i];
    }
    s << "\n" << footer(sc.name);
    script = s.str();
}

double half(const analysis::Interval& ci) { return ci.valid ? ci.half_width() : 0.0; }

FigureFile fig2(const analysis::StudyAggregate& st, std::string& data, std::string& script) {
    Scatter sc;
    sc.name = "fig2_eval_tradeoff";
    sc.title =
        "Evaluation energy vs evaluation time, change vs " + st.baseline + " (mean \u00b1 95 % CI)";
    sc.xlabel = "\u0394 evaluation time vs " + st.baseline + " (%)";
    sc.ylabel = "\u0394 evaluation energy vs " + st.baseline + " (%)";
    sc.quadrants = true;
    sc.series = {{"both better", kGreen, 7}, {"both worse", kRed, 7}, {"mixed", kGrey, 7}};
    const analysis::VariantAggregate* lowest = nullptr;
    for (const auto& v : st.variants) {
        if (!v.eval_energy_j.empty() &&
            (lowest == nullptr || v.eval_energy_j.mean() < lowest->eval_energy_j.mean())) {
            lowest = &v;
        }
        if (v.variant == st.baseline || !v.d_eval_energy.available || !v.d_eval_time.available) {
            continue;
        }
        SPoint p;
        p.id = v.variant;
        p.x = v.d_eval_time.pct;
        p.y = v.d_eval_energy.pct;
        p.xerr = half(v.d_eval_time.pct_ci);
        p.yerr = half(v.d_eval_energy.pct_ci);
        p.series = (p.x < 0 && p.y < 0) ? 0 : (p.x > 0 && p.y > 0) ? 1 : 2;
        sc.points.push_back(p);
    }
    sc.stars.push_back({0.0, 0.0, kRed});
    sc.star_legend.emplace_back(kRed, "baseline " + st.baseline + " (origin)");
    if (lowest != nullptr) {
        const auto& v = *lowest;
        const double x = v.variant == st.baseline ? 0.0 : v.d_eval_time.pct;
        const double y = v.variant == st.baseline ? 0.0 : v.d_eval_energy.pct;
        sc.stars.push_back({x, y, kGold});
        sc.star_legend.emplace_back(kGold, "lowest evaluation energy: " + v.variant);
    }
    scatter_files(sc, data, script);
    FigureFile f;
    f.name = sc.name;
    f.title =
        "Figure 2. \u0394 evaluation energy vs \u0394 evaluation time per variant, relative to " +
        st.baseline +
        ". Green: both better; red: both worse; grey: mixed. Error bars: 95 % CIs (none for single "
        "runs). Red star: the baseline; yellow star: the empirical lower bound (lowest mean "
        "evaluation energy).";
    return f;
}

FigureFile pareto_fig(const analysis::StudyAggregate& st, bool vs_f1, std::string& data,
                      std::string& script) {
    Scatter sc;
    sc.name = vs_f1 ? "energy_vs_f1" : "energy_vs_time";
    sc.series = {{"on the Pareto front", kBlue, 7}, {"dominated", kGrey, 6}};
    std::vector<analysis::ParetoPoint> pts;
    for (const auto& v : st.variants) {
        if (v.total_energy_j.empty() || (vs_f1 ? v.f1_vul.empty() : v.total_duration_s.empty())) {
            continue;
        }
        SPoint p;
        p.id = v.variant;
        p.x = v.total_energy_j.mean() / kJoulesPerWh;
        p.xerr = half(v.total_energy_j.summary.ci) / kJoulesPerWh;
        if (vs_f1) {
            p.y = v.f1_vul.mean();
            p.yerr = half(v.f1_vul.summary.ci);
        } else {
            p.x = v.total_duration_s.mean();
            p.xerr = half(v.total_duration_s.summary.ci);
            p.y = v.total_energy_j.mean() / kJoulesPerWh;
            p.yerr = half(v.total_energy_j.summary.ci) / kJoulesPerWh;
        }
        sc.points.push_back(p);
        pts.push_back({p.id, p.x, p.y});
        if (v.variant == st.baseline) {
            sc.stars.push_back({p.x, p.y, kRed});
        }
    }
    // The primary metric's best is its highest value, or its lowest for a loss (a command study).
    sc.front = analysis::pareto_front(pts, /*minimize_x=*/true,
                                      /*minimize_y=*/vs_f1 ? !st.primary_higher_is_better : true);
    for (auto& p : sc.points) {
        p.series = std::find(sc.front.begin(), sc.front.end(), p.id) != sc.front.end() ? 0 : 1;
    }
    sc.star_legend.emplace_back(kRed, "baseline " + st.baseline);
    const bool f1 = st.primary_metric == "f1_vul";
    const std::string words = primary_words(st);
    if (vs_f1 && f1) {
        sc.title = "Total energy vs F1 of the vulnerable class (mean \u00b1 95 % CI)";
        sc.xlabel = "Total energy per run (Wh)";
        sc.ylabel = "F1, vulnerable class (0\u20131)";
    } else if (vs_f1) {
        sc.title = "Total energy vs " + words + " (mean \u00b1 95 % CI)";
        sc.xlabel = "Total energy per run (Wh)";
        sc.ylabel =
            words + (st.primary_higher_is_better ? " (higher is better)" : " (lower is better)");
    } else {
        sc.title = "Total energy vs total time (mean \u00b1 95 % CI)";
        sc.xlabel = "Total time per run (s)";
        sc.ylabel = "Total energy per run (Wh)";
    }
    scatter_files(sc, data, script);
    FigureFile f;
    f.name = sc.name;
    f.title =
        vs_f1 && f1
            ? "Energy vs F1 (vulnerable class): the dashed line joins the Pareto front (lowest "
              "energy for its F1; strict dominance on variant means)."
        : vs_f1 ? "Energy vs " + words +
                      ": the dashed line joins the Pareto front (lowest energy for its " + words +
                      ", " + (st.primary_higher_is_better ? "higher" : "lower") +
                      " being better; strict dominance on variant means)."
                : "Energy vs time: the dashed line joins the Pareto front (no variant is both "
                  "faster and cheaper; strict dominance on variant means).";
    return f;
}

FigureFile stage_bars(const analysis::StudyAggregate& st, const std::vector<std::string>& own,
                      std::string& data, std::string& script) {
    std::vector<std::pair<std::string, std::string>> segments = {
        {"load_dataset", "#8d6e63"}, {"tokenize", "#ffb300"},       {"load_model", "#7e57c2"},
        {"train", "#1e88e5"},        {"train/validate", "#90caf9"}, {"save", "#26a69a"},
        {"evaluate", "#e53935"}};
    if (!own.empty()) {
        // A command's own stages, coloured in turn (top level only: nested ones are inside).
        static const char* kPalette[] = {"#8d6e63", "#ffb300", "#7e57c2", "#1e88e5",
                                         "#26a69a", "#e53935", "#90caf9", "#6d4c41"};
        segments.clear();
        for (size_t i = 0; i < own.size(); ++i) {
            segments.emplace_back(own[i], kPalette[i % (sizeof kPalette / sizeof kPalette[0])]);
        }
    }
    const bool pipeline = own.empty();
    std::ostringstream d;
    d << "# variant";
    for (const auto& [seg, colour] : segments) {
        std::string col_name = !pipeline                 ? seg
                               : seg == "train"          ? "train_steps"
                               : seg == "train/validate" ? "validate"
                                                         : seg;
        for (char& c : col_name) {
            c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';  // one token per column
        }
        d << " " << col_name << "_wh";
    }
    d << " total_wh total_ci95_wh\n";
    double ymax = 0.0;
    for (const auto& v : st.variants) {
        d << v.variant;
        const auto* val = v.stage(analysis::kValidateStage);
        const double validate_j = val ? val->energy_j.mean() : 0.0;
        for (const auto& [seg, colour] : segments) {
            const auto* sa = v.stage(seg);
            double e = sa ? sa->energy_j.mean() : 0.0;
            if (pipeline && seg == "train") {
                e = std::max(0.0,
                             e - validate_j);  // validation is nested inside train: shown apart
            }
            d << " " << n(e / kJoulesPerWh);
        }
        const double total = v.total_energy_j.empty() ? 0.0 : v.total_energy_j.mean();
        const double ci = half(v.total_energy_j.summary.ci);
        ymax = std::max(ymax, (total + ci) / kJoulesPerWh);
        d << " " << n(total / kJoulesPerWh) << " " << n(ci / kJoulesPerWh) << "\n";
    }
    data = d.str();
    std::ostringstream s;
    s << header("stage_energy");
    s << "set rmargin at screen 0.83\n";
    s << "set title \"Energy per stage and variant (mean of the runs; error bar: 95 % CI of the "
         "total)\" "
         "font \",15\" offset 0,0.5\n";
    s << "set ylabel \"Energy per run (Wh)\"\nset xlabel \"Variant\"\n";
    s << "set yrange [0:" << n(ymax > 0 ? ymax * 1.08 : 1.0) << "]\n";
    s << "set style data histograms\nset style histogram rowstacked\n"
         "set style fill solid 0.92 border rgb \"white\"\nset boxwidth 0.72\nset grid noxtics "
         "ytics\n";
    s << "set xtics " << (st.variants.size() > 12 ? "rotate by 90 right" : "nomirror") << "\n";
    s << "set key at screen 0.99, screen " << n(kTop)
      << " right top vertical reverse Left samplen 1.2 "
         "title \"Stage\"\n";
    s << "plot ";
    int col = 2;
    for (const auto& [seg, colour] : segments) {
        const std::string title = !pipeline                 ? seg
                                  : seg == "train"          ? "train (steps)"
                                  : seg == "train/validate" ? "validate (in train)"
                                                            : seg;
        s << (col > 2 ? ", \\\n     " : "") << "\"stage_energy.dat\" using " << col
          << (col == 2 ? ":xtic(1)" : "") << " lc rgb " << q(colour) << " title " << q(title);
        ++col;
    }
    s << ", \\\n     \"stage_energy.dat\" using 0:" << col << ":" << col + 1
      << " with yerrorbars lc rgb \"#212121\" pt -1 lw 1 notitle\n";
    s << footer("stage_energy");
    script = s.str();
    FigureFile f;
    f.name = "stage_energy";
    f.title = pipeline ? "Energy per pipeline stage (stacked, Wh per run). Validation runs inside "
                         "the train stage and is shown as its own segment; the error bar is the "
                         "95 % CI of the total."
                       : "Energy per stage the command reported (stacked, Wh per run; nested "
                         "stages are inside their parent); the error bar is the 95 % CI of the "
                         "total, which also holds what ran outside every stage.";
    return f;
}

}  // namespace

FigureSet write_figures(const analysis::StudyAggregate& study, const std::string& dir,
                        const FigureOptions& opt) {
    fs::make_dirs(dir);
    FigureSet set;
    auto emit = [&](FigureFile f, const std::string& data, const std::string& script) {
        f.script = f.name + ".gp";
        f.data = f.name + ".dat";
        f.svg = f.name + ".svg";
        f.png = f.name + ".png";
        fs::write_file_atomic(fs::join(dir, f.data), data);
        fs::write_file_atomic(fs::join(dir, f.script), script);
        set.figures.push_back(f);
    };
    std::string data, script;
    {
        FigureFile f = fig2(study, data, script);
        emit(f, data, script);
    }
    {
        FigureFile f = stage_bars(study, opt.stages, data, script);
        emit(f, data, script);
    }
    {
        FigureFile f = pareto_fig(study, true, data, script);
        emit(f, data, script);
    }
    {
        FigureFile f = pareto_fig(study, false, data, script);
        emit(f, data, script);
    }
    if (!opt.render) {
        set.skipped_why = "rendering disabled";
        return set;
    }
    const std::string gnuplot = process::find_executable(opt.gnuplot);
    if (gnuplot.empty()) {
        set.skipped_why =
            "gnuplot not found (looked for '" + opt.gnuplot +
            "'; on Debian: apt-get install gnuplot-nox); the data files and scripts are "
            "in the figures directory";
        return set;
    }
    set.gnuplot_found = true;
    for (auto& f : set.figures) {
        std::remove(fs::join(dir, f.svg).c_str());
        std::remove(fs::join(dir, f.png).c_str());
        const process::RunResult r = process::run({gnuplot, f.script}, dir);
        f.rendered = r.exit_code == 0 && fs::exists(fs::join(dir, f.svg));
        if (!f.rendered) {
            set.errors.push_back(f.name + ": gnuplot exited with " + std::to_string(r.exit_code) +
                                 (r.stderr_text.empty() ? "" : ": " + r.stderr_text));
        }
    }
    return set;
}

}  // namespace gk::report
