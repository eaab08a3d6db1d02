// The analysis input: one record per completed run (its run.json, schema greenknobs.run/1), plus
// what a variant catalog says about each variant (name, phase, the single-knob variants a
// combination is built from).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gk::analysis {

struct RunRecord {
    std::string variant;
    int repeat = 0;
    nlohmann::json run;  // a run.json document
};

// What the report needs from a variant catalog (knobs/catalog.h holds the full one).
struct VariantInfo {
    std::string id;     // "V7"
    std::string name;   // "FP16 training"
    std::string phase;  // data | model | training | system | inference | "a+b"
    std::vector<std::string>
        combines;  // ids of the single-knob variants it combines; empty = single
};

// Reads DIR/runs/*/run.json. Only status "complete" records are returned; failed or unreadable ones
// are counted in *failed_count. `repeat` is the run.json "repeat" field when present, else the
// 0-based order of the run directories of that variant. Records come sorted by (variant id,
// repeat).
std::vector<RunRecord> load_run_dirs(const std::string& dir, int* failed_count = nullptr);

// The numeric value at a JSON pointer ("/energy/total/duration_s"); NaN when missing or null.
double json_number(const nlohmann::json& doc, const std::string& pointer);

// Orders variant ids naturally: V2 < V10 < V10a < W1.
bool variant_id_less(const std::string& a, const std::string& b);

// The paper's Table I (data/reference/paper_table1.csv): id → values, kWh / s / %.
struct PaperRow {
    std::string variant;
    std::string description;
    std::string stages;
    double total_kwh = 0.0;
    double delta_total_pct = 0.0;
    double delta_f1_pct = 0.0;
    double total_time_s = 0.0;
    double eval_time_s = 0.0;
    double delta_eval_time_pct = 0.0;
};
std::vector<PaperRow> load_paper_table(const std::string& csv_path);

}  // namespace gk::analysis
