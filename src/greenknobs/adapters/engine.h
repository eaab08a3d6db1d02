// V9 inference engine: a separate evaluate path. The model is put in eval mode and run under
// torch::InferenceMode with its projections frozen and pre-packed (fp32 dense, bf16, or int8
// dynamic quantization via oneDNN), on length-bucketed batches whose results are put back in input
// order. While an engine exists, the model computes through the engine's packed weights; the
// destructor restores it. Packing materializes a dense weight per adapted projection (LoRA folded
// in, NF4/int8 dequantized), so a quantized model holds fp32 (or bf16 / int8) weights again for the
// engine's lifetime.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "greenknobs/config/run_config.h"
#include "greenknobs/model/linear.h"

namespace gk::model {
class ModernBertForSequenceClassificationImpl;
}

namespace gk::adapters {

class CompiledModel;

// input_ids [B, S] int64, attention_mask [B, S] int64 -> logits [B, 2] float.
using ForwardFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

// What the engine and the compiler need from a model: the module (its Linears and parameters) and
// its forward.
struct Classifier {
    std::shared_ptr<torch::nn::Module> module;
    ForwardFn forward;
};
Classifier classifier_of(const std::shared_ptr<model::ModernBertForSequenceClassificationImpl>& m);
// Any module holder whose impl has forward(input_ids, attention_mask) (tests use a toy model).
template <class Holder>
Classifier make_classifier(const Holder& m) {
    auto impl = m.ptr();
    return {impl, [impl](const torch::Tensor& ids, const torch::Tensor& mask) {
                return impl->forward(ids, mask);
            }};
}

struct EngineOptions {
    std::string engine =
        "packed";  // plain: the model as trained, no_grad | packed: frozen, pre-packed
    std::string dtype = "fp32";  // fp32 | bf16 | fp16 (autocast, CUDA only) | int8 (packed only)
    int batch_size = 32;
    bool bucket_by_length = true;  // sort by length, batch, restore order
    int64_t pad_id = 0;
    // bf16: also pre-cast every projection's weight to bf16 once (true), or leave weights fp32 and
    // let autocast cast them on each call (false). Both run autocast for the rest (attention
    // matmuls). Measured equal on this machine (cpu-small, 1232 vs 1237 ms CPU per 128 samples,
    // docs/perf/adapters.md); pre-cast is the default since it also halves the weights' memory and
    // skips the per-call casts.
    bool bf16_weights = true;
    bool compile = false;  // run the model through a TorchScript trace (compile.h)
};
// The precision the evaluate stage computes in (docs/knobs.md, "Evaluation precision"):
// inference.dtype when it names one (fp32 | bf16 | int8), else ("train", the default) the precision
// training computed in (train.precision: fp32 | bf16 | fp16). So V27 (compile + bf16) evaluates
// under bf16, as V7 does.
std::string evaluation_dtype(const config::RunConfig& cfg);
// From the run configuration (inference.*, train.compile, and evaluation_dtype()).
EngineOptions engine_options(const config::RunConfig& cfg, int64_t pad_id);

// A step the engine could not take as asked, and what ran instead: never silent, recorded in
// run.json.
struct EngineFallback {
    std::string step;    // "int8 -> fp32", "freeze", "optimize_for_inference"
    std::string reason;  // the error or the missing capability
};

struct EngineTiming {
    int64_t samples = 0;
    int64_t batches = 0;
    int64_t real_tokens = 0;
    int64_t padded_tokens = 0;  // tokens computed, pads included
    double duration_s = 0;      // whole run: collation + forward + copy-out
    double forward_s = 0;       // sum of the batches' forward times
    double samples_per_s = 0;
    double latency_ms_per_batch = 0;  // mean forward time per batch
};

struct EngineResult {
    std::vector<std::array<float, 2>> logits;  // in input order
    EngineTiming timing;
};

class InferenceEngine {
  public:
    // Packs the model now (the pre-packing cost is not part of any run's timing; see pack_s()).
    InferenceEngine(Classifier model, EngineOptions opts);
    ~InferenceEngine();
    InferenceEngine(const InferenceEngine&) = delete;
    InferenceEngine& operator=(const InferenceEngine&) = delete;

    // Token-id sequences (each non-empty, already truncated) -> logits per sequence, in input
    // order.
    EngineResult run(const std::vector<std::vector<int32_t>>& sequences);
    // One batch through the engine's path: ids, mask [B, S] int64 -> logits [B, 2] float (CPU).
    torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

    const EngineOptions& options() const { return opts_; }
    // The dtype actually used: differs from options().dtype only after a fallback.
    const std::string& dtype() const { return dtype_; }
    const std::string& fallback_reason() const { return fallback_reason_; }
    // Every step that fell back so far: the int8 fallback at construction and the TorchScript steps
    // that failed on any trace (complete after run()).
    std::vector<EngineFallback> fallbacks() const;
    int packed_linears() const { return static_cast<int>(restore_.size()); }
    // The TorchScript model, or null when not compiling (its traces and steps are the compile
    // evidence).
    const CompiledModel* compiled() const { return compiled_.get(); }
    double pack_s() const { return pack_s_; }
    std::string describe() const;  // one line for logs and run.json

  private:
    void pack();
    torch::Tensor forward_batch(const torch::Tensor& ids, const torch::Tensor& mask);

    Classifier model_;
    EngineOptions opts_;
    std::string dtype_;
    std::string fallback_reason_;
    bool was_training_ = false;
    torch::Device device_{torch::kCPU};
    std::vector<
        std::pair<std::shared_ptr<model::LinearImpl>, std::shared_ptr<model::LinearAdapter>>>
        restore_;
    std::unique_ptr<CompiledModel> compiled_;
    double pack_s_ = 0;
};

// Whether int8 dynamic quantization works in this build (quantized::linear_prepack/linear_dynamic
// with the oneDNN engine); why not otherwise.
bool int8_dynamic_supported(std::string* why_not);

// The autocast dtype of an engine dtype name: kBFloat16 for "bf16", kHalf for "fp16", kFloat (no
// autocast) for "fp32" and "int8" (int8 linears take fp32 activations).
at::ScalarType autocast_type_of(const std::string& dtype);

// Enables autocast to `dtype` (bf16 or fp16; kFloat = no-op) on `device` for its lifetime
// (LibTorch 1.13 has no C++ guard; 2.x renamed the API).
class AutocastScope {
  public:
    AutocastScope(const torch::Device& device, at::ScalarType dtype);
    ~AutocastScope();
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

  private:
    bool enabled_;
    bool cuda_;
    bool prev_enabled_ = false;
    at::ScalarType prev_dtype_ = at::kBFloat16;
};

// How many of the model's projections compute through each path right now: "dense" (plain fp32
// weight) or the adapter's kind ("lora", "nf4+lora", "packed-int8", ...). Asked of the model, not
// the config.
std::map<std::string, int> linear_kinds(torch::nn::Module& root);

}  // namespace gk::adapters
