// The six metered stages of one run — load_dataset, tokenize, load_model, train (+ train/validate), save,
// evaluate — with identical boundaries in every configuration, writing a run directory (docs/design.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "greenknobs/knobs/run_config.h"

namespace gk::pipeline {

struct PipelineOptions {
    std::string out_dir;           // the run directory (created; must not hold a complete run.json)
    bool overwrite = false;        // allow replacing an existing run directory's results
    bool print_summary = true;     // per-stage energy table and metrics on stdout at the end
};

// Runs everything and returns the run.json document (status "complete"). On any failure the run directory gets
// a run.json with status "failed" (or "skipped" for an unsupported knob, UnsupportedError) and the error is
// rethrown. Nothing is marked complete unless every stage finished and every file was written.
nlohmann::json run_pipeline(const knobs::RunConfig& config, const PipelineOptions& options);

// Loads a saved model directory (model.safetensors, config.json, tokenizer.json) and classifies JSON Lines from
// `in` ({"text": ...} or {"input_ids": [...], "attention_mask": [...]}) into `out`
// ({"logits": [...], "label": 0|1, "p_vul": x}). Errors name "<stdin>:<line>".
void predict_jsonl(const std::string& model_dir, std::istream& in, std::ostream& out,
                   const std::string& device, int max_length, int batch_size);

}  // namespace gk::pipeline
