// What both store backends write for a complete run, extracted once from its run.json: the summary
// columns, the hardware columns, the stage rows and the power samples (NaN = absent, stored NULL).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/study/store.h"

namespace gk::study::detail {

struct RunSummary {
    std::string started_at, finished_at;  // "" = unknown
    double total_energy_j, eval_energy_j, f1_vul, f1_weighted, total_duration_s, eval_duration_s;
    RunHardware hw;
};
RunSummary summarize(const nlohmann::json& run_json);

struct StageRow {
    std::string path;
    double duration_s, cpu_j, ram_j, gpu_j, total_j;
    std::string prov_cpu, prov_ram, prov_gpu;  // "" = NULL
};
std::vector<StageRow> stage_rows(const nlohmann::json& run_json);

struct SampleRow {
    std::string source, component;
    double t_s, power_w;  // power NaN = NULL
};
std::vector<SampleRow> sample_rows(const nlohmann::json& run_json);

// "a,b,c" <-> {"a","b","c"} (the study's variant list column).
std::string join_ids(const std::vector<std::string>& ids);
std::vector<std::string> split_ids(const std::string& s);

// The runs columns every backend selects, in RunRow order.
extern const char* const kRunColumns;

}  // namespace gk::study::detail
