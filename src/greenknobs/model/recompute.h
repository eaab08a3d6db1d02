// Activation recomputation ("gradient checkpointing") of one encoder layer: its forward keeps only
// the layer's input; backward re-runs the layer under the autocast state and CPU RNG state of the
// forward, then differentiates it (torch.utils.checkpoint's contract). Used by run_layers.
#pragma once

#include <torch/torch.h>

#include "greenknobs/model/modernbert.h"

namespace gk::model {

// The layer's output, computed so that backward recomputes its activations instead of keeping them.
// save_rng: replay the CPU generator in the recompute, so dropout (ours or a LoRA adapter's) draws
// the same masks twice.
torch::Tensor forward_recomputed(ModernBertEncoderLayerImpl& layer, const torch::Tensor& x,
                                 const LayerInputs& in, bool save_rng);

}  // namespace gk::model
