// PretrainConfig: everything one masked-LM pretraining run does (`greenknobs pretrain`), fully
// resolved: TOML in, `--set section.key=value` overrides, canonical JSON and its SHA-256 as the
// run's identity (a resumed run must have the same hash). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"

namespace gk::pretrain {

struct CorpusConfig {
    // A corpus already built by `greenknobs corpus` (JSON Lines, {"text"} per line); when empty
    // the corpus is built from `sources` in the load_corpus stage.
    std::string jsonl;
    std::vector<std::string> sources;  // NAME=PATH[:LICENSE] (a tarball or a directory)
    // Fine-tuning data that must not appear in the corpus (exact, near and contained matches).
    std::vector<std::string> decontaminate = {"data/juliet/juliet_functions.csv",
                                              "data/bigvul/bigvul_subset.csv"};
    std::string granularity = "function";  // function | file
    int64_t max_bytes = 0;                 // stop collecting after this much text (0 = all)
    double sample_fraction = 1.0;          // hash-based share of source files read
    double heldout_fraction = 0.01;        // documents held out (by hash) for validation
};

struct TokenizerConfig {
    std::string path = "data/modernbert/tokenizer.json";
    int max_length = 128;  // packed row length, [CLS]/[SEP] of each document included
    int threads = 0;       // 0 = all usable CPUs
};

struct ModelConfig {
    std::string preset = "cpu-small";
    std::string init_from;  // a masked-LM or bare-encoder HF checkpoint; empty = HF init
};

struct TrainConfig {
    double mask_prob = 0.3;  // ModernBERT's 30 %: of those 80 % [MASK], 10 % random, 10 % kept
    int batch_size = 32;     // packed rows per micro-batch
    int grad_accum = 1;      // micro-batches per optimizer step
    double lr = 1e-3;
    double weight_decay = 0.01;
    int64_t warmup_steps = 500;
    int64_t max_steps = 12500;  // the planned schedule (linear decay to 0 at max_steps)
    double max_grad_norm = 1.0;
    std::string precision = "fp32";   // fp32 | bf16 (autocast)
    std::string optimizer = "adamw";  // adamw (checkpointable)
    uint64_t seed = 42;
    int64_t eval_every = 250;        // steps between held-out evaluations
    int64_t eval_rows = 256;         // held-out rows per evaluation (fixed rows, fixed masks)
    int64_t checkpoint_every = 250;  // steps between resumable checkpoints
    int keep_checkpoints = 2;
};

struct PretrainConfig {
    std::string name = "pretrain";
    CorpusConfig corpus;
    TokenizerConfig tokenizer;
    ModelConfig model;
    TrainConfig train;
    config::SystemConfig system;
    config::EnergyConfig energy;

    int64_t tokens_per_step() const {
        return static_cast<int64_t>(train.batch_size) * train.grad_accum * tokenizer.max_length;
    }
};

nlohmann::json to_json(const PretrainConfig& c);
// Strict: unknown keys and wrong types are InputErrors naming `origin` and the key.
PretrainConfig from_json(const nlohmann::json& j, const std::string& origin);
PretrainConfig load_toml(const std::string& path);
void apply_set(PretrainConfig& c, const std::string& assignment);
void validate(const PretrainConfig& c, const std::string& origin);
std::string to_toml(const PretrainConfig& c);
// SHA-256 of the canonical JSON without `name`, `system` and `energy`: two runs with equal hashes
// learn the same thing (a resumed run must match; device and threads may change).
std::string config_hash(const PretrainConfig& c);

}  // namespace gk::pretrain
