// write_report(): analysis → tables → figures → page. Output names are fixed so a study directory
// always has report.html and table1.* at the same place.
#include "greenknobs/report/report.h"

#include <algorithm>
#include <ctime>

#include "greenknobs/analysis/aggregate.h"
#include "greenknobs/analysis/interactions.h"
#include "greenknobs/analysis/pareto.h"
#include "greenknobs/report/figures.h"
#include "greenknobs/report/html.h"
#include "greenknobs/report/table.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/utc_time.h"

namespace gk::report {

std::vector<analysis::VariantInfo> variant_infos(const gk::knobs::Catalog* catalog) {
    std::vector<analysis::VariantInfo> out;
    if (catalog == nullptr) {
        return out;
    }
    for (const auto& v : catalog->variants) {
        out.push_back({v.id, v.name, v.phase, v.combines});
    }
    return out;
}

namespace {

struct Prepared {
    std::vector<analysis::VariantInfo> infos;
    analysis::StudyAggregate study;
    TableInput table;
};

Prepared prepare(const std::vector<analysis::RunRecord>& runs, const ReportOptions& opt) {
    if (runs.empty()) {
        throw InputError(opt.out_dir, "", "no completed runs to report on");
    }
    Prepared p;
    std::vector<analysis::PaperRow> paper;
    if (!opt.paper_table_csv.empty()) {
        paper = analysis::load_paper_table(opt.paper_table_csv);
    }
    p.infos = variant_infos(opt.catalog);
    if (p.infos.empty()) {
        // Without a catalog, the paper's descriptions name the same ids (variants/paper.toml keeps
        // them).
        for (const auto& r : paper) {
            p.infos.push_back({r.variant, r.description, r.stages, {}});
        }
    }
    p.study = analysis::aggregate(runs, opt.baseline, p.infos);
    bool all_commands = true;
    for (const auto& r : runs) {
        all_commands = all_commands && r.run.is_object() && r.run.contains("command");
    }
    p.table.command_study = opt.command_study || all_commands;
    if (p.table.command_study) {
        p.table.stages = reported_stages(p.study);
        if (!opt.primary_label.empty() && p.study.primary_label.empty() &&
            opt.primary_label != p.study.primary_metric) {
            p.study.primary_label = opt.primary_label;
        }
    }
    p.table.paper = std::move(paper);
    if (opt.catalog != nullptr) {
        for (const auto& v : opt.catalog->variants) {
            if (!v.paper_id.empty() && v.paper_id != v.id) {
                p.table.paper_ids[v.id] = v.paper_id;
            }
        }
    }
    return p;
}

}  // namespace

ReportPaths write_report(const std::vector<analysis::RunRecord>& runs, const ReportOptions& opt) {
    Prepared p = prepare(runs, opt);
    p.table.study = &p.study;
    fs::make_dirs(opt.out_dir);
    ReportPaths paths;
    paths.html = fs::join(opt.out_dir, "report.html");
    paths.table_md = fs::join(opt.out_dir, "table1.md");
    paths.table_csv = fs::join(opt.out_dir, "table1.csv");
    paths.table_tex = fs::join(opt.out_dir, "table1.tex");
    fs::write_file_atomic(paths.table_md, table1_markdown(p.table));
    fs::write_file_atomic(paths.table_csv, table1_csv(p.table));
    fs::write_file_atomic(paths.table_tex, table1_latex(p.table));

    const std::string fig_dir = fs::join(opt.out_dir, "figures");
    FigureOptions fo;
    fo.gnuplot = opt.gnuplot;
    fo.render = opt.render_figures;
    fo.stages = p.table.stages;
    FigureSet figs = write_figures(p.study, fig_dir, fo);
    for (const auto& f : figs.figures) {
        if (f.rendered) {
            paths.figures_svg.push_back(fs::join(fig_dir, f.svg));
            if (fs::exists(fs::join(fig_dir, f.png))) {
                paths.figures_png.push_back(fs::join(fig_dir, f.png));
            }
        }
    }
    paths.figures_skipped_why = figs.skipped_why;

    HtmlInput h;
    h.title = opt.title.empty() ? "greenknobs study report" : opt.title;
    h.study = &p.study;
    h.interactions = analysis::compute_interactions(p.study);
    h.budget = opt.budget;
    if (opt.budget_from_catalog && p.study.primary_budget >= 0) {
        h.budget.max_f1_drop_points = p.study.primary_budget;
    }
    h.recommendation = analysis::recommend(p.study, h.budget);
    paths.recommendation = h.recommendation.explanation;  // it names the choice
    {
        // Points (F1): the budgets people state, and this report's; other units: multiples of it.
        const double b = h.budget.max_f1_drop_points;
        std::vector<double> drops = p.study.primary_in_points
                                        ? std::vector<double>{0.5, 1.0, 2.0, 3.0, 5.0}
                                        : std::vector<double>{0.5 * b, 2.0 * b, 3.0 * b, 5.0 * b};
        if (std::find(drops.begin(), drops.end(), b) == drops.end()) {
            drops.push_back(b);
        }
        std::sort(drops.begin(), drops.end());
        h.budget_ladder = analysis::budget_ladder(p.study, h.budget, drops);
    }
    h.command_study = p.table.command_study;
    std::vector<analysis::ParetoPoint> ef1, et;
    for (const auto& v : p.study.variants) {
        if (!v.total_energy_j.empty() && !v.f1_vul.empty()) {
            ef1.push_back({v.variant, v.total_energy_j.mean(), v.f1_vul.mean()});
        }
        if (!v.total_energy_j.empty() && !v.total_duration_s.empty()) {
            et.push_back({v.variant, v.total_energy_j.mean(), v.total_duration_s.mean()});
        }
    }
    // Lowest energy and the best primary metric: its highest value, or its lowest for a loss.
    h.front_energy_f1 = analysis::pareto_front(ef1, /*minimize_x=*/true,
                                               /*minimize_y=*/!p.study.primary_higher_is_better);
    h.front_energy_time = analysis::pareto_front(et, true, true);
    h.table = p.table;
    h.figures = figs;
    h.figures_dir = fig_dir;
    h.figures_rel_dir = "figures";
    h.failed_runs = opt.failed_runs;
    if (opt.catalog != nullptr) {
        for (const auto& v : opt.catalog->variants) {
            if (p.study.find(v.id) != nullptr && !v.differs_from_paper.empty()) {
                h.paper_differences.emplace_back(v.id, v.differs_from_paper);
            }
        }
    }
    h.downloads = {{"Table I (Markdown)", "table1.md"},
                   {"Table I (CSV)", "table1.csv"},
                   {"Table I (LaTeX)", "table1.tex"}};
    h.generated_at = utc_now_iso8601();
    fs::write_file_atomic(paths.html, render_html(h));
    return paths;
}

std::string table1_excerpt_markdown(const std::vector<analysis::RunRecord>& runs,
                                    const ReportOptions& opt, int max_rows) {
    Prepared p = prepare(runs, opt);
    p.table.study = &p.study;
    return table1_excerpt(p.table, max_rows);
}

}  // namespace gk::report
