// Builds run.json documents (schema greenknobs.run/1, docs/design.md) from a few numbers, so
// analysis and report tests do not wait for the pipeline. Shared by tests/analysis and
// tests/report.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/analysis/run_record.h"

namespace gk::testing {

struct SyntheticRun {
    std::string variant = "V0";
    int repeat = 0;
    double total_energy_j = 1000.0;
    double total_time_s = 100.0;
    double eval_energy_j = -1.0;  // < 0: 14 % of the total
    double eval_time_s = -1.0;    // < 0: 14 % of the total
    double f1_vul = 0.80;
    double f1_weighted = 0.95;
    double mcc = 0.70;
    double accuracy = 0.96;
    std::string cpu_provenance = "modelled";
    std::string ram_provenance = "modelled";
    std::vector<std::string> knobs;  // knobs.applied names
    std::string status = "complete";
    double model_tflop = -1.0;  // >= 0: the train and evaluate stages' `model_flops` work (9:1)
};

// Stage shares of the total (the nested validation stage is inside train, not added).
inline nlohmann::json make_run_json(const SyntheticRun& s) {
    using nlohmann::json;
    const double eval_e = s.eval_energy_j >= 0 ? s.eval_energy_j : 0.14 * s.total_energy_j;
    const double eval_t = s.eval_time_s >= 0 ? s.eval_time_s : 0.14 * s.total_time_s;
    const double rest_e = s.total_energy_j - eval_e;
    const double rest_t = s.total_time_s - eval_t;
    // shares of the non-evaluate part
    const std::vector<std::pair<std::string, double>> shares = {{"load_dataset", 0.02},
                                                                {"tokenize", 0.03},
                                                                {"load_model", 0.02},
                                                                {"train", 0.91},
                                                                {"save", 0.02}};
    json prov = {{"cpu", s.cpu_provenance}, {"ram", s.ram_provenance}, {"gpu", "n/a"}};
    auto stage = [&](const std::string& name, const std::string& path, const json& parent, double e,
                     double t, double start) {
        const double cpu = 0.9 * e;
        const double ram = e - cpu;
        return json{{"name", name},
                    {"path", path},
                    {"parent", parent},
                    {"start_s", start},
                    {"duration_s", t},
                    {"energy_j", {{"cpu", cpu}, {"ram", ram}, {"gpu", nullptr}, {"total", e}}},
                    {"provenance", prov},
                    {"mean_power_w",
                     {{"cpu", t > 0 ? cpu / t : 0.0},
                      {"ram", t > 0 ? ram / t : 0.0},
                      {"gpu", nullptr},
                      {"total", t > 0 ? e / t : 0.0}}},
                    {"static_energy_j", nullptr},
                    {"dynamic_energy_j", nullptr},
                    {"work", {{"samples", 100}, {"tokens", 20000}}},
                    {"emissions_g", e / 3.6e6 * 475.0},
                    {"warnings", json::array()}};
    };
    json stages = json::array();
    double t0 = 0.0;
    for (const auto& [name, share] : shares) {
        stages.push_back(stage(name, name, nullptr, share * rest_e, share * rest_t, t0));
        if (name == "train" && s.model_tflop >= 0) {
            stages.back()["work"]["model_flops"] = 0.9 * s.model_tflop * 1e12;
        }
        if (name == "train") {
            stages.push_back(stage("validate", "train/validate", "train", 0.05 * share * rest_e,
                                   0.05 * share * rest_t, t0 + 0.9 * share * rest_t));
        }
        t0 += share * rest_t;
    }
    stages.push_back(stage("evaluate", "evaluate", nullptr, eval_e, eval_t, t0));
    if (s.model_tflop >= 0) {
        stages.back()["work"]["model_flops"] = 0.1 * s.model_tflop * 1e12;
    }
    json total = stage("total", "total", nullptr, s.total_energy_j, s.total_time_s, 0.0);
    // The stated range of the modelled parts (energy/tracker: -50 %/+100 % for the default CPU
    // TDP).
    total["energy_range_j"] = {
        {"total", {{"low", 0.5 * s.total_energy_j}, {"high", 2.0 * s.total_energy_j}}}};
    json applied = json::array();
    for (const auto& k : s.knobs) {
        applied.push_back({{"name", k}, {"params", json::object()}});
    }
    return json{{"schema", "greenknobs.run/1"},
                {"status", s.status},
                {"error", s.status == "complete" ? json(nullptr) : json("synthetic failure")},
                {"name", s.variant},
                {"config", json::object()},
                {"config_hash", std::string(64, 'a')},
                {"greenknobs_version", "0.1.0"},
                {"git_commit", "unknown"},
                {"started_at", "2026-11-28T05:00:00Z"},
                {"finished_at", "2026-11-28T05:10:00Z"},
                {"machine",
                 {{"hostname", "testhost"},
                  {"cpu_model", "Synthetic CPU @ 2.0GHz"},
                  {"logical_cpus", 2},
                  {"ram_gb", 23.4},
                  {"os", "Debian 12"},
                  {"torch_version", "1.13.1"},
                  {"blas", "OpenBLAS"},
                  {"device", "cpu"},
                  {"threads", 2}}},
                {"knobs", {{"applied", applied}, {"skipped", json::array()}}},
                {"data",
                 {{"train", 800},
                  {"validation", 100},
                  {"test", 100},
                  {"duplicates_removed", 0},
                  {"positives", {{"train", 80}, {"validation", 10}, {"test", 10}}},
                  {"truncated_share", 0.1}}},
                {"model",
                 {{"layers", 22},
                  {"total_params", 1000000},
                  {"trainable_params", 1000000},
                  {"weights_bytes", 4000000},
                  {"optimizer_state_bytes", 8000000}}},
                {"train",
                 {{"steps", 100},
                  {"epochs_run", 2},
                  {"final_loss", 0.3},
                  {"tokens_per_s", 5000.0},
                  {"peak_rss_mb", 900.0},
                  {"best_epoch", 2},
                  {"validation", json::array({{{"epoch", 1}, {"loss", 0.4}, {"f1_vul", 0.7}}})}}},
                {"metrics",
                 {{"f1_vul", s.f1_vul},
                  {"precision_vul", s.f1_vul},
                  {"recall_vul", s.f1_vul},
                  {"accuracy", s.accuracy},
                  {"f1_macro", 0.85},
                  {"f1_weighted", s.f1_weighted},
                  {"mcc", s.mcc},
                  {"confusion", {{"tn", 85}, {"fp", 5}, {"fn", 2}, {"tp", 8}}},
                  {"samples", 100},
                  {"samples_per_s", 100.0 / eval_t},
                  {"latency_ms_per_batch", 10.0},
                  {"j_per_sample", eval_e / 100.0}}},
                {"energy",
                 {{"schema", "greenknobs.energy/1"},
                  {"sample_period_s", 0.1},
                  {"sources", json::array({{{"name", "cpu-model"},
                                            {"component", "cpu"},
                                            {"available", true},
                                            {"why_unavailable", ""},
                                            {"provenance", s.cpu_provenance},
                                            {"used", true}},
                                           {{"name", "ram-model"},
                                            {"component", "ram"},
                                            {"available", true},
                                            {"why_unavailable", ""},
                                            {"provenance", s.ram_provenance},
                                            {"used", true}}})},
                  {"idle_power_w", {{"cpu", nullptr}, {"ram", nullptr}, {"gpu", nullptr}}},
                  {"carbon",
                   {{"intensity_g_per_kwh", 475.0},
                    {"source", "IEA world average"},
                    {"country_iso_code", "WORLD"},
                    {"pue", 1.0}}},
                  {"stages", stages},
                  {"total", total},
                  {"timeseries", json::array()}}}};
}

inline analysis::RunRecord make_record(const SyntheticRun& s) {
    return analysis::RunRecord{s.variant, s.repeat, make_run_json(s)};
}

// n runs of one variant with the given per-run total energies (other values from `proto`).
inline std::vector<analysis::RunRecord> make_runs(SyntheticRun proto,
                                                  const std::vector<double>& energies_j) {
    std::vector<analysis::RunRecord> out;
    for (size_t i = 0; i < energies_j.size(); ++i) {
        proto.repeat = static_cast<int>(i);
        proto.total_energy_j = energies_j[i];
        out.push_back(make_record(proto));
    }
    return out;
}

}  // namespace gk::testing
