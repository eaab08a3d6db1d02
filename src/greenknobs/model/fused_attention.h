// Attention on the CPU as one kernel, forward and backward. LibTorch 1.13 runs an attention as a
// batched matmul, a softmax and a second batched matmul; its CPU bmm loops over the batch in one
// thread, three tensor selects and a BLAS call per matrix, and the block-gather kernel
// (attention_kernels.h) feeds it hundreds of 32-query blocks a layer, each through gathers and
// copies: at the ModernBERT-base shape attention took 40 % of an evaluation for 10 % of its
// arithmetic (docs/perf.md), and the rotary embedding 20 % more (broadcast multiplies over
// strided halves). This kernel rotates q and k as it reads them from the projection's output,
// then computes, per sequence and head, four queries at a time: their scores against the keys they
// may see (the whole sequence, or the sliding-window band), the softmax in fp32 and the weighted
// sum of values, never touching a pad. With autograd on it keeps each row's log-sum-exp, and its
// backward recomputes the probabilities from it (as FlashAttention's does) instead of storing them.
// No attention dropout: a model with it trains through the LibTorch kernels.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace gk::model {

// Sequences on a flat token axis: sequence i is tokens [start[i], start[i] + len[i]), at positions
// 0 .. len[i] - 1 (right-padded rows of a padded batch, or packed unpadded ones). Tokens in no
// sequence are pads.
struct TokenSpans {
    std::vector<int64_t> start;
    std::vector<int64_t> len;
};

// Whether fused_attention can stand in for the attention of a forward on tensors like `like`: on
// the CPU, floating point, and not inside a TorchScript trace (the compile knob records LibTorch
// ops).
bool fused_attention_supported(const torch::Tensor& like);

// softmax(q kᵀ) v within each sequence of `spans`, with q and k rotated on the way in. qkv:
// [N, 3, heads, d], the projection's output as it is (any token stride); cos, sin: [P, d], HF's
// rotary tables by position (P at least the longest sequence); q_scale multiplies q after its
// rotation (1/sqrt(d)). window > 0: query i sees key j only when |i − j| ≤ window / 2 (HF's sliding
// window); 0: the whole sequence. Returns [N, heads · d] in qkv's dtype, zeros at pad tokens. The
// arithmetic is fp32 whatever the input dtype (bf16 widened once, the output rounded once). Where
// autograd records (grad mode on and qkv requires grad), the gradient of qkv flows through it.
torch::Tensor fused_attention(const torch::Tensor& qkv, const torch::Tensor& cos,
                              const torch::Tensor& sin, double q_scale, const TokenSpans& spans,
                              int64_t window);

}  // namespace gk::model
