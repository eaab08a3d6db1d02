// V9 inference engine: a separate evaluate path. The model is put in eval mode and run under
// torch::InferenceMode with its projections frozen and pre-packed (fp32 dense, bf16, or int8 dynamic
// quantization via oneDNN), on length-bucketed batches whose results are put back in input order.
// While an engine exists, the model computes through the engine's packed weights; the destructor restores it.
// Packing materializes a dense weight per adapted projection (LoRA folded in, NF4/int8 dequantized), so a
// quantized model holds fp32 (or bf16 / int8) weights again for the engine's lifetime.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <torch/torch.h>

#include "greenknobs/knobs/run_config.h"
#include "greenknobs/model/linear.h"

namespace gk::model {
class ModernBertForSequenceClassificationImpl;
}

namespace gk::adapters {

class CompiledModel;

// input_ids [B, S] int64, attention_mask [B, S] int64 -> logits [B, 2] float.
using ForwardFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

// What the engine and the compiler need from a model: the module (its Linears and parameters) and its forward.
struct Classifier {
    std::shared_ptr<torch::nn::Module> module;
    ForwardFn forward;
};
Classifier classifier_of(const std::shared_ptr<model::ModernBertForSequenceClassificationImpl>& m);
// Any module holder whose impl has forward(input_ids, attention_mask) (tests use a toy model).
template <class Holder>
Classifier make_classifier(const Holder& m) {
    auto impl = m.ptr();
    return {impl, [impl](const torch::Tensor& ids, const torch::Tensor& mask) { return impl->forward(ids, mask); }};
}

struct EngineOptions {
    std::string engine = "packed";  // plain: the model as trained, no_grad | packed: frozen, pre-packed
    std::string dtype = "fp32";     // fp32 | bf16 | int8 (int8: packed only)
    int batch_size = 32;
    bool bucket_by_length = true;   // sort by length, batch, restore order
    int64_t pad_id = 0;
    // bf16: also pre-cast every projection's weight to bf16 once (true), or leave weights fp32 and let
    // autocast cast them on each call (false). Both run autocast for the rest (attention matmuls).
    // Measured equal on this machine (cpu-small, 1232 vs 1237 ms CPU per 128 samples, docs/perf/adapters.md);
    // pre-cast is the default since it also halves the weights' memory and skips the per-call casts.
    bool bf16_weights = true;
    bool compile = false;           // run the model through a TorchScript trace (compile.h)
};
// From the run configuration (inference.* and train.compile).
EngineOptions engine_options(const knobs::RunConfig& cfg, int64_t pad_id);

struct EngineTiming {
    int64_t samples = 0;
    int64_t batches = 0;
    int64_t real_tokens = 0;
    int64_t padded_tokens = 0;        // tokens computed, pads included
    double duration_s = 0;            // whole run: collation + forward + copy-out
    double forward_s = 0;             // sum of the batches' forward times
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

    // Token-id sequences (each non-empty, already truncated) -> logits per sequence, in input order.
    EngineResult run(const std::vector<std::vector<int32_t>>& sequences);
    // One batch through the engine's path: ids, mask [B, S] int64 -> logits [B, 2] float (CPU).
    torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

    const EngineOptions& options() const { return opts_; }
    // The dtype actually used: differs from options().dtype only after a fallback.
    const std::string& dtype() const { return dtype_; }
    const std::string& fallback_reason() const { return fallback_reason_; }
    int packed_linears() const { return static_cast<int>(restore_.size()); }
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
    std::vector<std::pair<std::shared_ptr<model::LinearImpl>, std::shared_ptr<model::LinearAdapter>>> restore_;
    std::unique_ptr<CompiledModel> compiled_;
    double pack_s_ = 0;
};

// Whether int8 dynamic quantization works in this build (quantized::linear_prepack/linear_dynamic with the
// oneDNN engine); why not otherwise.
bool int8_dynamic_supported(std::string* why_not);

// Enables bf16 autocast on `device` for its lifetime (LibTorch 1.13 has no C++ guard; 2.x renamed the API).
class AutocastBf16 {
public:
    explicit AutocastBf16(const torch::Device& device, bool enabled = true);
    ~AutocastBf16();
    AutocastBf16(const AutocastBf16&) = delete;
    AutocastBf16& operator=(const AutocastBf16&) = delete;

private:
    bool enabled_;
    bool cuda_;
    bool prev_enabled_ = false;
    at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace gk::adapters
