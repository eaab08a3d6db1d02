// Attention kernels that skip work the eager path does for nothing: pad tokens (unpadded, per
// sequence) and keys outside a local layer's sliding window (banded). Both are one "block-gather"
// kernel: queries are cut into blocks of kBlockQ tokens that never straddle two sequences; each
// block gathers only the keys it may see (its own sequence, and on local layers only the window
// band around the block), so the score matrix is [blocks, heads, kBlockQ, keys-per-block] instead
// of [B, heads, S, S]. Built from LibTorch ops (index_select, matmul, softmax), so autograd, bf16
// autocast and every device work unchanged; see docs/perf/attention.md for which kernel runs where.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace gk::model {

constexpr int64_t kBlockQ = 32;

// Which queries and keys each block computes. Token indices refer to a flat [N] token axis: the
// packed real tokens (unpadded) or the B*S positions of a padded batch.
struct BlockPlan {
    torch::Tensor q_index;     // [blocks * block_q] int64: token of each query slot (pad slot -> 0)
    torch::Tensor k_index;     // [blocks * block_k] int64: token of each key slot (pad slot -> 0)
    torch::Tensor bias;        // [blocks, 1, block_q, block_k] fp32: 0 = visible, lowest = hidden
    torch::Tensor token_slot;  // [N] int64: the query slot that computes each token
    int64_t blocks = 0;
    int64_t block_q = 0;
    int64_t block_k = 0;
    bool defined() const { return q_index.defined(); }
};

// seq_lens: consecutive sequences on the token axis (their sum = N). positions: empty (= 0, 1, ...
// within each sequence) or each token's position in its original row, increasing within a
// sequence (unpadded rows with pads before or between tokens). window > 0: query p sees key j
// only when |pos p - pos j| <= window / 2 (HF's sliding window), and a block gathers only that
// band; 0 = the whole sequence. Pad keys of a padded batch are hidden with with_key_bias.
BlockPlan make_block_plan(const std::vector<int64_t>& seq_lens,
                          const std::vector<int64_t>& positions, int64_t window, int64_t block_q,
                          const torch::Device& device);

// The plan with key_bias ([N] fp32: 0 = real key, lowest = pad) added to its mask, gathered on
// the device (no host round trip for a padded batch's mask).
BlockPlan with_key_bias(const BlockPlan& plan, const torch::Tensor& key_bias);

// src.index_select(0, index), with a backward that scatters through index_put_(accumulate) instead
// of index_select's index_add_: on LibTorch 1.13's CPU, index_add_ dispatches one add per gathered
// row (~85 ns a row here), 4x slower than index_put_'s single loop (docs/perf/attention.md). The
// sums run in index order either way.
torch::Tensor gather_rows(const torch::Tensor& src, const torch::Tensor& index);

// softmax(q k^T + mask) v over the plan's blocks. qk: [N, 2, heads, d] (rotary and the 1/sqrt(d)
// scale already applied to q), v: [N, heads, d] -> [N, heads * d]. Softmax in fp32 (as HF), the
// matmuls in the autocast dtype.
torch::Tensor block_attention(const torch::Tensor& qk, const torch::Tensor& v,
                              const BlockPlan& plan, double dropout_p, bool training);

// cos and sin for rotary_qk from HF's [N, d] tables: [N, 2, 1, d], the q half multiplied by
// q_scale, and sin's first half negated (so rotate_half becomes a roll).
std::pair<torch::Tensor, torch::Tensor> rotary_tables_qk(const torch::Tensor& cos,
                                                         const torch::Tensor& sin, double q_scale);

// q and k rotated together: x*cos + rotate_half(x)*sin as x*cos2 + roll(x, d/2)*sin2, with the
// attention scale folded into q's tables. qk: [N, 2, heads, d], cos2/sin2 from rotary_tables_qk.
torch::Tensor rotary_qk(const torch::Tensor& qk, const torch::Tensor& cos2,
                        const torch::Tensor& sin2);

}  // namespace gk::model
