// `greenknobs pretrain`: masked-LM pretraining of a ModernBERT encoder on a code corpus, metered
// like `train` (stages load_corpus, tokenize, load_model, train with nested train/validate and
// train/checkpoint, save) into a run directory, resumable from its last checkpoint after any
// interruption (kill -9 included) by running the same command again.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "greenknobs/pretrain/config.h"

namespace gk::pretrain {

struct PretrainOptions {
    std::string out_dir;
    bool overwrite = false;        // discard the directory's checkpoints and start over
    int64_t stop_after_steps = 0;  // this invocation stops after N steps (0 = until max_steps)
    double time_limit_s = 0;       // ... or once this much wall time has passed (0 = none)
    bool print_summary = true;
    bool progress = true;
    // When set and *stop_signal becomes non-zero (a signal handler writes the signal number), the
    // run pauses at the next step boundary as a time limit does: checkpoint, energy, run.json
    // "paused".
    const volatile std::sig_atomic_t* stop_signal = nullptr;
};

// Runs (or resumes) the run in opt.out_dir. Returns run.json's content; its status is "complete"
// when train.max_steps were reached, "paused" when this invocation stopped early by
// stop_after_steps / time_limit_s / stop_signal (checkpointed: the same command continues); its
// "stopped_by" says which ("max_steps", "stop_after_steps", "time_limit", "SIGINT", "SIGTERM").
nlohmann::json run_pretrain(const PretrainConfig& c, const PretrainOptions& opt);

// The run directory's layout, for tests and the model card.
std::string checkpoints_dir(const std::string& run_dir);
// The newest complete checkpoint directory, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

}  // namespace gk::pretrain
