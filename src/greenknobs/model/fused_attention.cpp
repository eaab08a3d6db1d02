// See fused_attention.h. Per (sequence, head) the keys are rotated and packed once, transposed
// ([d][keys]), and the values once ([keys][d rounded up to 16]); queries, rotated and scaled, then
// go through in tiles of kRows: a score tile of kRows × kCols accumulates in registers over d (one
// load of kCols keys feeds kRows multiply-adds), each row's softmax runs over its own visible
// range, and an output tile of kRows × kCols features accumulates over the tile's keys. Padding in
// the packed buffers is zeros, so the tiles never branch; a row's invisible scores are zeroed
// after its softmax. Training keeps each row's log-sum-exp; the backward recomputes a tile's
// probabilities from it and the packed keys, and from them the gradients of q (per tile), k and v
// (accumulated over the tiles, rotated back at the end), as FlashAttention's backward does.
#include "greenknobs/model/fused_attention.h"

#include <algorithm>
#include <cmath>

#include <torch/csrc/jit/frontend/tracer.h>

#include "greenknobs/model/fast_math.h"
#include "greenknobs/model/parallel.h"
#include "greenknobs/util/error.h"

namespace gk::model {
namespace {

constexpr int64_t kRows = 4;   // queries per tile
constexpr int64_t kCols = 16;  // keys per score tile, features per output tile

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Layout {
    int64_t heads = 0;
    int64_t d = 0;      // head dim
    int64_t d_pad = 0;  // d rounded up to kCols
    int64_t row = 0;    // floats from one token's qkv to the next's
    int64_t row_out = 0;
    int64_t row_grad = 0;  // floats from one token's qkv gradient to the next's (3 · heads · d)
    const float* cos = nullptr;  // [P, d]
    const float* sin = nullptr;
    float q_scale = 1.0f;
    int64_t half_window = -1;  // < 0: global
};

// The raw data of one call. Forward: qkv, out, and lse where training. Backward: qkv, the saved
// out and lse, dout, and dqkv to fill.
struct Data {
    const float* qkv = nullptr;  // [N, 3, heads, d], token stride lay.row
    float* out = nullptr;        // [N, heads · d]
    float* lse = nullptr;        // [N, heads]: log Σ exp(scores) of each query row, or null
    const float* saved_out = nullptr;
    const float* saved_lse = nullptr;
    const float* dout = nullptr;  // [N, heads · d]
    float* dqkv = nullptr;        // [N, 3, heads, d] contiguous
};

// The keys [a, b) query i of a sequence of length len sees.
GK_ALWAYS_INLINE void visible(int64_t i, int64_t len, int64_t half_window, int64_t& a, int64_t& b) {
    a = half_window < 0 ? 0 : std::max<int64_t>(0, i - half_window);
    b = half_window < 0 ? len : std::min(len, i + half_window + 1);
}

// The keys [lo, hi) any of the queries [i0, i0 + rows) sees.
GK_ALWAYS_INLINE void tile_keys(int64_t i0, int64_t rows, int64_t len, int64_t half_window,
                                int64_t& lo, int64_t& hi) {
    int64_t unused;
    visible(i0, len, half_window, lo, unused);
    visible(i0 + rows - 1, len, half_window, unused, hi);
}

// x (one token's head slice) rotated as HF's apply_rotary at position `pos`, times `scale`:
// x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁].
GK_ALWAYS_INLINE void rotate(const float* __restrict x, int64_t pos, const Layout& lay, float scale,
                             float* __restrict y) {
    const int64_t half = lay.d / 2;
    const float* c = lay.cos + pos * lay.d;
    const float* s = lay.sin + pos * lay.d;
    for (int64_t i = 0; i < half; ++i) {
        y[i] = (x[i] * c[i] - x[i + half] * s[i]) * scale;
        y[i + half] = (x[i + half] * c[i + half] + x[i] * s[i + half]) * scale;
    }
}

// The gradient through rotate: the transposed rotation of g (times scale).
GK_ALWAYS_INLINE void rotate_back(const float* __restrict g, int64_t pos, const Layout& lay,
                                  float scale, float* __restrict y) {
    const int64_t half = lay.d / 2;
    const float* c = lay.cos + pos * lay.d;
    const float* s = lay.sin + pos * lay.d;
    for (int64_t i = 0; i < half; ++i) {
        y[i] = (g[i] * c[i] + g[i + half] * s[i + half]) * scale;
        y[i + half] = (g[i + half] * c[i + half] - g[i] * s[i]) * scale;
    }
}

// acc[r][j] = Σ_c a[r][c] · b[c][j] for r < kRows, j < kCols, c < k (row strides lda, ldb): the
// score tile (a = queries, b = transposed keys) and the output tile (a = probabilities, b =
// values).
GK_ALWAYS_INLINE void tile(const float* __restrict a, int64_t lda, int64_t k,
                           const float* __restrict b, int64_t ldb, float (&acc)[kRows][kCols]) {
    for (int64_t r = 0; r < kRows; ++r) {
        for (int64_t j = 0; j < kCols; ++j) {
            acc[r][j] = 0.0f;
        }
    }
    for (int64_t c = 0; c < k; ++c) {
        const float* br = b + c * ldb;
        for (int64_t r = 0; r < kRows; ++r) {
            const float av = a[r * lda + c];
            for (int64_t j = 0; j < kCols; ++j) {
                acc[r][j] += av * br[j];
            }
        }
    }
}

// Softmax of row[a, b) in place, the rest of row[0, n) set to zero; returns log Σ exp(row[a, b)).
GK_ALWAYS_INLINE float softmax_range(float* row, int64_t a, int64_t b, int64_t n) {
    float m = row[a];
    for (int64_t j = a + 1; j < b; ++j) {
        m = row[j] > m ? row[j] : m;
    }
    float sum = 0.0f;
    for (int64_t j = a; j < b; ++j) {
        const float e = fast_math::exp_nonpositive(row[j] - m);
        row[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int64_t j = a; j < b; ++j) {
        row[j] *= inv;
    }
    std::fill(row, row + a, 0.0f);
    std::fill(row + b, row + n, 0.0f);
    return m + std::log(sum);
}

// acc[j][c] += Σ_r w[r][j] · x[r][c] for j < nk, c < d: a rank-kRows update of nk rows.
GK_ALWAYS_INLINE void rank_update(const float* __restrict w, int64_t ldw, int64_t nk,
                                  const float* __restrict x, int64_t d, float* __restrict acc,
                                  int64_t lda) {
    for (int64_t j = 0; j < nk; ++j) {
        const float w0 = w[j];
        const float w1 = w[ldw + j];
        const float w2 = w[2 * ldw + j];
        const float w3 = w[3 * ldw + j];
        float* a = acc + j * lda;
        for (int64_t c = 0; c < d; ++c) {
            a[c] += w0 * x[c] + w1 * x[d + c] + w2 * x[2 * d + c] + w3 * x[3 * d + c];
        }
    }
    static_assert(kRows == 4, "rank_update is written for four rows");
}

// Per-thread buffers, sized for the longest sequence.
struct Scratch {
    std::vector<float> kt, kr, vt, vp, dk, dv, q, dout, dq, s, ds, rot;
    Scratch(const Layout& lay, int64_t lpad, bool backward) {
        const auto keys = static_cast<size_t>(lpad * lay.d_pad);
        kt.resize(keys);
        vp.resize(keys);
        q.resize(static_cast<size_t>(kRows * lay.d));
        s.resize(static_cast<size_t>(kRows * lpad));
        rot.resize(static_cast<size_t>(lay.d));
        if (backward) {
            kr.resize(keys);
            vt.resize(keys);
            dk.resize(keys);
            dv.resize(keys);
            dout.resize(static_cast<size_t>(kRows * lay.d));
            dq.resize(static_cast<size_t>(kRows * lay.d_pad));
            ds.resize(static_cast<size_t>(kRows * lpad));
        }
    }
};

// x [len] rows of d at stride `row` -> t [d][lpad] (transposed), zeros past len; rotated at each
// row's position when `rotated`.
GK_ALWAYS_INLINE void pack_transposed(const float* x, int64_t len, int64_t lpad, bool rotated,
                                      const Layout& lay, float* rot, float* t) {
    const int64_t d = lay.d;
    for (int64_t j = 0; j < len; ++j) {
        const float* src = x + j * lay.row;
        if (rotated) {
            rotate(src, j, lay, 1.0f, rot);
            src = rot;
        }
        for (int64_t c = 0; c < d; ++c) {
            t[c * lpad + j] = src[c];
        }
    }
    for (int64_t c = 0; c < d; ++c) {
        std::fill(t + c * lpad + len, t + (c + 1) * lpad, 0.0f);
    }
}

// x [len] rows of d at stride `row` -> p [lpad][d_pad], zeros past len and d; rotated when asked.
GK_ALWAYS_INLINE void pack_rows(const float* x, int64_t len, int64_t lpad, bool rotated,
                                const Layout& lay, float* p) {
    const int64_t d = lay.d;
    const int64_t dp = lay.d_pad;
    for (int64_t j = 0; j < len; ++j) {
        if (rotated) {
            rotate(x + j * lay.row, j, lay, 1.0f, p + j * dp);
        } else {
            std::copy(x + j * lay.row, x + j * lay.row + d, p + j * dp);
        }
        std::fill(p + j * dp + d, p + (j + 1) * dp, 0.0f);
    }
    std::fill(p + len * dp, p + lpad * dp, 0.0f);
}

// Queries [i0, i0 + kRows) rotated and scaled into qt [kRows][d] (rows past len zero).
GK_ALWAYS_INLINE void load_queries(const float* q, int64_t i0, int64_t rows, const Layout& lay,
                                   float* qt) {
    for (int64_t r = 0; r < rows; ++r) {
        rotate(q + (i0 + r) * lay.row, i0 + r, lay, lay.q_scale, qt + r * lay.d);
    }
    std::fill(qt + rows * lay.d, qt + kRows * lay.d, 0.0f);
}

// s [kRows][nkp] = qt · kt[:, lo : lo + nkp].
GK_ALWAYS_INLINE void scores(const float* qt, const float* kt, int64_t lpad, int64_t lo,
                             int64_t nkp, int64_t d, float* s) {
    for (int64_t j0 = 0; j0 < nkp; j0 += kCols) {
        float acc[kRows][kCols];
        tile(qt, d, d, kt + lo + j0, lpad, acc);
        for (int64_t r = 0; r < kRows; ++r) {
            std::copy(acc[r], acc[r] + kCols, s + r * nkp + j0);
        }
    }
}

// One sequence of length len and one head, forward: q points at its first token's q head slice
// (k, v follow at heads · d and 2 · heads · d), out at its output slice, lse (or null) at its
// first row's log-sum-exp (stride heads).
GK_ALWAYS_INLINE void forward_one(const float* q, float* out, float* lse, int64_t len,
                                  const Layout& lay, Scratch& sc) {
    const int64_t d = lay.d;
    const int64_t dp = lay.d_pad;
    const int64_t lpad = round_up(len, kCols) + kCols;  // a tile starting at any key stays inside
    const float* k = q + lay.heads * d;
    const float* v = k + lay.heads * d;
    float* kt = sc.kt.data();
    float* vp = sc.vp.data();
    float* qt = sc.q.data();
    float* s = sc.s.data();
    pack_transposed(k, len, lpad, /*rotated=*/true, lay, sc.rot.data(), kt);
    pack_rows(v, len, lpad, /*rotated=*/false, lay, vp);
    for (int64_t i0 = 0; i0 < len; i0 += kRows) {
        const int64_t rows = std::min(kRows, len - i0);
        load_queries(q, i0, rows, lay, qt);
        int64_t lo, hi, a, b;  // the keys any row of the tile sees, and each row's
        tile_keys(i0, rows, len, lay.half_window, lo, hi);
        const int64_t nk = hi - lo;
        const int64_t nkp = round_up(nk, kCols);
        scores(qt, kt, lpad, lo, nkp, d, s);
        for (int64_t r = 0; r < rows; ++r) {
            visible(i0 + r, len, lay.half_window, a, b);
            const float l = softmax_range(s + r * nkp, a - lo, b - lo, nkp);
            if (lse != nullptr) {
                lse[(i0 + r) * lay.heads] = l;
            }
        }
        std::fill(s + rows * nkp, s + kRows * nkp, 0.0f);
        for (int64_t c0 = 0; c0 < dp; c0 += kCols) {
            float acc[kRows][kCols];
            tile(s, nkp, nk, vp + lo * dp + c0, dp, acc);
            const int64_t cols = std::min(kCols, d - c0);
            for (int64_t r = 0; r < rows; ++r) {
                std::copy(acc[r], acc[r] + cols, out + (i0 + r) * lay.row_out + c0);
            }
        }
    }
}

// The same sequence and head, backward: from dout (its slice, stride row_out), the saved out and
// lse, the gradients of q, k and v into dqkv (its q slice, stride row_grad).
GK_ALWAYS_INLINE void backward_one(const float* q, const float* out, const float* lse,
                                   const float* dout, float* dq, int64_t len, const Layout& lay,
                                   Scratch& sc) {
    const int64_t d = lay.d;
    const int64_t dp = lay.d_pad;
    const int64_t lpad = round_up(len, kCols) + kCols;
    const float* k = q + lay.heads * d;
    const float* v = k + lay.heads * d;
    float* dk = dq + lay.heads * d;
    float* dv = dk + lay.heads * d;
    float* kt = sc.kt.data();
    float* kr = sc.kr.data();
    float* vt = sc.vt.data();
    float* dk_acc = sc.dk.data();
    float* dv_acc = sc.dv.data();
    float* qt = sc.q.data();
    float* dot = sc.dout.data();
    float* dqt = sc.dq.data();
    float* p = sc.s.data();
    float* ds = sc.ds.data();
    pack_transposed(k, len, lpad, /*rotated=*/true, lay, sc.rot.data(), kt);
    pack_rows(k, len, lpad, /*rotated=*/true, lay, kr);
    pack_transposed(v, len, lpad, /*rotated=*/false, lay, sc.rot.data(), vt);
    std::fill(dk_acc, dk_acc + lpad * dp, 0.0f);
    std::fill(dv_acc, dv_acc + lpad * dp, 0.0f);
    for (int64_t i0 = 0; i0 < len; i0 += kRows) {
        const int64_t rows = std::min(kRows, len - i0);
        load_queries(q, i0, rows, lay, qt);
        float delta[kRows] = {};  // Σ_c dout · out of each row: the softmax's backward term
        for (int64_t r = 0; r < rows; ++r) {
            const float* g = dout + (i0 + r) * lay.row_out;
            const float* o = out + (i0 + r) * lay.row_out;
            std::copy(g, g + d, dot + r * d);
            for (int64_t c = 0; c < d; ++c) {
                delta[r] += g[c] * o[c];
            }
        }
        std::fill(dot + rows * d, dot + kRows * d, 0.0f);
        int64_t lo, hi, a, b;
        tile_keys(i0, rows, len, lay.half_window, lo, hi);
        const int64_t nk = hi - lo;
        const int64_t nkp = round_up(nk, kCols);
        scores(qt, kt, lpad, lo, nkp, d, p);    // the scores again
        scores(dot, vt, lpad, lo, nkp, d, ds);  // dP = dout · vᵀ
        for (int64_t r = 0; r < kRows; ++r) {
            float* pr = p + r * nkp;
            float* dr = ds + r * nkp;
            a = b = lo;
            if (r < rows) {
                visible(i0 + r, len, lay.half_window, a, b);
            }
            const float l = r < rows ? lse[(i0 + r) * lay.heads] : 0.0f;
            for (int64_t j = 0; j < nkp; ++j) {
                const bool seen = j >= a - lo && j < b - lo;
                const float pj = seen ? fast_math::exp_nonpositive(pr[j] - l) : 0.0f;
                pr[j] = pj;
                dr[j] = pj * (dr[j] - delta[r]);  // dS = P ∘ (dP − Δ)
            }
        }
        for (int64_t c0 = 0; c0 < dp; c0 += kCols) {  // dQ = dS · k
            float acc[kRows][kCols];
            tile(ds, nkp, nk, kr + lo * dp + c0, dp, acc);
            for (int64_t r = 0; r < kRows; ++r) {
                std::copy(acc[r], acc[r] + kCols, dqt + r * dp + c0);
            }
        }
        for (int64_t r = 0; r < rows; ++r) {
            rotate_back(dqt + r * dp, i0 + r, lay, lay.q_scale, dq + (i0 + r) * lay.row_grad);
        }
        rank_update(ds, nkp, nk, qt, d, dk_acc + lo * dp, dp);  // dK += dSᵀ · q
        rank_update(p, nkp, nk, dot, d, dv_acc + lo * dp, dp);  // dV += Pᵀ · dout
    }
    for (int64_t j = 0; j < len; ++j) {
        rotate_back(dk_acc + j * dp, j, lay, 1.0f, dk + j * lay.row_grad);
        std::copy(dv_acc + j * dp, dv_acc + j * dp + d, dv + j * lay.row_grad);
    }
}

// Items [i0, i1) of the (sequence, head) list, sequence-major.
GK_ALWAYS_INLINE void run_items_inline(const Data& x, const TokenSpans& spans, const Layout& lay,
                                       bool backward, int64_t i0, int64_t i1, Scratch& sc) {
    for (int64_t it = i0; it < i1; ++it) {
        const auto seq = static_cast<size_t>(it / lay.heads);
        const int64_t h = it % lay.heads;
        const int64_t t = spans.start[seq];
        const float* q = x.qkv + t * lay.row + h * lay.d;
        const int64_t o = t * lay.row_out + h * lay.d;
        const int64_t l = t * lay.heads + h;
        if (backward) {
            backward_one(q, x.saved_out + o, x.saved_lse + l, x.dout + o,
                         x.dqkv + t * lay.row_grad + h * lay.d, spans.len[seq], lay, sc);
        } else {
            forward_one(q, x.out + o, x.lse == nullptr ? nullptr : x.lse + l, spans.len[seq], lay,
                        sc);
        }
    }
}

void run_items(const Data& x, const TokenSpans& spans, const Layout& lay, bool backward, int64_t i0,
               int64_t i1, Scratch& sc) {
    run_items_inline(x, spans, lay, backward, i0, i1, sc);
}
#if GK_FAST_MATH_X86
GK_TARGET_AVX2 void run_items_avx2(const Data& x, const TokenSpans& spans, const Layout& lay,
                                   bool backward, int64_t i0, int64_t i1, Scratch& sc) {
    run_items_inline(x, spans, lay, backward, i0, i1, sc);
}
#endif

// Checks the arguments; the layout of qkv (fp32, head slices contiguous) and of cos, sin.
struct Prepared {
    Layout lay;
    torch::Tensor qkv, cos, sin;
};
Prepared prepare(const torch::Tensor& qkv_in, const torch::Tensor& cos_in,
                 const torch::Tensor& sin_in, double q_scale, const TokenSpans& spans,
                 int64_t window) {
    GK_CHECK(qkv_in.dim() == 4 && qkv_in.size(1) == 3 && qkv_in.size(3) % 2 == 0,
             "fused_attention: qkv must be [N, 3, heads, d] with d even");
    GK_CHECK(spans.start.size() == spans.len.size(), "fused_attention: spans differ in size");
    GK_CHECK(fused_attention_supported(qkv_in), "fused_attention: needs floating CPU tensors");
    Prepared p;
    Layout& lay = p.lay;
    lay.heads = qkv_in.size(2);
    lay.d = qkv_in.size(3);
    lay.d_pad = round_up(lay.d, kCols);
    lay.q_scale = static_cast<float>(q_scale);
    lay.half_window = window > 0 ? window / 2 : -1;
    p.qkv = qkv_in.to(torch::kFloat);
    if (p.qkv.stride(3) != 1 || p.qkv.stride(2) != lay.d || p.qkv.stride(1) != lay.heads * lay.d) {
        p.qkv = p.qkv.contiguous();
    }
    lay.row = p.qkv.stride(0);
    lay.row_out = lay.heads * lay.d;
    lay.row_grad = 3 * lay.heads * lay.d;
    p.cos = cos_in.to(torch::kFloat).contiguous();
    p.sin = sin_in.to(torch::kFloat).contiguous();
    GK_CHECK(p.cos.dim() == 2 && p.cos.size(1) == lay.d && p.sin.sizes() == p.cos.sizes(),
             "fused_attention: cos and sin must be [positions, d]");
    lay.cos = p.cos.data_ptr<float>();
    lay.sin = p.sin.data_ptr<float>();
    const int64_t n = qkv_in.size(0);
    for (size_t i = 0; i < spans.len.size(); ++i) {
        const int64_t len = spans.len[i];
        GK_CHECK(
            len > 0 && spans.start[i] >= 0 && spans.start[i] + len <= n && len <= p.cos.size(0),
            "fused_attention: a sequence outside the token axis or the rotary tables");
    }
    return p;
}

// Every (sequence, head) item through the forward or the backward, on LibTorch's threads in
// contiguous runs of about equal work.
void run_all(const Data& x, const TokenSpans& spans, const Layout& lay, bool backward) {
    int64_t longest = 0;
    std::vector<double> cost;  // cumulative, per item
    cost.reserve(spans.len.size() * static_cast<size_t>(lay.heads));
    double total = 0;
    for (const int64_t len : spans.len) {
        longest = std::max(longest, len);
        const int64_t keys = lay.half_window < 0 ? len : std::min(len, 2 * lay.half_window + kRows);
        for (int64_t h = 0; h < lay.heads; ++h) {
            total += static_cast<double>(len) * static_cast<double>(keys);
            cost.push_back(total);
        }
    }
    const auto items = static_cast<int64_t>(cost.size());
    if (items == 0) {
        return;
    }
    const int64_t lpad = round_up(longest, kCols) + kCols;
    auto run = [&](int64_t i0, int64_t i1) {
        Scratch sc(lay, lpad, backward);
#if GK_FAST_MATH_X86
        if (fast_math::has_avx2_fma()) {
            run_items_avx2(x, spans, lay, backward, i0, i1, sc);
            return;
        }
#endif
        run_items(x, spans, lay, backward, i0, i1, sc);
    };
    // Below ~4 M multiply-adds a second thread costs more than it saves.
    const int64_t threads =
        total * static_cast<double>(lay.d) < 4.0e6 ? 1 : std::max(1, at::get_num_threads());
    if (threads <= 1) {
        run(0, items);
        return;
    }
    std::vector<int64_t> cut(static_cast<size_t>(threads) + 1, items);
    cut[0] = 0;
    for (int64_t c = 1; c < threads; ++c) {
        const double target = total * static_cast<double>(c) / static_cast<double>(threads);
        cut[static_cast<size_t>(c)] =
            std::lower_bound(cost.begin(), cost.end(), target) - cost.begin();
    }
    parallel_chunks(threads, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t lo = cut[static_cast<size_t>(c)];
            const int64_t hi = std::max(lo, cut[static_cast<size_t>(c) + 1]);
            if (lo < hi) {
                run(lo, hi);
            }
        }
    });
}

// out (fp32) of the prepared call; lse filled where defined.
torch::Tensor forward_all(const Prepared& p, const TokenSpans& spans, const torch::Tensor& lse) {
    torch::Tensor out = torch::zeros({p.qkv.size(0), p.lay.row_out}, p.qkv.options());
    Data x;
    x.qkv = p.qkv.data_ptr<float>();
    x.out = out.data_ptr<float>();
    x.lse = lse.defined() ? lse.data_ptr<float>() : nullptr;
    run_all(x, spans, p.lay, /*backward=*/false);
    return out;
}

struct FusedAttentionFunction : torch::autograd::Function<FusedAttentionFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv,
                                 const torch::Tensor& cos, const torch::Tensor& sin, double q_scale,
                                 int64_t window, const TokenSpans& spans) {
        Prepared p = prepare(qkv, cos, sin, q_scale, spans, window);
        torch::Tensor lse = torch::zeros({qkv.size(0), p.lay.heads}, p.qkv.options());
        torch::Tensor out = forward_all(p, spans, lse);
        ctx->save_for_backward({p.qkv, p.cos, p.sin, out, lse});
        ctx->saved_data["q_scale"] = q_scale;
        ctx->saved_data["window"] = window;
        ctx->saved_data["start"] = spans.start;
        ctx->saved_data["len"] = spans.len;
        ctx->saved_data["dtype"] = qkv.scalar_type();
        return out.to(qkv.scalar_type());
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        if (!grads[0].defined()) {  // the output did not reach the loss
            return {torch::Tensor(), torch::Tensor(), torch::Tensor(),
                    torch::Tensor(), torch::Tensor(), torch::Tensor()};
        }
        const auto saved = ctx->get_saved_variables();
        const TokenSpans spans{ctx->saved_data["start"].toIntVector(),
                               ctx->saved_data["len"].toIntVector()};
        Prepared p = prepare(saved[0], saved[1], saved[2], ctx->saved_data["q_scale"].toDouble(),
                             spans, ctx->saved_data["window"].toInt());
        torch::Tensor dout = grads[0].to(torch::kFloat).contiguous();
        torch::Tensor dqkv = torch::zeros(p.qkv.sizes(), p.qkv.options());
        Data x;
        x.qkv = p.qkv.data_ptr<float>();
        x.saved_out = saved[3].data_ptr<float>();
        x.saved_lse = saved[4].data_ptr<float>();
        x.dout = dout.data_ptr<float>();
        x.dqkv = dqkv.data_ptr<float>();
        run_all(x, spans, p.lay, /*backward=*/true);
        return {dqkv.to(ctx->saved_data["dtype"].toScalarType()),
                torch::Tensor(),
                torch::Tensor(),
                torch::Tensor(),
                torch::Tensor(),
                torch::Tensor()};
    }
};

}  // namespace

bool fused_attention_supported(const torch::Tensor& like) {
    return like.device().is_cpu() && like.layout() == torch::kStrided &&
           at::isFloatingType(like.scalar_type()) && !torch::jit::tracer::isTracing();
}

torch::Tensor fused_attention(const torch::Tensor& qkv, const torch::Tensor& cos,
                              const torch::Tensor& sin, double q_scale, const TokenSpans& spans,
                              int64_t window) {
    if (torch::GradMode::is_enabled() && qkv.requires_grad()) {
        return FusedAttentionFunction::apply(qkv, cos, sin, q_scale, window, spans);
    }
    Prepared p = prepare(qkv, cos, sin, q_scale, spans, window);
    return forward_all(p, spans, torch::Tensor()).to(qkv.scalar_type());
}

}  // namespace gk::model
