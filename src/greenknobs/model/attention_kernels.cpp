// See attention_kernels.h. The plan is built on the host from sequence lengths (cheap: one entry
// per score of the blocked matrix, no grad) and moved to the model's device once per forward.
#include "greenknobs/model/attention_kernels.h"

#include <algorithm>
#include <limits>

#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/util/error.h"

namespace gk::model {

BlockPlan make_block_plan(const std::vector<int64_t>& seq_lens,
                          const std::vector<int64_t>& positions, int64_t window, int64_t block_q,
                          const torch::Device& device) {
    GK_CHECK(block_q > 0, "block_q must be positive");
    int64_t n_tokens = 0;
    for (int64_t len : seq_lens) {
        n_tokens += len;
    }
    GK_CHECK(positions.empty() || static_cast<int64_t>(positions.size()) == n_tokens,
             "positions must hold one entry per token");
    auto pos_of = [&](int64_t token, int64_t seq_start) {
        return positions.empty() ? token - seq_start : positions[static_cast<size_t>(token)];
    };
    const int64_t half = window > 0 ? window / 2 : 0;
    struct Block {
        int64_t seq_start;  // token index of the sequence's first token
        int64_t q0, q1;     // query tokens [q0, q1)
        int64_t k0, k1;     // key tokens [k0, k1)
    };
    std::vector<Block> blocks;
    int64_t block_k = 1;
    int64_t start = 0;
    for (int64_t len : seq_lens) {
        const int64_t end = start + len;
        for (int64_t q0 = start; q0 < end; q0 += block_q) {
            Block b{start, q0, std::min(end, q0 + block_q), start, end};
            if (window > 0) {
                // Positions increase within a sequence: the band is one contiguous token range.
                const int64_t lo = pos_of(b.q0, start) - half;
                const int64_t hi = pos_of(b.q1 - 1, start) + half;
                while (b.k0 < b.q0 && pos_of(b.k0, start) < lo) {
                    ++b.k0;
                }
                while (b.k1 > b.q1 && pos_of(b.k1 - 1, start) > hi) {
                    --b.k1;
                }
            }
            block_k = std::max(block_k, b.k1 - b.k0);
            blocks.push_back(b);
        }
        start = end;
    }
    BlockPlan p;
    p.blocks = static_cast<int64_t>(blocks.size());
    p.block_q = block_q;
    p.block_k = block_k;
    auto lopt = torch::TensorOptions().dtype(torch::kLong);
    p.q_index = torch::zeros({p.blocks * block_q}, lopt);
    p.k_index = torch::zeros({p.blocks * block_k}, lopt);
    p.token_slot = torch::zeros({n_tokens}, lopt);
    const float lowest = std::numeric_limits<float>::lowest();
    p.bias = torch::full({p.blocks, 1, block_q, block_k}, lowest,
                         torch::TensorOptions().dtype(torch::kFloat));
    int64_t* qi = p.q_index.data_ptr<int64_t>();
    int64_t* ki = p.k_index.data_ptr<int64_t>();
    int64_t* slot = p.token_slot.data_ptr<int64_t>();
    float* bias = p.bias.data_ptr<float>();
    for (int64_t bi = 0; bi < p.blocks; ++bi) {
        const Block& b = blocks[static_cast<size_t>(bi)];
        for (int64_t j = 0; j < block_k; ++j) {
            ki[bi * block_k + j] = b.k0 + j < b.k1 ? b.k0 + j : b.k0;
        }
        for (int64_t i = 0; i < block_q; ++i) {
            const int64_t qt = b.q0 + i;
            float* row = bias + (bi * block_q + i) * block_k;
            if (qt >= b.q1) {
                // A pad slot: its output is never read; keep its row finite (all keys visible).
                qi[bi * block_q + i] = b.q0;
                std::fill(row, row + block_k, 0.0f);
                continue;
            }
            qi[bi * block_q + i] = qt;
            slot[qt] = bi * block_q + i;
            const int64_t qp = pos_of(qt, b.seq_start);
            for (int64_t kt = b.k0; kt < b.k1; ++kt) {
                if (window <= 0 || std::abs(qp - pos_of(kt, b.seq_start)) <= half) {
                    row[kt - b.k0] = 0.0f;
                }
            }
        }
    }
    if (device != torch::Device(torch::kCPU)) {
        p.q_index = p.q_index.to(device);
        p.k_index = p.k_index.to(device);
        p.token_slot = p.token_slot.to(device);
        p.bias = p.bias.to(device);
    }
    return p;
}

BlockPlan with_key_bias(const BlockPlan& plan, const torch::Tensor& key_bias) {
    torch::NoGradGuard no_grad;
    BlockPlan p = plan;
    auto kb = key_bias.to(torch::kFloat)
                  .index_select(0, plan.k_index)
                  .view({plan.blocks, 1, 1, plan.block_k});
    // lowest + lowest would overflow to -inf: clamp keeps every hidden entry at float's lowest.
    p.bias = (plan.bias + kb).clamp_min(std::numeric_limits<float>::lowest());
    return p;
}

namespace {

struct GatherRows : torch::autograd::Function<GatherRows> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& src,
                                 const torch::Tensor& index) {
        ctx->saved_data["rows"] = src.size(0);
        ctx->save_for_backward({index});
        return src.index_select(0, index);
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const torch::Tensor index = ctx->get_saved_variables()[0];
        const torch::Tensor& g = grads[0];
        std::vector<int64_t> shape = g.sizes().vec();
        shape[0] = ctx->saved_data["rows"].toInt();
        torch::Tensor out = torch::zeros(shape, g.options());
        out.index_put_({index}, g.contiguous(), /*accumulate=*/true);
        return {out, torch::Tensor()};
    }
};

}  // namespace

torch::Tensor gather_rows(const torch::Tensor& src, const torch::Tensor& index) {
    if (!src.requires_grad() || !torch::GradMode::is_enabled()) {
        return src.index_select(0, index);
    }
    return GatherRows::apply(src, index);
}

torch::Tensor block_attention(const torch::Tensor& qk, const torch::Tensor& v,
                              const BlockPlan& plan, double dropout_p, bool training) {
    const int64_t heads = qk.size(2);
    const int64_t d = qk.size(3);
    const int64_t nb = plan.blocks;
    // Gather each block's queries and keys: [nb, heads, block, d]. From contiguous copies: 1.13's
    // CPU index_select on a strided source (q, k, v are interleaved in qkv) is 2-4x slower than
    // the copy plus a contiguous gather.
    torch::Tensor q = gather_rows(qk.select(1, 0).contiguous(), plan.q_index)
                          .view({nb, plan.block_q, heads, d})
                          .transpose(1, 2);
    torch::Tensor kv_k = gather_rows(qk.select(1, 1).contiguous(), plan.k_index)
                             .view({nb, plan.block_k, heads, d})
                             .transpose(1, 2);
    torch::Tensor kv_v = gather_rows(v.contiguous(), plan.k_index)
                             .view({nb, plan.block_k, heads, d})
                             .transpose(1, 2);
    torch::Tensor scores = model::matmul(q, kv_k.transpose(2, 3));  // [nb, heads, bq, bk]
    // In fp32 (the bias' dtype) as HF's eager path: float's lowest would round to -inf in bf16.
    scores = scores.scalar_type() == plan.bias.scalar_type() ? scores.add_(plan.bias)
                                                             : scores + plan.bias;
    torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat).to(kv_v.scalar_type());
    if (training && dropout_p > 0) {
        probs = torch::dropout(probs, dropout_p, training);
    }
    torch::Tensor out = model::matmul(probs, kv_v);  // [nb, heads, bq, d]
    out = out.transpose(1, 2).reshape({nb * plan.block_q, heads * d});
    return gather_rows(out, plan.token_slot);  // [N, heads * d]
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables_qk(const torch::Tensor& cos,
                                                         const torch::Tensor& sin, double q_scale) {
    torch::NoGradGuard no_grad;
    const int64_t half = cos.size(-1) / 2;
    torch::Tensor sin_signed =
        torch::cat({-sin.narrow(-1, 0, half), sin.narrow(-1, half, half)}, -1);
    torch::Tensor cos2 = torch::stack({cos * q_scale, cos}, 1).unsqueeze(2);  // [N, 2, 1, d]
    torch::Tensor sin2 = torch::stack({sin_signed * q_scale, sin_signed}, 1).unsqueeze(2);
    return {cos2, sin2};
}

torch::Tensor rotary_qk(const torch::Tensor& qk, const torch::Tensor& cos2,
                        const torch::Tensor& sin2) {
    const int64_t half = qk.size(-1) / 2;
    // roll by d/2 puts [x2, x1]; sin2's negated first half makes it rotate_half(x) * sin. The
    // tables in q's dtype, so a bf16 (autocast) q stays bf16 instead of promoting to fp32.
    const torch::Tensor& c =
        cos2.scalar_type() == qk.scalar_type() ? cos2 : cos2.to(qk.scalar_type());
    const torch::Tensor& s =
        sin2.scalar_type() == qk.scalar_type() ? sin2 : sin2.to(qk.scalar_type());
    return qk * c + torch::roll(qk, {half}, {-1}) * s;
}

}  // namespace gk::model
