// The report entry points used by the `report` and `study` commands: everything from run records to
// the HTML page, Table I in three formats and the figures, plus a terminal excerpt of Table I.
#pragma once

#include <string>
#include <vector>

#include "greenknobs/analysis/recommend.h"
#include "greenknobs/analysis/run_record.h"
#include "greenknobs/knobs/catalog.h"

namespace gk::report {

struct ReportOptions {
    std::string out_dir;  // created if missing; figures go in out_dir/figures
    std::string baseline = "V0";
    std::string paper_table_csv;  // "" = no paper columns
    const gk::knobs::Catalog* catalog =
        nullptr;              // names, phases, combination lists, paper differences
    std::string title;        // "" = "greenknobs study report"
    analysis::Budget budget;  // for the recommendation (default: at most 1 F1 point lost)
    std::string gnuplot = "gnuplot";
    bool render_figures = true;
    int failed_runs = 0;  // counted by the caller (study store or load_run_dirs), shown on the page
    // A study of the user's own command (docs/byo.md); also assumed when every run was written by
    // `measure` (run.json has "command"). Table I then has the stages the runs reported, the page
    // speaks of the catalog's primary metric and leaves the paper's comparison out.
    bool command_study = false;
    std::string primary_label;  // the catalog's [report] primary_label ("" = the runs' or the name)
    // budget.max_f1_drop_points applies to the primary metric, in its Δ units; a command catalog's
    // primary_metric.budget replaces the default when `budget_from_catalog` is left true.
    bool budget_from_catalog = true;
};

struct ReportPaths {
    std::string html, table_md, table_csv, table_tex;
    std::vector<std::string> figures_svg, figures_png;
    std::string figures_skipped_why;  // non-empty when figures were not rendered
    std::string recommendation;  // the page's recommendation in one paragraph (for the terminal)
};

// Writes report.html, table1.{md,csv,tex} and figures/ into opt.out_dir. Throws InputError when
// there are no runs or the paper table cannot be read.
ReportPaths write_report(const std::vector<gk::analysis::RunRecord>& runs,
                         const ReportOptions& opt);

// A few columns of Table I as Markdown for the terminal (what `make run` prints).
std::string table1_excerpt_markdown(const std::vector<gk::analysis::RunRecord>& runs,
                                    const ReportOptions& opt, int max_rows = 12);

// The catalog's variants as analysis::VariantInfo (id, name, phase, combines).
std::vector<analysis::VariantInfo> variant_infos(const gk::knobs::Catalog* catalog);

}  // namespace gk::report
