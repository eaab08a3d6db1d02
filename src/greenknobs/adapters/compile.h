// V11 compile, for evaluation only: the model's forward traced into TorchScript (the C++ module's
// parameters become attributes of a jit::Module, which is then frozen and
// optimize_for_inference'd). Training stays eager on this build: a trace records one forward,
// autograd through a frozen graph is not the model's backward, and LibTorch 1.13 here has no
// NNC/LLVM fuser to gain from (libtorch-notes §4g). The knobs table says "evaluation only on this
// build".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "greenknobs/adapters/engine.h"

namespace torch::jit {
struct Module;
}

namespace gk::adapters {

// A traced, frozen model callable like the eager one. A trace is specialized to its input shape
// (the model reads sizes as plain integers), so one trace is made per [batch, seq] shape on first
// use and cached; the engine rounds sequence lengths up to kSeqMultiple and keeps batches full so a
// few traces cover a run. Traces record the padded-mask branch of the model, so they are valid for
// any mask of their shape. The model must not unpad (data-dependent shapes): that is checked at
// construction where visible.
class CompiledModel {
  public:
    static constexpr int64_t kSeqMultiple = 32;

    // Objects the forward uses besides the module's tensors (the engine's prepacked int8 weights):
    // the tracer only accepts script objects that are attributes of the module being traced.
    using Objects = std::vector<std::pair<std::string, c10::IValue>>;
    // autocast kBFloat16 / kHalf: trace and run under that autocast (the graph records autocast's
    // casts); kFloat: fp32, no autocast.
    explicit CompiledModel(Classifier model, at::ScalarType autocast = at::kFloat,
                           Objects objects = {});
    ~CompiledModel();
    CompiledModel(const CompiledModel&) = delete;
    CompiledModel& operator=(const CompiledModel&) = delete;

    // input_ids, attention_mask [B, S] int64 -> logits [B, 2]; traces on a new shape.
    torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

    int64_t traces() const { return static_cast<int64_t>(cache_.size()); }
    double trace_s() const { return trace_s_; }  // total time spent tracing + freezing + optimizing
    // What ran on the last trace: "trace", "freeze", "optimize_for_inference" (or why a step was
    // skipped).
    const std::vector<std::string>& steps() const { return steps_; }
    // Every step skipped on any trace, once per distinct step and reason: {"freeze", "<error>"}.
    // The traced model still runs (unfrozen or unoptimized), so these are fallbacks the run must
    // record, not errors.
    const std::vector<std::pair<std::string, std::string>>& failures() const { return failures_; }
    at::ScalarType autocast() const { return autocast_; }

  private:
    std::shared_ptr<torch::jit::Module> trace_shape(int64_t batch, int64_t seq,
                                                    const torch::Device& device);

    Classifier model_;
    at::ScalarType autocast_;
    Objects objects_;
    std::map<std::pair<int64_t, int64_t>, std::shared_ptr<torch::jit::Module>> cache_;
    std::vector<std::string> steps_;
    std::vector<std::pair<std::string, std::string>> failures_;
    double trace_s_ = 0;
};

}  // namespace gk::adapters
