// The report page: one self-contained HTML file (CSS inline, SVG figures inlined, no scripts,
// nothing fetched) with the machine and provenance summary, the recommendation, Table I, figures,
// per-variant detail, interactions, Pareto sets and how the study differs from the paper.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "greenknobs/analysis/aggregate.h"
#include "greenknobs/analysis/interactions.h"
#include "greenknobs/analysis/recommend.h"
#include "greenknobs/report/figures.h"
#include "greenknobs/report/table.h"

namespace gk::report {

struct HtmlInput {
    std::string title;
    const analysis::StudyAggregate* study = nullptr;
    std::vector<analysis::Interaction> interactions;
    analysis::Budget budget;
    analysis::Recommendation recommendation;
    std::vector<analysis::LadderStep> budget_ladder;  // the same rule at other quality budgets
    std::vector<std::string> front_energy_f1;
    std::vector<std::string> front_energy_time;
    TableInput table;
    FigureSet figures;
    std::string figures_dir;      // where the SVGs are (read and inlined)
    std::string figures_rel_dir;  // the same, relative to the HTML file (for PNG links)
    int failed_runs = 0;
    std::vector<std::pair<std::string, std::string>> paper_differences;  // variant id → text
    std::vector<std::pair<std::string, std::string>> downloads;          // label → relative path
    std::string generated_at;                                            // UTC, ISO 8601
    // A study of the user's own command: no comparison with the paper's pipeline unless variants
    // declare differences, and the primary metric by its catalog name (docs/byo.md).
    bool command_study = false;
};

std::string render_html(const HtmlInput& in);

// An SVG file's markup ready to inline: XML prolog dropped, ids made unique with `id_prefix`.
std::string inline_svg(const std::string& svg_text, const std::string& id_prefix);

}  // namespace gk::report
