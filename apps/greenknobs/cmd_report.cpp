// `greenknobs report DIR`: the study report (Table I, figures, interactions, HTML) from
// DIR/study.sqlite (or the PostgreSQL store DIR/store.json names), or from DIR/runs/*/run.json when
// there is no store, written into DIR/report/.
#ifdef GK_HAVE_STUDY

#include <iostream>
#include <memory>
#include <string>

#include "greenknobs/study/study_report.h"

#include "command.h"

namespace {

gk::app::Registrar reg("report", 51, [](CLI::App& app) -> gk::app::RunFn {
    auto o = std::make_shared<gk::study::StudyReportOptions>();
    auto* sub = app.add_subcommand(
        "report", "write a study's report (HTML, Table I, figures) into DIR/report");
    sub->add_option("dir", o->dir, "study directory (holds study.sqlite, store.json or runs/)")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--baseline", o->baseline,
                    "baseline variant (default: the catalog's, else V0)");
    sub->add_option("--catalog", o->catalog_path,
                    "variant catalog (default: the one the study used)");
    sub->add_option("--paper-table", o->paper_table_csv, "the paper's Table I CSV");
    sub->add_option("--budget-points", o->budget_points,
                    "recommend within this drop of the primary metric (F1 vul) at the CI's upper "
                    "end, in points (default: the catalog's, else 1)")
        ->check(CLI::Range(0.0, 100.0));
    sub->add_flag(
        "--no-figures", [o](int64_t) { o->render_figures = false; }, "skip gnuplot");
    sub->add_flag("--mixed-hardware", o->mixed_hardware,
                  "compare energies measured on different hardware (CPU and GPU models)");
    return [o]() -> int {
        gk::study::StudyReport r = gk::study::write_study_report(*o);
        std::cout << "Table I (excerpt):\n" << r.table1_excerpt << "\n";
        std::cout << "Recommendation: " << r.paths.recommendation << "\n";
        std::cout << r.runs << " complete run(s) from the " << r.source;
        if (r.failed > 0) {
            std::cout << ", " << r.failed << " failed";
        }
        std::cout << "\nreport: " << r.paths.html << "\n";
        if (!r.hardware_note.empty()) {
            std::cout << "note: " << r.hardware_note << "\n";
        }
        if (!r.paths.figures_skipped_why.empty()) {
            std::cout << "figures not rendered: " << r.paths.figures_skipped_why << "\n";
        }
        return 0;
    };
});

}  // namespace

#endif  // GK_HAVE_STUDY
