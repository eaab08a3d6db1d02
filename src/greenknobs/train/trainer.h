// The training loop of the `train` stage and the plain evaluation path. It knows a model only as a
// torch::nn::Module (for its parameters and train/eval mode) plus a forward function, so any
// encoder — ModernBERT or a test model — trains through the same code. Energy metering stays
// outside: the caller's hooks open and close the nested `train/validate` stage.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"
#include "greenknobs/train/batch.h"
#include "greenknobs/train/metrics.h"
#include "greenknobs/train/optim.h"
#include "greenknobs/train/precision.h"

namespace gk::train {

// logits [B, 2] from input_ids [B, S] int64 and attention_mask [B, S] int64 (1 = token).
using ForwardFn = std::function<torch::Tensor(const torch::Tensor& input_ids,
                                              const torch::Tensor& attention_mask)>;

struct TrainHooks {
    // Called around each epoch's validation with stage "validate" (the pipeline opens
    // `train/validate`).
    std::function<void(const std::string& stage)> stage_begin;
    std::function<void(const std::string& stage, int64_t samples, int64_t tokens)> stage_end;
    // Called after every micro-batch; it may throw to stop training (the pipeline's SIGINT/SIGTERM
    // handling throws pipeline::Interrupted here, so a stop waits for one batch at most).
    std::function<void()> after_batch;
};

// What the Trainer needs beyond config::TrainConfig.
struct TrainerOptions {
    int32_t pad_id = 0;                 // the tokenizer's [PAD]
    int eval_batch_size = 32;           // validation batch size (train.validation_batch_size)
    bool eval_bucket_by_length = true;  // validation batches in longest-first order (evaluate())
    int optimizer_block_size = 2048;    // adamw8bit block (2048 or 256)
    bool fused_adamw = true;            // adamw's fused CPU pass (false: LibTorch's loop; benches)
    bool progress = true;               // a Progress bar (plain lines when stderr is piped)
};

struct EpochValidation {
    int epoch = 0;          // 1-based
    double train_loss = 0;  // mean training loss of the epoch
    double loss = 0;        // mean validation loss
    Metrics metrics;
    double duration_s = 0;  // of the validation pass
};

struct TrainReport {
    int64_t steps = 0;  // optimizer steps (skipped fp16 overflow steps included)
    int epochs_run = 0;
    double final_loss = 0;  // mean training loss of the last epoch run
    double tokens_per_s =
        0;  // real (non-pad) training tokens per second of training, validation excluded
    int64_t tokens = 0;         // real tokens seen in training
    int64_t padded_tokens = 0;  // tokens computed on, pads included
    // What the same epochs would have padded to without group_by_length (equal to padded_tokens
    // when off): the padding the knob saved is the difference.
    int64_t padded_tokens_without_grouping = 0;
    int64_t effective_batch_size = 0;  // batch_size × grad_accum: samples per optimizer step
    double train_duration_s = 0;       // training time without validation
    double peak_rss_mb = 0;            // VmHWM of the process
    int best_epoch = 0;  // 1-based; the weights of this epoch are in the module after fit()
    bool early_stopped = false;
    int64_t skipped_steps = 0;  // fp16 steps skipped on inf/nan gradients
    int64_t optimizer_state_bytes = 0;
    std::string optimizer_name;   // what the optimizer object says it is
    std::string optimizer_impl;   // how its steps ran (Optimizer::implementation)
    std::string pin_memory_note;  // non-empty when pin_memory was asked for but has no effect here
    // What ran, observed while it ran (run.json evidence of the training knobs):
    int validation_batch_size = 0;             // the validation pass's batch size
    bool validation_bucket_by_length = false;  // its batches were built longest first
    // Whether each epoch was validated: "on", or "off: " and why (train.validate_epochs = false,
    // or no validation split). Off: the last epoch is the model.
    std::string epoch_validation = "on";
    std::string precision;  // autocast state inside the first step: fp32 | bf16 | fp16
    int64_t micro_batches =
        0;  // forward/backward passes (= steps × grad_accum, short last groups aside)
    int64_t max_micro_batch = 0;  // the largest micro-batch seen, in samples
    // The first micro-batch's autograd graph: nodes reachable from the loss, and how many of them
    // are checkpointed encoder layers (grad_checkpointing: one per layer, whose activations are
    // recomputed).
    int64_t autograd_nodes = 0;
    int64_t checkpointed_layers = 0;
    LoaderStats loader;
    bool pin_memory_effective = false;  // batches really were page-locked
    std::vector<EpochValidation> validation;
    // run.json's `train` object (docs/design.md), plus early_stopped, tokens, padded_tokens,
    // padded_tokens_without_grouping, effective_batch_size and skipped_steps.
    nlohmann::json to_json() const;
};

struct EvalResult {
    torch::Tensor logits;          // [N, 2] float, in split order
    std::vector<int> predictions;  // argmax
    std::vector<float> p_vul;      // softmax probability of class 1
    Metrics metrics;               // samples_per_s and latency_ms_per_batch filled
    double loss = 0;               // mean cross-entropy (0 when the split has no labels)
    double duration_s = 0;
    int64_t tokens = 0;         // real tokens
    int64_t padded_tokens = 0;  // tokens computed on: Σ batch × its longest sequence
    bool bucket_by_length = false;
};

// The plain evaluation path: eval mode, inference mode, dynamic padding per batch. With
// bucket_by_length (the default) the batches are built longest first (util::longest_first), so
// each pads only to its own longest member; every sample's logits are the same up to float
// rounding, and results come back in split order either way. The module's train/eval mode is
// restored afterwards.
EvalResult evaluate(torch::nn::Module& module, const ForwardFn& forward,
                    const TokenizedSplit& split, int batch_size, const torch::Device& device,
                    Precision precision, int32_t pad_id = 0, bool bucket_by_length = true);

class Trainer {
  public:
    Trainer(torch::nn::Module& module, ForwardFn forward, config::TrainConfig config,
            torch::Device device, TrainerOptions options = {});
    // Trains for config.epochs (or until early stopping), validating after each epoch, and leaves
    // the module holding the weights of the best epoch by validation F1 of the vulnerable class.
    // The module must already be on `device`; seed before building it for a reproducible
    // initialisation (fit seeds torch and the shuffle from config.seed at its start). An empty
    // validation split skips validation.
    TrainReport fit(const TokenizedSplit& train, const TokenizedSplit& validation,
                    const TrainHooks& hooks = {});

  private:
    torch::nn::Module& module_;
    ForwardFn forward_;
    config::TrainConfig config_;
    torch::Device device_;
    TrainerOptions options_;
};

// Peak resident set size of this process (VmHWM from /proc/self/status), in MiB; 0 if unreadable.
double peak_rss_mb();

}  // namespace gk::train
