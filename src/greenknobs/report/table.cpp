// Table I writers. One column list drives Markdown and LaTeX so the two never disagree; the CSV
// carries full-precision means, CI half-widths and p-values in separate columns for machines.
#include "greenknobs/report/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <utility>

#include "greenknobs/report/format.h"

namespace gk::report {

namespace {

using analysis::Delta;
using analysis::Summary;
using analysis::VariantAggregate;

const analysis::PaperRow* paper_row(const TableInput& in, const std::string& id) {
    const auto it = in.paper_ids.find(id);
    const std::string pid = it == in.paper_ids.end() ? id : it->second;
    for (const auto& r : in.paper) {
        if (r.variant == pid) {
            return &r;
        }
    }
    return nullptr;
}

// The pipeline's stages by their paper names; a command's own stages by the names it reported.
std::string stage_header(const std::string& s, bool command_study) {
    if (command_study) return s;
    if (s == "load_dataset") return "Load data";
    if (s == "tokenize") return "Tokenize";
    if (s == "load_model") return "Load model";
    if (s == "train") return "Train";
    if (s == "save") return "Save";
    if (s == "evaluate") return "Evaluate";
    return s;
}

bool any_f1_weighted(const analysis::StudyAggregate& st) {
    for (const auto& v : st.variants) {
        if (!v.f1_weighted.empty()) {
            return true;
        }
    }
    return false;
}

Summary stage_energy(const VariantAggregate& v, const std::string& path) {
    const auto* st = v.stage(path);
    return st == nullptr ? Summary{} : st->energy_j.summary;
}

struct Column {
    using Cell = std::function<std::string(const VariantAggregate&, Style)>;
    Column(std::string text, std::string latex, bool is_numeric, Cell fn, std::string k = "")
        : header_text(std::move(text)),
          header_latex(std::move(latex)),
          numeric(is_numeric),
          cell(std::move(fn)),
          key(std::move(k)) {}
    std::string header_text;   // Markdown
    std::string header_latex;  // LaTeX
    bool numeric = true;
    Cell cell;
    std::string key;  // what table1_excerpt picks by ("" = not in the excerpt)
};

// What a command study's primary metric is, for captions.
std::string primary_note(const analysis::StudyAggregate& st) {
    const std::string words = primary_words(st);
    return words + (words == st.primary_metric ? "" : " (" + st.primary_metric + ")") +
           " = the command's primary metric, " +
           (st.primary_higher_is_better ? "higher is better" : "lower is better") +
           "; its \u0394 " +
           (st.primary_in_points ? "in points of its range" : "in its own units") + ".";
}

// A header cell: a reported stage name may hold '|'.
std::string md_escape_header(const std::string& s) {
    std::string out;
    for (char c : s) {
        out += c == '|' ? std::string("\\|") : std::string(1, c);
    }
    return out;
}

// latex_escape() keeps UTF-8 as is; a Δ in running text becomes math.
std::string latex_delta(std::string s) {
    const std::string delta = "\u0394";
    for (size_t at = s.find(delta); at != std::string::npos; at = s.find(delta, at)) {
        s.replace(at, delta.size(), "$\\Delta$");
    }
    return s;
}

std::vector<Column> columns(const TableInput& in) {
    std::vector<Column> cols;
    cols.push_back({"Variant", "Variant", false,
                    [](const VariantAggregate& v, Style) { return v.variant; }, "variant"});
    cols.push_back({"Name", "Name", false, [](const VariantAggregate& v, Style s) {
                        return s == Style::kLatex ? latex_escape(v.name) : v.name;
                    }});
    cols.push_back({"n", "$n$", true,
                    [](const VariantAggregate& v, Style) { return std::to_string(v.n_runs); },
                    "n"});
    for (const auto& st : table_stages(in)) {
        const std::string h = stage_header(st, in.command_study);
        cols.push_back({md_escape_header(h) + " (Wh)", latex_escape(h) + " (Wh)", true,
                        [st](const VariantAggregate& v, Style s) {
                            return mean_ci(stage_energy(v, st), 1.0 / kJoulesPerWh, s);
                        }});
    }
    cols.push_back({"Total (Wh)", "Total (Wh)", true,
                    [](const VariantAggregate& v, Style s) {
                        return mean_ci(v.total_energy_j.summary, 1.0 / kJoulesPerWh, s);
                    },
                    "total"});
    cols.push_back({"\u0394Total (%)", "$\\Delta$Total (\\%)", true,
                    [](const VariantAggregate& v, Style s) {
                        return delta_cell(v.d_total_energy, true, 1, s);
                    },
                    "d_total"});
    // A command study's own primary metric replaces F1 vul (analysis::StudyAggregate), in points of
    // its range or in its own units.
    const std::string primary = in.study != nullptr ? in.study->primary_metric : "f1_vul";
    const std::string unit = in.study != nullptr ? primary_delta_unit(*in.study) : "pts";
    const std::string words = in.study != nullptr ? primary_words(*in.study) : primary;
    const std::string unit_h = unit.empty() ? "" : " (" + unit + ")";
    const int primary_decimals = unit.empty() ? 3 : 2;
    cols.push_back({primary == "f1_vul" ? "\u0394F1 vul (pts)" : "\u0394" + words + unit_h,
                    primary == "f1_vul" ? "$\\Delta$F1$_\\mathrm{vul}$ (pts)"
                                        : "$\\Delta$" + latex_escape(words) + unit_h,
                    true,
                    [primary_decimals](const VariantAggregate& v, Style s) {
                        return delta_cell(v.d_f1_vul_points, false, primary_decimals, s);
                    },
                    "d_primary"});
    if (!in.command_study || (in.study != nullptr && any_f1_weighted(*in.study))) {
        cols.push_back({"\u0394F1 w (pts)", "$\\Delta$F1$_\\mathrm{w}$ (pts)", true,
                        [](const VariantAggregate& v, Style s) {
                            return delta_cell(v.d_f1_weighted_points, false, 2, s);
                        }});
    }
    cols.push_back(
        {"Total time (s)", "Total time (s)", true, [](const VariantAggregate& v, Style s) {
             return mean_ci(v.total_duration_s.summary, 1.0, s);
         }});
    cols.push_back({"Eval time (s)", "Eval time (s)", true,
                    [](const VariantAggregate& v, Style s) {
                        return mean_ci(v.eval_duration_s.summary, 1.0, s);
                    },
                    "eval_time"});
    cols.push_back(
        {"\u0394Eval (%)", "$\\Delta$Eval (\\%)", true,
         [](const VariantAggregate& v, Style s) { return delta_cell(v.d_eval_time, true, 1, s); },
         "d_eval"});
    cols.push_back(
        {"\u0394 test", "$\\Delta$ test", false, [&in](const VariantAggregate& v, Style s) {
             const std::string m = analysis::delta_methods(v);
             if (m.empty()) {
                 return std::string(v.variant == in.study->baseline ? "baseline" : "n/a");
             }
             return s == Style::kLatex ? latex_delta(latex_escape(m)) : m;
         }});
    cols.push_back(
        {"Energy provenance", "Provenance", false, [](const VariantAggregate& v, Style s) {
             return s == Style::kLatex ? latex_escape(v.total_provenance) : v.total_provenance;
         }});
    if (in.command_study) {
        return cols;  // the paper measured its own pipeline, not this command
    }
    cols.push_back(
        {"Paper total (kWh)", "Paper total (kWh)", true, [&in](const VariantAggregate& v, Style s) {
             const auto* p = paper_row(in, v.variant);
             return p == nullptr ? std::string("n/a") : sig(p->total_kwh, 3, s);
         }});
    cols.push_back({"Paper \u0394Total (%)", "Paper $\\Delta$Total (\\%)", true,
                    [&in](const VariantAggregate& v, Style s) {
                        const auto* p = paper_row(in, v.variant);
                        return p == nullptr ? std::string("n/a") : fixed(p->delta_total_pct, 1, s);
                    },
                    "paper_d_total"});
    return cols;
}

std::string md_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '|') {
            out += "\\|";
        } else {
            out += c;
        }
    }
    return out;
}

std::string num(double v) {
    if (!std::isfinite(v)) {
        return "";
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

std::string ci_half(const analysis::Interval& ci, double scale = 1.0) {
    return ci.valid ? num(ci.half_width() * scale) : "";
}

std::string md_table(const TableInput& in, const std::vector<Column>& cols, int max_rows) {
    std::ostringstream out;
    out << "|";
    for (const auto& c : cols) {
        out << " " << c.header_text << " |";
    }
    out << "\n|";
    for (const auto& c : cols) {
        out << (c.numeric ? " ---: |" : " :--- |");
    }
    out << "\n";
    int rows = 0;
    for (const auto& v : in.study->variants) {
        if (max_rows > 0 && rows++ >= max_rows) {
            break;
        }
        out << "|";
        for (const auto& c : cols) {
            out << " " << md_escape(c.cell(v, Style::kText)) << " |";
        }
        out << "\n";
    }
    return out.str();
}

}  // namespace

const std::vector<std::string>& table_stages(const TableInput& in) {
    return in.stages.empty() ? analysis::pipeline_stages() : in.stages;
}

std::vector<std::string> reported_stages(const analysis::StudyAggregate& study) {
    std::vector<std::string> out;
    for (const auto& v : study.variants) {
        for (const auto& st : v.stages) {
            if (st.path.find('/') == std::string::npos &&
                std::find(out.begin(), out.end(), st.path) == out.end()) {
                out.push_back(st.path);
            }
        }
    }
    return out;
}

std::string primary_words(const analysis::StudyAggregate& study) {
    if (study.primary_metric == "f1_vul") {
        return "F1 (vulnerable class)";
    }
    return study.primary_label.empty() ? study.primary_metric : study.primary_label;
}

std::string primary_delta_unit(const analysis::StudyAggregate& study) {
    return study.primary_in_points ? "pts" : "";
}

std::string table1_markdown(const TableInput& in) {
    std::ostringstream out;
    out << "Table I. Mean \u00b1 95 % CI half-width (Student t) over n runs; energy in Wh"
        << (in.command_study ? "" : " (paper: kWh)") << ". \u0394 vs " << in.study->baseline
        << ": paired over repeats (repeat r of every variant trains with the same seed and data "
           "order; paired t CI of the per-repeat differences, \u0394% = mean per-repeat relative "
           "difference) where both have the same repeats, else Welch; the \u0394 test column says "
           "which. \"ns\" = not significant (p \u2265 0.05); \"(n = 1)\" / \"(n/a)\" = no "
           "interval. "
        << (in.command_study ? primary_note(*in.study) + " Stages: as the command reported them."
                             : std::string("F1 vul = F1 of the vulnerable class; F1 w = weighted "
                                           "F1 (the paper's metric)."))
        << " Seeded bootstrap intervals are in the CSV.\n\n";
    out << md_table(in, columns(in), 0);
    return out.str();
}

std::string table1_excerpt(const TableInput& in, int max_rows) {
    auto all = columns(in);
    std::vector<Column> cols;
    for (const auto& c : all) {
        if (!c.key.empty()) {
            cols.push_back(c);
        }
    }
    std::string out = md_table(in, cols, max_rows);
    const int n = static_cast<int>(in.study->variants.size());
    if (max_rows > 0 && n > max_rows) {
        out += "(" + std::to_string(n - max_rows) + " more variants in the full table)\n";
    }
    return out;
}

std::string table1_html(const TableInput& in) {
    const auto cols = columns(in);
    std::ostringstream out;
    out << "<div class=\"scroll wide\"><table class=\"t1\">\n<thead><tr>";
    for (const auto& c : cols) {
        out << "<th" << (c.numeric ? " class=\"num\"" : "") << ">" << html_escape(c.header_text)
            << "</th>";
    }
    out << "</tr></thead>\n<tbody>\n";
    for (const auto& v : in.study->variants) {
        out << "<tr" << (v.variant == in.study->baseline ? " class=\"base\"" : "") << ">";
        for (const auto& c : cols) {
            std::string cell = c.cell(v, Style::kText);
            std::string tail;
            if (cell.size() > 3 && cell.compare(cell.size() - 3, 3, " ns") == 0) {
                cell.resize(cell.size() - 3);
                tail =
                    " <span class=\"ns\" title=\"not significant: p \u2265 0.05 (the \u0394 test "
                    "column names the test)\">ns</span>";
            }
            if (c.header_text == "Energy provenance") {
                out << "<td><span class=\"prov\">" << html_escape(cell) << "</span></td>";
            } else {
                // "mean ± half" → the mean, with the interval as a small second line: keeps the
                // wide table narrow enough that the Δ columns stay on screen.
                const std::string pm = " \u00b1 ";
                const size_t at = cell.find(pm);
                std::string body = html_escape(cell);
                if (at != std::string::npos) {
                    body = html_escape(cell.substr(0, at)) + "<span class=\"ci\">\u00b1 " +
                           html_escape(cell.substr(at + pm.size())) + tail + "</span>";
                    tail.clear();
                } else if (cell.size() > 8 && cell.compare(cell.size() - 8, 8, " (n = 1)") == 0) {
                    body = html_escape(cell.substr(0, cell.size() - 8)) +
                           "<span class=\"ci\">n = 1</span>";
                } else if (cell.size() > 6 && cell.compare(cell.size() - 6, 6, " (n/a)") == 0) {
                    body = html_escape(cell.substr(0, cell.size() - 6)) +
                           "<span class=\"ci\">no CI</span>";
                }
                out << "<td" << (c.numeric ? " class=\"num\"" : "") << ">" << body << tail
                    << "</td>";
            }
        }
        out << "</tr>\n";
    }
    out << "</tbody></table></div>\n";
    return out.str();
}

std::string table1_csv(const TableInput& in) {
    std::ostringstream out;
    out << "variant,name,n_runs,energy_provenance";
    for (const auto& st : table_stages(in)) {
        out << ",energy_" << st << "_wh,energy_" << st << "_wh_ci95";
    }
    out << ",energy_total_wh,energy_total_wh_ci95,delta_total_pct,delta_total_pct_ci95,delta_total_"
           "p"
           ",delta_f1_vul_points,delta_f1_vul_points_ci95,delta_f1_vul_p"
           ",delta_f1_weighted_points,delta_f1_weighted_points_ci95,delta_f1_weighted_p"
           ",time_total_s,time_total_s_ci95,time_eval_s,time_eval_s_ci95"
           ",delta_eval_time_pct,delta_eval_time_pct_ci95,delta_eval_time_p"
           ",paper_total_kwh,paper_delta_total_pct"
           // Appended (older readers keep their columns): the test behind each Δ and its seeded
           // percentile bootstrap interval (pairs resampled when paired).
           ",delta_n_pairs,delta_methods"
           ",delta_total_method,delta_total_pct_boot95_low,delta_total_pct_boot95_high"
           ",delta_f1_vul_method,delta_f1_vul_points_boot95_low,delta_f1_vul_points_boot95_high"
           ",delta_f1_weighted_method,delta_f1_weighted_points_boot95_low,"
           "delta_f1_weighted_points_boot95_high"
           ",delta_eval_time_method,delta_eval_time_pct_boot95_low,delta_eval_time_pct_boot95_high"
           "\n";
    auto summary = [](const Summary& s, double scale) {
        return (s.n > 0 ? num(s.mean * scale) : "") + "," + ci_half(s.ci, scale);
    };
    auto delta = [](const Delta& d, bool pct) {
        if (!d.available) {
            return std::string(",,");
        }
        const analysis::TTestResult& t = pct ? d.pct_test : d.test;
        return num(pct ? d.pct : d.abs) + "," + ci_half(pct ? d.pct_ci : d.abs_ci) + "," +
               (t.valid ? num(t.p) : "");
    };
    auto method = [](const Delta& d, bool pct) {
        if (!d.available) {
            return std::string(",,");
        }
        const analysis::Interval& b = pct ? d.pct_boot_ci : d.abs_boot_ci;
        const std::string m = d.paired ? d.method : d.method + ": " + d.why_unpaired;
        return csv_field(m) + "," + (b.valid ? num(b.low) : "") + "," +
               (b.valid ? num(b.high) : "");
    };
    const double wh = 1.0 / kJoulesPerWh;
    for (const auto& v : in.study->variants) {
        out << csv_field(v.variant) << "," << csv_field(v.name) << "," << v.n_runs << ","
            << csv_field(v.total_provenance);
        for (const auto& st : table_stages(in)) {
            out << "," << summary(stage_energy(v, st), wh);
        }
        out << "," << summary(v.total_energy_j.summary, wh) << "," << delta(v.d_total_energy, true)
            << "," << delta(v.d_f1_vul_points, false) << "," << delta(v.d_f1_weighted_points, false)
            << "," << summary(v.total_duration_s.summary, 1.0) << ","
            << summary(v.eval_duration_s.summary, 1.0) << "," << delta(v.d_eval_time, true);
        const auto* p = paper_row(in, v.variant);
        out << "," << (p ? num(p->total_kwh) : "") << "," << (p ? num(p->delta_total_pct) : "");
        out << "," << (v.d_total_energy.paired ? std::to_string(v.d_total_energy.test.n_pairs) : "")
            << "," << csv_field(analysis::delta_methods(v)) << "," << method(v.d_total_energy, true)
            << "," << method(v.d_f1_vul_points, false) << ","
            << method(v.d_f1_weighted_points, false) << "," << method(v.d_eval_time, true) << "\n";
    }
    return out.str();
}

std::string table1_latex(const TableInput& in) {
    const auto cols = columns(in);
    std::ostringstream out;
    out << "% Table I (greenknobs). Requires \\usepackage{booktabs}; wide: use a landscape page or "
           "\\resizebox.\n";
    out << "\\begin{table*}[t]\n\\centering\n\\scriptsize\n\\setlength{\\tabcolsep}{3pt}\n";
    out << "\\caption{Energy per stage and in total (Wh), quality and time per variant: mean "
           "$\\pm$ 95\\,\\% "
           "CI half-width over $n$ runs. $\\Delta$ vs "
        << latex_escape(in.study->baseline)
        << ": paired t CIs over repeats (same seed and data order per repeat) where both have the "
           "same repeats, else Welch CIs; the $\\Delta$ test column says which. ns: not "
           "significant ($p \\ge 0.05$)."
        << (in.command_study ? "" : " The paper's values (kWh, single runs) for comparison.")
        << "}\n";
    out << "\\begin{tabular}{";
    for (const auto& c : cols) {
        out << (c.numeric ? "r" : "l");
    }
    out << "}\n\\toprule\n";
    for (size_t i = 0; i < cols.size(); ++i) {
        out << (i ? " & " : "") << cols[i].header_latex;
    }
    out << " \\\\\n\\midrule\n";
    for (const auto& v : in.study->variants) {
        for (size_t i = 0; i < cols.size(); ++i) {
            out << (i ? " & " : "") << cols[i].cell(v, Style::kLatex);
        }
        out << " \\\\\n";
    }
    out << "\\bottomrule\n\\end{tabular}\n\\end{table*}\n";
    return out.str();
}

}  // namespace gk::report
