// Table I in the paper's layout (energy per stage, total, ΔTotal, ΔF1, times, ΔEval) with 95 % CIs
// and the paper's own numbers beside ours, as Markdown, CSV and LaTeX (booktabs). Energies in Wh
// (our runs are minutes on a CPU, so kWh would be all leading zeros and J would need thousands
// separators); the paper's column stays in kWh as published.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "greenknobs/analysis/aggregate.h"
#include "greenknobs/analysis/run_record.h"

namespace gk::report {

struct TableInput {
    const analysis::StudyAggregate* study = nullptr;
    std::vector<analysis::PaperRow> paper;         // may be empty (then the paper columns say n/a)
    std::map<std::string, std::string> paper_ids;  // our id → the paper's id when they differ
    // A study of the user's own command (docs/byo.md): stage columns are `stages` (what its runs
    // reported), its primary metric replaces F1 vul, and the paper's columns are left out.
    bool command_study = false;
    std::vector<std::string> stages;  // the stage columns; empty = the pipeline's six
};

// The stage columns of Table I: in.stages, else the pipeline's six.
const std::vector<std::string>& table_stages(const TableInput& in);
// The top-level stages a study's runs reported, in the order they first appear (baseline first).
std::vector<std::string> reported_stages(const analysis::StudyAggregate& study);
// The primary metric in words ("F1 (vulnerable class)" for f1_vul, else its label or name) and the
// unit of its Δ ("pts" of a 0–1 score or declared range; "" = the metric's own units).
std::string primary_words(const analysis::StudyAggregate& study);
std::string primary_delta_unit(const analysis::StudyAggregate& study);

std::string table1_markdown(const TableInput& in);
std::string table1_csv(const TableInput& in);
std::string table1_latex(const TableInput& in);
// The same table as an HTML <table> (numbers right-aligned, "ns" and provenance as small tags).
std::string table1_html(const TableInput& in);
// A narrow excerpt for a terminal: variant, total, ΔTotal, ΔF1, eval time, ΔEval, the paper's
// ΔTotal.
std::string table1_excerpt(const TableInput& in, int max_rows = 12);

}  // namespace gk::report
