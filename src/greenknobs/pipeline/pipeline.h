// The six metered stages of one run — load_dataset, tokenize, load_model, train (+ train/validate),
// save, evaluate — with identical boundaries in every configuration, writing a run directory
// (docs/design.md).
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"

namespace gk::pipeline {

struct PipelineOptions {
    std::string out_dir;        // the run directory (created; must not hold a complete run.json)
    bool overwrite = false;     // allow replacing an existing run directory's results
    bool print_summary = true;  // per-stage energy table and metrics on stdout at the end
};

// A run stopped by SIGINT or SIGTERM. run_pipeline catches the signal (a flag), stops at the next
// micro-batch of training or the next stage boundary, writes run.json "interrupted" and throws
// this; `greenknobs train` exits 128 + signal (130, 143).
class Interrupted : public std::runtime_error {
  public:
    Interrupted(int signal, const std::string& stage);
    int signal() const { return signal_; }
    const std::string& stage() const { return stage_; }  // the stage it stopped in ("" = none open)

  private:
    int signal_;
    std::string stage_;
};

// Runs everything and returns the run.json document (status "complete"). On any failure the run
// directory gets a run.json with status "failed" (or "skipped" for an unsupported knob,
// UnsupportedError) and the error is rethrown. SIGINT/SIGTERM while it runs end it with status
// "interrupted" (the energy measured up to then, emissions.csv and power.csv written) and
// Interrupted. Nothing is marked complete unless every stage finished and every file was written.
nlohmann::json run_pipeline(const config::RunConfig& config, const PipelineOptions& options);

struct PredictOptions {
    std::string device = "cpu";
    int max_length = 0;  // 0 = the model's training length (greenknobs.json), else 512
    int batch_size = 32;
    int top_k = 5;         // fill-mask: candidates per [MASK]
    int64_t mask_id = -1;  // fill-mask: the [MASK] id; -1 = greenknobs.json, else tokenizer.json
};

// Loads a saved model directory (model.safetensors, config.json, tokenizer.json) and answers JSON
// Lines from `in` ({"text": ...} or {"input_ids": [...], "attention_mask": [...]}) into `out`, one
// line per input, by the head config.json's `architectures` names:
// - a classifier: {"logits": [...], "label": 0|1, "p_vul": x};
// - a masked LM (fill-mask): {"masks": [{"position": P, "ids": [top-k ids], "logits": [...]}]},
//   one entry per [MASK] position in order; a checkpoint without a classifier never gives labels;
// - a bare encoder: an InputError (no head to answer with).
// The tokenizer is read only when a line carries text. Errors name "<stdin>:<line>".
void predict_jsonl(const std::string& model_dir, std::istream& in, std::ostream& out,
                   const PredictOptions& opt);

}  // namespace gk::pipeline
