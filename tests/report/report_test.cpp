// The report end to end on synthetic studies: Table I golden files (md/csv/tex), figure scripts and
// SVGs (axis labels present), the missing-gnuplot path, the HTML page (every variant, no nan/inf,
// no scripts or external fetches), label placement without overlaps, and number formatting.
#include "greenknobs/report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <regex>

#include <gtest/gtest.h>

#include "greenknobs/report/figures.h"
#include "greenknobs/report/format.h"
#include "greenknobs/report/html.h"
#include "greenknobs/report/labels.h"
#include "greenknobs/report/table.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/process.h"

#include "../analysis/synthetic_run.h"

namespace gk::report {
namespace {

using gk::testing::make_record;
using gk::testing::SyntheticRun;

const std::string kSrc = GK_SOURCE_DIR;
const std::string kBin = GK_BINARY_DIR;

std::string out_dir(const std::string& name) {
    const std::string d = kBin + "/tests/report/out/" + name;
    std::filesystem::remove_all(d);
    return d;
}

// A small fixed study: V0 and V7 with 3 runs, V11 with one run, V27 = V11 + V7 (2 runs).
std::vector<analysis::RunRecord> small_study() {
    std::vector<analysis::RunRecord> runs;
    auto add = [&](const std::string& v, const std::vector<double>& e,
                   const std::vector<double>& f1, double time_s, double eval_s,
                   std::vector<std::string> knobs) {
        for (size_t i = 0; i < e.size(); ++i) {
            SyntheticRun s;
            s.variant = v;
            s.repeat = static_cast<int>(i);
            s.total_energy_j = e[i];
            s.total_time_s = time_s * (1.0 + 0.01 * static_cast<double>(i));
            s.eval_time_s = eval_s * (1.0 + 0.02 * static_cast<double>(i));
            s.f1_vul = f1[i];
            s.f1_weighted = 0.95 + (f1[i] - 0.8) / 4;
            s.knobs = knobs;
            runs.push_back(make_record(s));
        }
    };
    add("V0", {36000, 36500, 35800}, {0.80, 0.81, 0.79}, 900, 120, {});
    add("V7", {28800, 29000, 28500}, {0.795, 0.80, 0.79}, 760, 100, {"precision"});
    add("V11", {22000}, {0.80}, 600, 110, {"compile"});
    add("V27", {17500, 17900}, {0.79, 0.80}, 480, 95, {"compile", "precision"});
    return runs;
}

std::vector<analysis::VariantInfo> small_infos() {
    return {{"V0", "Baseline (ModernBERT)", "baseline", {}},
            {"V7", "FP16 Training", "training", {}},
            {"V11", "Torch Compile", "system", {}},
            {"V27", "Torch Compile + FP16", "system+training", {"V11", "V7"}}};
}

// "nan", "-nan", "inf" as printf writes them, as words (not "provenance"; the paper name "Inf+..."
// is fine).
bool has_non_finite_token(const std::string& text) {
    static const std::regex kBad("(^|[^A-Za-z])(nan|NaN|inf|infinity)([^A-Za-z]|$)");
    return std::regex_search(text, kBad);
}

void expect_golden(const std::string& name, const std::string& actual) {
    const std::string path = kSrc + "/tests/report/golden/" + name;
    if (std::getenv("GK_UPDATE_GOLDEN") != nullptr) {
        fs::write_file_atomic(path, actual);
    }
    ASSERT_TRUE(fs::exists(path)) << path << " missing; run with GK_UPDATE_GOLDEN=1";
    EXPECT_EQ(actual, fs::read_file(path)) << "golden file " << path << " differs";
}

TableInput small_table(analysis::StudyAggregate& study) {
    study = analysis::aggregate(small_study(), "V0", small_infos());
    TableInput t;
    t.study = &study;
    t.paper = analysis::load_paper_table(kSrc + "/data/reference/paper_table1.csv");
    return t;
}

TEST(TableOne, MarkdownGolden) {
    analysis::StudyAggregate s;
    expect_golden("table1.md", table1_markdown(small_table(s)));
}

TEST(TableOne, CsvGolden) {
    analysis::StudyAggregate s;
    expect_golden("table1.csv", table1_csv(small_table(s)));
}

TEST(TableOne, LatexGolden) {
    analysis::StudyAggregate s;
    const std::string tex = table1_latex(small_table(s));
    expect_golden("table1.tex", tex);
    EXPECT_NE(tex.find("\\toprule"), std::string::npos);
    EXPECT_NE(tex.find("\\bottomrule"), std::string::npos);
}

// The cells of one Markdown row, trimmed.
std::vector<std::string> md_row(const std::string& md, const std::string& variant) {
    const size_t at = md.find("| " + variant + " |");
    EXPECT_NE(at, std::string::npos) << variant;
    if (at == std::string::npos) {
        return {};
    }
    const std::string line = md.substr(at, md.find('\n', at) - at);
    std::vector<std::string> cells;
    size_t from = 1;
    for (size_t bar; (bar = line.find(" |", from)) != std::string::npos; from = bar + 2) {
        cells.push_back(line.substr(from + 1, bar - from - 1));
    }
    return cells;
}

// Repeat r of both variants shares a repeat-level factor (same seed and data order): paired, the
// 5 % saving is significant; with one repeat of the variant gone, Welch's test calls the same kind
// of data ns. Table I says which test each row used.
TEST(TableOne, SaysWhichTestEachRowUsedAndPairingFindsWhatWelchMisses) {
    auto study = [](bool drop) {
        std::vector<analysis::RunRecord> runs;
        const std::vector<double> base = {36000, 41400, 32400, 38880};
        const std::vector<double> keep = {0.950, 0.954, 0.947, 0.951};
        for (size_t r = 0; r < base.size(); ++r) {
            SyntheticRun b;
            b.variant = "V0";
            b.repeat = static_cast<int>(r);
            b.total_energy_j = base[r];
            runs.push_back(make_record(b));
            if (drop && r == base.size() - 1) {
                continue;
            }
            SyntheticRun v = b;
            v.variant = "V7";
            v.total_energy_j = base[r] * keep[r];
            runs.push_back(make_record(v));
        }
        return analysis::aggregate(runs, "V0", small_infos());
    };
    analysis::StudyAggregate paired = study(false);
    TableInput t;
    t.study = &paired;
    const std::vector<std::string> header = md_row(table1_markdown(t), "Variant");
    const auto col = [&](const std::string& name) {
        return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
    };
    ASSERT_LT(col("\u0394 test"), header.size());
    ASSERT_LT(col("\u0394Total (%)"), header.size());
    const auto row = md_row(table1_markdown(t), "V7");
    ASSERT_EQ(row.size(), header.size());
    EXPECT_EQ(row[col("\u0394 test")], "paired t, 4 pairs");
    EXPECT_EQ(row[col("\u0394Total (%)")].find(" ns"), std::string::npos)
        << row[col("\u0394Total (%)")];
    EXPECT_EQ(md_row(table1_markdown(t), "V0")[col("\u0394 test")], "baseline");

    analysis::StudyAggregate unpaired = study(true);
    t.study = &unpaired;
    const auto row_w = md_row(table1_markdown(t), "V7");
    ASSERT_EQ(row_w.size(), header.size());
    EXPECT_EQ(row_w[col("\u0394 test")], "Welch (V7 has no repeat 3 to pair with V0's)");
    EXPECT_NE(row_w[col("\u0394Total (%)")].find(" ns"), std::string::npos)
        << row_w[col("\u0394Total (%)")];
    // The CSV names the method per Δ and carries the bootstrap interval.
    t.study = &paired;
    const std::string csv = table1_csv(t);
    EXPECT_NE(csv.find(",paired t,"), std::string::npos);
    EXPECT_NE(csv.find("delta_total_pct_boot95_low"), std::string::npos);
}

TEST(TableOne, ContentIsRight) {
    analysis::StudyAggregate s;
    const std::string md = table1_markdown(small_table(s));
    // V0 total: mean 36100 J = 10.03 Wh; V7 −20.2 %; the paper's V7 ΔTotal −20.5; V11 has one run.
    EXPECT_NE(md.find("| V7 | FP16 Training | 3 |"), std::string::npos);
    EXPECT_NE(md.find("\u221220.5 |"), std::string::npos);
    EXPECT_NE(md.find("(n = 1)"), std::string::npos);
    EXPECT_FALSE(has_non_finite_token(md));
    const std::string csv = table1_csv(small_table(s));
    EXPECT_NE(csv.find("V11,Torch Compile,1,modelled"), std::string::npos);
}

TEST(Format, SignificantFiguresFollowTheInterval) {
    analysis::Summary s = analysis::summarize({0.851, 0.840, 0.862});
    EXPECT_EQ(mean_ci(s), "0.851 \u00b1 0.027");
    EXPECT_EQ(mean_ci(analysis::summarize({1234.4})),
              "1234 (n = 1)");  // no rounding left of the point
    EXPECT_EQ(mean_ci(analysis::summarize({-2.0, -2.2}), 1.0, Style::kAscii), "-2.1 +/- 1.3");
    EXPECT_EQ(mean_ci(analysis::summarize({0.95, 0.95})), "0.950 \u00b1 0");  // identical runs
    EXPECT_EQ(fixed(-0.0001, 2), "0.00");
    EXPECT_EQ(fixed(-1.5, 1), "\u22121.5");
    EXPECT_EQ(fixed(NAN, 1), "n/a");
    EXPECT_EQ(latex_escape("a_b 5%"), "a\\_b 5\\%");
    EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
}

TEST(Labels, PlacementAvoidsOverlapsInACrowd) {
    // 31 points in a tight cluster, like the pruning variants of Figure 2.
    std::vector<std::pair<double, double>> pts, sizes;
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int i = 0; i < 31; ++i) {
        pts.emplace_back(300 + 250 * u(rng), 200 + 200 * u(rng));
        sizes.emplace_back(8.0 * (i < 10 ? 2 : 3) + 4, 16);
    }
    const LabelBox bounds{85, 55, 890, 545};
    const auto placed = place_labels(pts, sizes, bounds);
    ASSERT_EQ(placed.size(), pts.size());
    double total_overlap = 0.0;
    for (size_t i = 0; i < placed.size(); ++i) {
        EXPECT_NEAR(overlap_area(placed[i].box, bounds), placed[i].box.w * placed[i].box.h, 1e-9);
        for (size_t j = i + 1; j < placed.size(); ++j) {
            total_overlap += overlap_area(placed[i].box, placed[j].box);
        }
    }
    EXPECT_EQ(total_overlap, 0.0);
}

TEST(Html, InlineSvgPrefixesIds) {
    const std::string svg =
        "<?xml version=\"1.0\"?>\n<svg><g id=\"gnuplot_canvas\"><use xlink:href='#gpPt7'/>"
        "</g></svg>";
    const std::string s = inline_svg(svg, "f2_");
    EXPECT_EQ(s.rfind("<svg", 0), 0u);
    EXPECT_NE(s.find("id=\"f2_gnuplot_canvas\""), std::string::npos);
    EXPECT_NE(s.find("#f2_gpPt7"), std::string::npos);
}

// Paper-like study of all 31 variants (3 repeats, ±1 % noise): the visual check of crowded figures.
std::vector<analysis::RunRecord> paper_like_study(int repeats) {
    const auto paper = analysis::load_paper_table(kSrc + "/data/reference/paper_table1.csv");
    std::mt19937 rng(11);
    std::normal_distribution<double> noise(0.0, 0.01);
    std::vector<analysis::RunRecord> runs;
    for (const auto& row : paper) {
        const double eval_kwh = row.delta_eval_time_pct;  // unused: eval energy below from ratio
        (void)eval_kwh;
        for (int r = 0; r < repeats; ++r) {
            SyntheticRun s;
            s.variant = row.variant;
            s.repeat = r;
            // kWh on a GPU → Wh-scale CPU runs: divide by 100, keep the ratios.
            s.total_energy_j = row.total_kwh * 3.6e6 / 100.0 * (1.0 + noise(rng));
            s.total_time_s = row.total_time_s / 20.0 * (1.0 + noise(rng));
            s.eval_time_s = row.eval_time_s / 20.0 * (1.0 + noise(rng));
            s.eval_energy_j = s.total_energy_j * 0.087 * (1.0 + 2 * noise(rng)) *
                              (row.eval_time_s / row.total_time_s) / (517.0 / 7920.0);
            s.eval_energy_j = std::min(s.eval_energy_j, 0.5 * s.total_energy_j);
            s.f1_vul = 0.80 + row.delta_f1_pct / 100.0 + 0.5 * noise(rng);
            s.f1_weighted = 0.95 + row.delta_f1_pct / 400.0;
            s.knobs = {row.variant == "V0" ? std::string() : "knob_" + row.variant};
            if (row.variant == "V0") {
                s.knobs.clear();
            }
            runs.push_back(make_record(s));
        }
    }
    return runs;
}

// A catalog like variants/paper.toml: names and phases from the paper, the combinations' component
// lists (X1, a variant not in this study, makes V23 and V25 "components not measured").
gk::knobs::Catalog paper_like_catalog() {
    const std::map<std::string, std::vector<std::string>> combines = {
        {"V23", {"V12", "V10", "V6", "X1"}},
        {"V24", {"V9", "V1", "V2", "V7"}},
        {"V25", {"X1", "V7", "V1"}},
        {"V26", {"V18", "V8", "V11"}},
        {"V27", {"V11", "V7"}},
        {"V28", {"V18", "V11", "V7"}},
        {"V29", {"V12", "V10", "V6"}},
        {"V30", {"V1", "V2", "V4", "V6", "V7", "V8", "V9", "V10", "V12", "V21"}}};
    gk::knobs::Catalog cat;
    for (const auto& row : analysis::load_paper_table(kSrc + "/data/reference/paper_table1.csv")) {
        gk::knobs::Variant v;
        v.id = row.variant;
        v.name = row.description;
        v.phase = row.stages.empty() ? "baseline" : row.stages;
        const auto it = combines.find(v.id);
        if (it != combines.end()) {
            v.combines = it->second;
        }
        v.differs_from_paper = "synthetic test data shaped like the paper's " + v.id;
        cat.variants.push_back(v);
    }
    return cat;
}

TEST(Report, ThirtyOneVariantsEndToEnd) {
    const std::string dir = out_dir("paper31");
    const gk::knobs::Catalog cat = paper_like_catalog();
    ReportOptions opt;
    opt.catalog = &cat;
    opt.out_dir = dir;
    opt.paper_table_csv = kSrc + "/data/reference/paper_table1.csv";
    opt.title = "Synthetic 31-variant study (test data)";
    opt.failed_runs = 2;
    const auto runs = paper_like_study(3);
    const ReportPaths p = write_report(runs, opt);
    const std::string html = fs::read_file(p.html);
    for (int i = 0; i <= 30; ++i) {
        EXPECT_NE(html.find("<b>V" + std::to_string(i) + "</b>"), std::string::npos) << "V" << i;
    }
    EXPECT_FALSE(has_non_finite_token(html));
    for (const char* bad : {"<script", "http://", "https://", "<link", "@import"}) {
        // The only URL allowed is the SVG namespace declaration gnuplot writes.
        std::string h = html;
        for (const char* ok : {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}) {
            for (size_t pos; (pos = h.find(ok)) != std::string::npos;) {
                h.erase(pos, std::string(ok).size());
            }
        }
        EXPECT_EQ(h.find(bad), std::string::npos) << "found '" << bad << "'";
    }
    EXPECT_NE(html.find("2 failed (not used)"), std::string::npos);
    // Modelled totals are shown with their stated range, never bare.
    EXPECT_NE(html.find("stated range"), std::string::npos);
    EXPECT_NE(html.find("components not measured: X1"), std::string::npos);
    // Which test each number used: Table I's column, each variant's detail, the interactions.
    EXPECT_NE(html.find(">\u0394 test</th>"), std::string::npos);
    EXPECT_NE(html.find("\u0394 test: paired t, 3 pairs"), std::string::npos);
    EXPECT_NE(html.find("significant (paired t, p"), std::string::npos);
    EXPECT_NE(html.find("<th>Method</th>"), std::string::npos);
    EXPECT_NE(html.find("paired t, 3 repeats; bootstrap ["), std::string::npos);
    EXPECT_NE(html.find("synthetic test data shaped like the paper's V7"), std::string::npos);
    // The recommendation says whether its saving is resolved, and what other budgets would buy.
    EXPECT_TRUE(html.find("The saving is significant") != std::string::npos ||
                html.find("The saving is not significant") != std::string::npos ||
                html.find("Keep the baseline") != std::string::npos);
    EXPECT_NE(html.find("<b>At other budgets</b>"), std::string::npos);
    EXPECT_NE(html.find("1.00 (this report)"), std::string::npos);
    EXPECT_NE(html.find("5.00</td>"), std::string::npos);
    EXPECT_TRUE(fs::exists(p.table_md));
    EXPECT_TRUE(fs::exists(p.table_csv));
    EXPECT_TRUE(fs::exists(p.table_tex));
    if (process::find_executable("gnuplot").empty()) {
        GTEST_SKIP() << "gnuplot not installed: SVG checks skipped";
    }
    ASSERT_EQ(p.figures_svg.size(), 4u) << p.figures_skipped_why;
    EXPECT_EQ(p.figures_png.size(), 4u);
    const std::string fig2 = fs::read_file(dir + "/figures/fig2_eval_tradeoff.svg");
    EXPECT_NE(fig2.find("evaluation time vs V0 (%)"), std::string::npos);
    EXPECT_NE(fig2.find("evaluation energy vs V0 (%)"), std::string::npos);
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(fs::read_file(dir + "/figures/stage_energy.svg").find("Energy per run (Wh)"),
              std::string::npos);
    EXPECT_NE(
        fs::read_file(dir + "/figures/energy_vs_f1.svg").find("F1, vulnerable class (0\u20131)"),
        std::string::npos);
    EXPECT_NE(fs::read_file(dir + "/figures/energy_vs_time.svg").find("Total time per run (s)"),
              std::string::npos);
}

TEST(Report, MissingGnuplotStillWritesTablesAndSaysWhy) {
    const std::string dir = out_dir("nognuplot");
    ReportOptions opt;
    opt.out_dir = dir;
    opt.gnuplot = "/nonexistent/gnuplot";
    const ReportPaths p = write_report(small_study(), opt);
    EXPECT_TRUE(p.figures_svg.empty());
    EXPECT_NE(p.figures_skipped_why.find("gnuplot not found"), std::string::npos);
    EXPECT_TRUE(fs::exists(p.table_md));
    EXPECT_TRUE(
        fs::exists(dir + "/figures/fig2_eval_tradeoff.gp"));  // scripts still there to rerun
    const std::string script = fs::read_file(dir + "/figures/fig2_eval_tradeoff.gp");
    EXPECT_NE(script.find("set xlabel \"\u0394 evaluation time vs V0 (%)\""), std::string::npos);
    EXPECT_NE(script.find("set ylabel \"\u0394 evaluation energy vs V0 (%)\""), std::string::npos);
    EXPECT_NE(fs::read_file(p.html).find("Figures were not rendered: gnuplot not found"),
              std::string::npos);
}

// Runs that count their arithmetic (the pipeline's model FLOPs): the report splits each variant's
// energy ratio into less arithmetic and cheaper arithmetic. V7 computes 30 % of V0's FLOPs at V0's
// cost per TFLOP; V11 the same FLOPs at 60 % of the cost. Without counts (small_study) there is
// no such section.
TEST(Report, EnergySplitsIntoArithmeticAndCostPerTflop) {
    std::vector<analysis::RunRecord> runs;
    const auto add = [&](const std::string& v, double energy_j, double tflop) {
        for (int r = 0; r < 3; ++r) {
            SyntheticRun s;
            s.variant = v;
            s.repeat = r;
            s.total_energy_j = energy_j * (1.0 + 0.01 * r);
            s.model_tflop = tflop;
            runs.push_back(make_record(s));
        }
    };
    add("V0", 1000.0, 2.0);
    add("V7", 300.0, 0.6);
    add("V11", 600.0, 2.0);
    ReportOptions opt;
    opt.out_dir = out_dir("work");
    opt.gnuplot = "/nonexistent/gnuplot";
    const std::string html = fs::read_file(write_report(runs, opt).html);
    const size_t at = html.find("<h2 id=\"work\">");
    ASSERT_NE(at, std::string::npos);
    EXPECT_NE(html.find("<a href=\"#work\">"), std::string::npos);
    const std::string section = html.substr(at, html.find("</table>", at) - at);
    const auto row = [&](const std::string& v) {
        const size_t r = section.find("<tr><td><b>" + v + "</b>");
        return r == std::string::npos ? std::string()
                                      : section.substr(r, section.find("</tr>", r) - r);
    };
    // J per TFLOP 505 (1010 J mean / 2 TFLOP); energy × 0.30 = arithmetic × 0.30 · cost × 1.00.
    EXPECT_NE(row("V0").find(">505</td>"), std::string::npos) << row("V0");
    EXPECT_NE(row("V7").find("<td class=\"num\">0.30</td><td class=\"num\">0.30</td><td "
                             "class=\"num\">1.00</td>"),
              std::string::npos)
        << row("V7");
    EXPECT_NE(row("V11").find("<td class=\"num\">0.60</td><td class=\"num\">1.00</td><td "
                              "class=\"num\">0.60</td>"),
              std::string::npos)
        << row("V11");
    EXPECT_FALSE(has_non_finite_token(html));

    ReportOptions plain;
    plain.out_dir = out_dir("work_none");
    plain.gnuplot = "/nonexistent/gnuplot";
    const std::string none = fs::read_file(write_report(small_study(), plain).html);
    EXPECT_EQ(none.find("id=\"work\""), std::string::npos);
    EXPECT_EQ(none.find("#work"), std::string::npos);
}

TEST(Report, DegenerateStudiesStillRender) {
    // One baseline run only, and a study without its baseline: pages and figures without nan or
    // errors.
    SyntheticRun one;
    one.variant = "V0";
    SyntheticRun other;
    other.variant = "V7";
    for (const auto& [name, runs] :
         std::vector<std::pair<std::string, std::vector<analysis::RunRecord>>>{
             {"only_v0", {make_record(one)}}, {"no_baseline", {make_record(other)}}}) {
        ReportOptions opt;
        opt.out_dir = out_dir(name);
        const ReportPaths p = write_report(runs, opt);
        const std::string html = fs::read_file(p.html);
        EXPECT_FALSE(has_non_finite_token(html)) << name;
        EXPECT_FALSE(has_non_finite_token(fs::read_file(p.table_md))) << name;
        if (!process::find_executable("gnuplot").empty()) {
            EXPECT_EQ(p.figures_svg.size(), 4u) << name << ": " << html.substr(0, 0);
            EXPECT_EQ(html.find("gnuplot exited"), std::string::npos) << name;
        }
        if (name == "no_baseline") {
            EXPECT_NE(html.find("has no completed runs"), std::string::npos);
        }
    }
}

// A study of the user's own command whose primary metric is a loss (lower is better, no range:
// Δ in its own units) and whose stages are its own (docs/byo.md): energies and losses chosen so
// that reading the loss as higher-is-better would pick other Pareto points and another variant.
//   V0 100 J loss 0.40 · V1 80 J 0.55 · V2 90 J 0.30 · V3 = V1 + V2 70 J 0.60
std::vector<analysis::RunRecord> loss_command_study() {
    using nlohmann::json;
    std::vector<analysis::RunRecord> runs;
    const json primary = {{"name", "loss"},
                          {"label", "validation loss"},
                          {"higher_is_better", false},
                          {"range", nullptr},
                          {"budget", 0.05}};
    auto add = [&](const std::string& v, double energy_j, double loss, std::vector<std::string> k) {
        for (int r = 0; r < 2; ++r) {
            SyntheticRun s;
            s.variant = v;
            s.repeat = r;
            s.total_energy_j = energy_j * (1.0 + 0.01 * r);
            s.knobs = k;
            analysis::RunRecord rec = make_record(s);
            json& doc = rec.run;
            doc["command"] = {{"argv", {"python3", "train.py"}}, {"exit_code", 0}};
            doc["primary_metric"] = "loss";
            doc["eval_stage"] = "score";
            doc["config"] = {{"argv", {"python3", "train.py"}}, {"primary", primary}};
            doc["metrics"] = {{"loss", loss + 0.002 * r}};  // nothing else reported
            const double e = s.total_energy_j;
            json stages = json::array();
            double t0 = 0.0;
            for (const auto& [path, share] : std::vector<std::pair<std::string, double>>{
                     {"prepare", 0.1}, {"fit", 0.7}, {"fit/check", 0.1}, {"score", 0.2}}) {
                json st = doc["energy"]["total"];
                st["name"] = path.substr(path.find('/') + 1);
                st["path"] = path;
                st["start_s"] = t0;
                st["duration_s"] = share * 10.0;
                st["energy_j"] = {
                    {"cpu", share * e}, {"ram", 0.0}, {"gpu", nullptr}, {"total", share * e}};
                stages.push_back(st);
                t0 += path == "fit/check" ? 0.0 : share * 10.0;
            }
            doc["energy"]["stages"] = stages;
            runs.push_back(rec);
        }
    };
    add("V0", 100.0, 0.40, {});
    add("V1", 80.0, 0.55, {"fast"});
    add("V2", 90.0, 0.30, {"wide"});
    add("V3", 70.0, 0.60, {"fast", "wide"});
    return runs;
}

TEST(CommandStudy, StageColumnsAreTheReportedStagesAndNoPaperColumns) {
    analysis::StudyAggregate study =
        analysis::aggregate(loss_command_study(), "V0",
                            {{"V0", "Baseline", "baseline", {}},
                             {"V1", "fast path", "training", {}},
                             {"V2", "wide model", "model", {}},
                             {"V3", "fast path + wide model", "training+model", {"V1", "V2"}}});
    TableInput t;
    t.study = &study;
    t.command_study = true;
    t.stages = reported_stages(study);
    ASSERT_EQ(t.stages, (std::vector<std::string>{"prepare", "fit", "score"}));
    const std::string md = table1_markdown(t);
    for (const char* h : {"| prepare (Wh) |", "| fit (Wh) |", "| score (Wh) |"}) {
        EXPECT_NE(md.find(h), std::string::npos) << h << "\n" << md;
    }
    for (const char* h : {"Load data", "Tokenize", "Save (Wh)", "Paper", "F1 w", "F1 vul"}) {
        EXPECT_EQ(md.find(h), std::string::npos) << h << "\n" << md;
    }
    EXPECT_NE(md.find("\u0394validation loss |"), std::string::npos) << md;  // own units: no "pts"
    EXPECT_NE(md.find("lower is better"), std::string::npos) << md;
    const std::string csv = table1_csv(t);
    EXPECT_EQ(csv.rfind("variant,name,n_runs,energy_provenance,energy_prepare_wh,"
                        "energy_prepare_wh_ci95,energy_fit_wh,energy_fit_wh_ci95,energy_score_wh,",
                        0),
              0u)
        << csv.substr(0, 200);
    // Δ in the loss's own units (V1: +0.150), not ×100 points.
    const auto* v1 = study.find("V1");
    ASSERT_NE(v1, nullptr);
    EXPECT_NEAR(v1->d_f1_vul_points.abs, 0.15, 1e-9);
    EXPECT_FALSE(study.primary_higher_is_better);
    EXPECT_FALSE(study.primary_in_points);
}

TEST(CommandStudy, ALossIsBetterLowInTheRecommendationParetoAndPage) {
    const std::string dir = out_dir("command_loss");
    ReportOptions opt;
    opt.out_dir = dir;
    opt.render_figures = false;
    const ReportPaths p = write_report(loss_command_study(), opt);
    const std::string html = fs::read_file(p.html);
    // The loss budget from the catalog (0.05): V1 (+0.15) and V3 (+0.20) rise too much; V2 falls
    // and uses less energy than V0. Read as higher-is-better, V3 (least energy) would win.
    EXPECT_NE(html.find("<div class=\"choice\">V2 \u2014"), std::string::npos);
    EXPECT_NE(html.find("V1: validation loss rise up to"), std::string::npos);
    EXPECT_NE(html.find("V3: validation loss rise up to"), std::string::npos);
    EXPECT_NE(html.find("its validation loss changes by -0.10"), std::string::npos);
    EXPECT_NE(html.find("Recommended (validation loss budget 0.050)"), std::string::npos);
    // Pareto: lowest energy and lowest loss. V0 is dominated by V2; V1 and V3 stay (cheaper).
    EXPECT_NE(html.find("lowest total energy, lowest validation loss: V3, V1, V2</li>"),
              std::string::npos)
        << html.substr(html.find("id=\"pareto\""), 800);
    // No comparison with the paper's pipeline, no F1 wording, only the metrics it reported.
    EXPECT_EQ(html.find("differs from the paper"), std::string::npos);
    EXPECT_EQ(html.find("How this study differs"), std::string::npos);
    EXPECT_EQ(html.find("href=\"#paper\""), std::string::npos);
    EXPECT_EQ(html.find("F1 (vulnerable class)"), std::string::npos);
    EXPECT_EQ(html.find("F1, weighted"), std::string::npos);
    EXPECT_NE(html.find("validation loss (primary, reported by the command; lower is better)"),
              std::string::npos);
    // The figure script stacks the command's stages.
    const std::string stages_dat = fs::read_file(dir + "/figures/stage_energy.dat");
    EXPECT_EQ(stages_dat.rfind("# variant prepare_wh fit_wh score_wh total_wh", 0), 0u)
        << stages_dat;
    const std::string fig = fs::read_file(dir + "/figures/energy_vs_f1.gp");
    EXPECT_NE(fig.find("validation loss (lower is better)"), std::string::npos);
}

TEST(Report, ExcerptAndErrors) {
    ReportOptions opt;
    opt.out_dir = out_dir("excerpt");
    const std::string ex = table1_excerpt_markdown(small_study(), opt, 2);
    EXPECT_NE(ex.find("| V0 |"), std::string::npos);
    EXPECT_NE(ex.find("2 more variants"), std::string::npos);
    EXPECT_THROW(write_report({}, opt), gk::InputError);
}

}  // namespace
}  // namespace gk::report
