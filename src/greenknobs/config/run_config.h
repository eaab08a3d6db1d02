// RunConfig: everything one pipeline run does, fully resolved. It is the contract between the CLI,
// the knobs, the pipeline and the study runner: TOML in, `--set key=value` overrides, canonical
// JSON out, and a SHA-256 of that JSON as the run's identity (two runs with equal hashes did
// exactly the same thing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/config/choices.h"

namespace gk::config {

struct DataConfig {
    std::string path = "data/juliet/juliet_functions.csv";  // CSV (MSR layout) or JSON Lines
    DataFormat format = DataFormat::kAuto;  // auto | csv | jsonl (auto: by extension)
    DataMode mode = DataMode::kNatural;  // natural: func_before+vul | paired: before→1, after→0
    double validation_fraction = 0.1;    // used only when the data has no `split` column
    double test_fraction = 0.1;
    int64_t max_train_samples = 0;  // 0 = all; otherwise a seeded, class-stratified sample
    int64_t max_eval_samples = 0;   // caps validation and test alike
    Dedup dedup =
        Dedup::kExact;  // none | exact | near (whitespace-normalised exact / MinHash near-dup)
    double near_dup_threshold = 0.9;  // Jaccard similarity for dedup = near
};

struct TokenizerConfig {
    std::string path = "data/modernbert/tokenizer.json";
    int max_length = 128;  // truncation, incl. [CLS]/[SEP] (Juliet: median ~100 tokens)
    int threads = 0;       // 0 = all hardware threads
    bool cache = false;    // content-addressed on-disk cache of encoded splits
    std::string cache_dir = ".cache/greenknobs/tokens";
};

struct ModelConfig {
    std::string preset =
        "cpu-small";  // base | cpu-small | cpu-tiny | test-tiny (all but test keep 22 layers)
    // Where the encoder's weights come from when init_from is empty: "auto" = the checkpoint
    // shipped for the preset (data/pretrained/<preset>-code/, masked-LM pretrained on C/C++) where
    // one exists, else HF's random init; "pretrained" = that checkpoint or an InputError; "scratch"
    // = random init.
    WeightsInit init = WeightsInit::kAuto;
    std::string init_from;  // HF checkpoint directory (classifier or masked LM); wins over init
    Pooling pooling = Pooling::kMean;  // mean | cls
    int prune_layers = 0;              // remove n encoder layers before training
    PruneFrom prune_from =
        PruneFrom::kTop;  // top = the last n (nearest the output) | bottom = the first n
    Attention attention = Attention::kEager;  // eager | sdpa (fused kernel where LibTorch has one)
    bool unpad = false;  // drop pad tokens before the encoder (ModernBERT's unpadding)
    // Padded eager attention per group of rows of similar length (the same logits and gradients;
    // the attention_kernel knob's group_rows). The paper's catalog pins false: its V0 is HF's full
    // [B, S, S] eager.
    bool group_rows = true;
    // Attention on the CPU as one fused kernel, training and evaluation (model/fused_attention.h;
    // the same logits and gradients; the attention_kernel knob; decisions 0009, 0011). The paper's
    // catalog pins false with group_rows.
    bool fused_attention = true;
    // How a bf16 matrix product runs on the CPU (train.precision or inference.dtype bf16): auto |
    // libtorch | fp32-gemm (model/bf16_matmul.h: the same bf16 rounding by the fp32 GEMM; auto
    // takes it where LibTorch's bf16 GEMM is its scalar reference loop). No knob changes it.
    Bf16Matmul bf16_matmul = Bf16Matmul::kAuto;
};

struct LoraConfig {
    bool enabled = false;
    int r = 8;
    double alpha = 16.0;
    double dropout = 0.05;
    std::vector<std::string> targets = {"attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo"};
    // Fold the adapters into dense fp32 weights before the evaluate stage. Off: evaluate runs the
    // model as trained (adapters unmerged, a quantized base still quantized), as PEFT evaluates.
    // The saved model.safetensors is merged either way.
    bool merge = false;
};

struct QuantizationConfig {
    int bits =
        0;  // 0 = off | 8 = int8 per-channel | 4 = NF4 block-wise; base weights frozen (QLoRA)
    int block_size = 64;
};

struct TrainConfig {
    int epochs = 1;
    int batch_size = 16;
    int grad_accum =
        1;  // micro-batches per optimizer step; effective batch = batch_size × grad_accum
    double lr = 1e-3;  // from scratch, tiny model: 1e-3 beat 3e-4 on Juliet (docs/perf.md)
    double weight_decay = 0.01;
    double warmup_ratio = 0.1;
    double max_grad_norm = 1.0;
    Optimizer optimizer = Optimizer::kAdamw;  // adamw | adamw8bit | adamw_foreach
    // fp32 | bf16 (autocast) | fp16 (autocast + loss scaling, CUDA)
    Precision precision = Precision::kFp32;
    bool grad_checkpointing = false;
    int loader_workers = 0;  // background collation threads (0 = collate on the training thread)
    bool pin_memory = false;
    bool group_by_length = false;
    int early_stopping_patience = 0;  // epochs without validation-F1 gain before stopping (0 = off)
    // Score the validation split after each epoch (HF's eval_strategy = "epoch"), to keep the best
    // epoch and to stop early. Off: no `validate` stage; the last epoch is kept.
    bool validate_epochs = true;
    Compile compile = Compile::kNone;  // none | torchscript
    uint64_t seed = 42;
    int validation_batch_size = 32;  // the per-epoch validation pass (no knob changes it)
    // Its batches built longest first (as inference.bucket_by_length; no knob changes it). The
    // paper's catalog pins false, so its V0 validates in the given order as it always did.
    bool validation_bucket_by_length = true;
};

struct InferenceConfig {
    // plain (the training model, no_grad) | packed (frozen, pre-packed)
    Engine engine = Engine::kPlain;
    // The evaluate stage's precision: train = train.precision's (default) | fp32 | bf16 | int8
    // (packed only)
    EvalDtype dtype = EvalDtype::kTrain;
    int batch_size = 32;
    // Batches built longest first (either engine): each pads only to its own longest sample; the
    // predictions are the same up to float rounding. The paper's catalog pins false for its V0.
    bool bucket_by_length = true;
    // Also score the validation split through the same path, metered as its own stage
    // (`evaluate_validation`; run.json `evaluation.validation_metrics`): what `greenknobs tune`
    // selects on, so that an inference knob's effect on accuracy is seen before test. Extra work,
    // off by default.
    bool score_validation = false;
};

// The stage in which a run scores its validation split (InferenceConfig::score_validation): the
// pipeline opens it, the tune leaves it out of a run's energy and time.
inline constexpr const char* kScoreValidationStage = "evaluate_validation";

struct SystemConfig {
    Device device = Device::kCpu;  // cpu | cuda
    int threads = 0;               // intra-op threads; 0 = all hardware threads
    double power_limit_w = 0;      // 0 = leave as is; else GPU (NVML) or CPU (RAPL powercap) limit
};

struct EnergyConfig {
    double sample_period_s = 0.1;
    double idle_baseline_s = 0;   // idle power measured for this long before the run (0 = skip)
    std::string country = "";     // ISO 3166 alpha-3; empty = world average
    double carbon_g_per_kwh = 0;  // override (0 = from country / world average)
    double pue = 1.0;
    double cpu_tdp_w = 0;  // override the TDP table (0 = look up, else default)
    // What the CPU and RAM models charge to the run: "machine" (the whole machine's utilisation and
    // installed RAM, or the cgroup's: right on a dedicated machine or node) or "process" (this
    // process tree's CPU time and resident memory: right on a machine shared with other work).
    // Hardware counters (RAPL, NVML) stay machine- or device-wide either way.
    EnergyScope scope = EnergyScope::kMachine;
};

struct RunConfig {
    std::string name = "run";  // variant id or user label
    std::vector<std::string>
        knobs;  // knobs applied (informational; the fields above are the truth)
    DataConfig data;
    TokenizerConfig tokenizer;
    ModelConfig model;
    LoraConfig lora;
    QuantizationConfig quantization;
    TrainConfig train;
    InferenceConfig inference;
    SystemConfig system;
    EnergyConfig energy;
};

nlohmann::json to_json(const RunConfig& c);
// The directory of the pretrained checkpoint shipped for a preset ("data/pretrained/<preset>-code",
// relative to the working directory like every bundled path).
std::string pretrained_dir(const std::string& preset);
// Strict: every key must be known and of the right type; `origin` names the file for errors.
RunConfig from_json(const nlohmann::json& j, const std::string& origin);

// Merges a TOML file over `base` (keys as in to_json, tables as sections).
RunConfig load_toml(const std::string& path, const RunConfig& base = RunConfig{});
// Parses a TOML string (origin names it in errors).
nlohmann::json toml_to_json(const std::string& text, const std::string& origin);
// Applies "section.key=value"; the value is parsed as the type the key already has.
void apply_set(RunConfig& c, const std::string& assignment);
// The same on any config's JSON (strict: the key must exist; the value takes its type).
void apply_set_json(nlohmann::json& j, const std::string& assignment);
// A two-level JSON object (top-level keys, then tables) as TOML.
std::string json_to_toml(const nlohmann::json& j);
// Deep-merges `overlay` into `base` with strict key/type checks.
void merge_json(nlohmann::json& base, const nlohmann::json& overlay, const std::string& origin,
                const std::string& prefix = "");

// Range and consistency checks; throws InputError naming `origin` and the key.
void validate(const RunConfig& c, const std::string& origin);

// Canonical JSON (sorted keys, compact) and its SHA-256: the run's identity.
std::string canonical_json(const RunConfig& c);
std::string config_hash(const RunConfig& c);

// The same config rendered as TOML (what `greenknobs train --config` reads back).
std::string to_toml(const RunConfig& c);

}  // namespace gk::config
