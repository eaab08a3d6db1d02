// Model FLOPs: the arithmetic a ModernBERT sequence classifier needs for one sequence of real
// tokens, counted from its config (no timing, no profiler). The convention of "model FLOPs
// utilisation": a multiply-add is 2 FLOPs and only the matrix products count — the projections
// (Wqkv, Wo, Wi, the MLP's Wo), attention's scores and values over the keys each query may see
// (all of them in a global layer, |i - j| <= local_attention / 2 in a local one) and the
// classification head on the pooled vector. Padding, recomputation (gradient checkpointing), the
// embedding lookup, norms, activations, softmax and the optimizer are not counted, and neither is
// precision: what any implementation of the same model computes is at least this, which is what
// makes it a floor (docs/measurement.md, "Model FLOPs").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "greenknobs/model/config.h"

namespace gk::model {

// What a training step updates, which decides its backward pass: a product whose weight trains
// costs its forward again twice (the input's and the weight's gradients), a frozen one whose input
// still needs a gradient once, and nothing below the lowest trained parameter is differentiated.
struct TrainedParts {
    enum class Mode {
        kFull,      // every weight trains (fine-tuning)
        kAdapters,  // the encoder is frozen, LoRA adapters of rank `lora_r` on `lora_targets` train
        kHeadOnly,  // the encoder is frozen (a quantized base without adapters): only the head
                    // trains
    };
    Mode mode = Mode::kFull;
    int64_t lora_r = 0;
    // Names as lora.targets writes them: "attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo".
    std::vector<std::string> lora_targets;
};

struct SequenceFlops {
    double forward = 0;  // one forward pass
    double train = 0;    // one training step's forward and backward on the sequence
};

// Query-key pairs a layer computes for a sequence of `length` tokens: length² when global, else
// the pairs with |i - j| <= window / 2 (ModernBERT's sliding window of `window` tokens).
int64_t attended_pairs(int64_t length, bool global, int64_t window);

// The FLOPs of one sequence of `length` real tokens through `c`'s layers (pruned layers are not in
// `c`) and its head. length <= 0 counts nothing.
SequenceFlops sequence_flops(const ModernBertConfig& c, int64_t length,
                             const TrainedParts& trained = {});

// Sums over sequences of the given lengths.
SequenceFlops split_flops(const ModernBertConfig& c, const std::vector<int64_t>& lengths,
                          const TrainedParts& trained = {});

}  // namespace gk::model
