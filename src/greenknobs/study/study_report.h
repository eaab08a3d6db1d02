// The report of a study directory: complete runs from its store (DIR/study.sqlite, or the
// PostgreSQL store DIR/store.json names; without a store, the run directories under DIR/runs),
// written by report::write_report into DIR/report/. Used by `greenknobs report` and at the end of
// `greenknobs study`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "greenknobs/analysis/run_record.h"
#include "greenknobs/report/report.h"

namespace gk::study {

// Complete runs of the study in `dir`, sorted by (variant, repeat); *failed_count: (variant,
// repeat) pairs whose last attempt failed. *catalog_path: the catalog the study was run with (""
// without a store).
std::vector<analysis::RunRecord> load_study_records(const std::string& dir,
                                                    int* failed_count = nullptr,
                                                    std::string* catalog_path = nullptr);

struct StudyReportOptions {
    std::string dir;
    std::string baseline;         // "" = the catalog's baseline, else V0
    std::string catalog_path;     // "" = the one the study used, when it still exists
    std::string paper_table_csv;  // "" = looked up beside the catalog, then data/reference/
    bool render_figures = true;
    // Compare energies measured on different hardware (CPU model, GPU model) anyway.
    // Without it such a study is refused, unless each repeat block ran on one kind of hardware
    // (`study --block-by-node`), which keeps every paired difference like for like.
    bool mixed_hardware = false;
    // The recommendation's quality budget: the largest accepted drop of the primary metric (F1 of
    // the vulnerable class for the pipeline) at the upper end of its 95 % CI, in points. < 0 = the
    // catalog's primary_metric budget, else 1 point.
    double budget_points = -1;
};

// The complete runs grouped by hardware signature (RunHardware::signature), "V7-r1" keys each.
std::map<std::string, std::vector<std::string>> hardware_groups(
    const std::vector<analysis::RunRecord>& runs);
// InputError when `runs` mix hardware and the comparison is not allowed (see mixed_hardware);
// returns a note to show when they mix but may be compared ("" when they do not mix).
std::string check_hardware(const std::vector<analysis::RunRecord>& runs, const std::string& dir,
                           bool mixed_hardware);

struct StudyReport {
    report::ReportPaths paths;
    std::string table1_excerpt;
    int runs = 0;
    int failed = 0;
    std::string source;         // "store" | "run directories"
    std::string hardware_note;  // runs from more than one kind of hardware ("" = one)
};

// InputError when there is nothing to report on.
StudyReport write_study_report(const StudyReportOptions& opt);

// The paper's Table I CSV for a catalog: <catalog dir>/../data/reference/paper_table1.csv, else
// data/reference/paper_table1.csv under the working directory; "" when neither exists.
std::string find_paper_table(const std::string& catalog_path);

}  // namespace gk::study
