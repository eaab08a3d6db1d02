// See fused_attention.h. Per (sequence, head) the keys are rotated and packed once, transposed
// ([d][keys]), and the values once ([keys][d rounded up to 16]); queries, rotated and scaled, then
// go through in tiles of kRows: a score
// tile of kRows × kCols accumulates in registers over d (one load of kCols keys feeds kRows
// multiply-adds), each row's softmax runs over its own visible range, and an output tile of
// kRows × kCols features accumulates over the tile's keys. Padding in the packed buffers is zeros,
// so the tiles never branch; a row's invisible scores are zeroed after its softmax.
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
    const float* cos = nullptr;  // [P, d]
    const float* sin = nullptr;
    float q_scale = 1.0f;
};

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

// s[r][j] = Σ_c q[r][c] · kt[c][j] for r < kRows, j < kCols.
GK_ALWAYS_INLINE void score_tile(const float* __restrict q, int64_t d, const float* __restrict kt,
                                 int64_t ldk, float* __restrict s, int64_t lds) {
    float acc[kRows][kCols] = {};
    for (int64_t c = 0; c < d; ++c) {
        const float* kr = kt + c * ldk;
        for (int64_t r = 0; r < kRows; ++r) {
            const float qv = q[r * d + c];
            for (int64_t j = 0; j < kCols; ++j) {
                acc[r][j] += qv * kr[j];
            }
        }
    }
    for (int64_t r = 0; r < kRows; ++r) {
        for (int64_t j = 0; j < kCols; ++j) {
            s[r * lds + j] = acc[r][j];
        }
    }
}

// acc[r][c] = Σ_j p[r][j] · v[j][c] for j < nk, r < kRows, c < kCols.
GK_ALWAYS_INLINE void value_tile(const float* __restrict p, int64_t ldp, int64_t nk,
                                 const float* __restrict v, int64_t ldv,
                                 float (&acc)[kRows][kCols]) {
    for (int64_t r = 0; r < kRows; ++r) {
        for (int64_t c = 0; c < kCols; ++c) {
            acc[r][c] = 0.0f;
        }
    }
    for (int64_t j = 0; j < nk; ++j) {
        const float* vr = v + j * ldv;
        for (int64_t r = 0; r < kRows; ++r) {
            const float pv = p[r * ldp + j];
            for (int64_t c = 0; c < kCols; ++c) {
                acc[r][c] += pv * vr[c];
            }
        }
    }
}

// Softmax of row[a, b) in place; the rest of row[0, n) set to zero.
GK_ALWAYS_INLINE void softmax_range(float* row, int64_t a, int64_t b, int64_t n) {
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
    for (int64_t j = 0; j < a; ++j) {
        row[j] = 0.0f;
    }
    for (int64_t j = b; j < n; ++j) {
        row[j] = 0.0f;
    }
}

// Per-thread buffers, sized for the longest sequence.
struct Scratch {
    std::vector<float> kt, v, q, s, rot;
};

// One sequence of length len and one head: q, k, v point at its first token's head slice.
GK_ALWAYS_INLINE void attend_rows(const float* q, const float* k, const float* v, float* out,
                                  int64_t len, int64_t half_window, const Layout& lay,
                                  Scratch& sc) {
    const int64_t d = lay.d;
    const int64_t dp = lay.d_pad;
    const int64_t lpad = round_up(len, kCols) + kCols;  // a tile starting at any key stays inside
    float* kt = sc.kt.data();
    float* vp = sc.v.data();
    float* qt = sc.q.data();
    float* s = sc.s.data();
    float* rot = sc.rot.data();
    for (int64_t j = 0; j < len; ++j) {
        rotate(k + j * lay.row, j, lay, 1.0f, rot);
        for (int64_t c = 0; c < d; ++c) {
            kt[c * lpad + j] = rot[c];
        }
        std::copy(v + j * lay.row, v + j * lay.row + d, vp + j * dp);
        std::fill(vp + j * dp + d, vp + (j + 1) * dp, 0.0f);
    }
    for (int64_t c = 0; c < d; ++c) {
        std::fill(kt + c * lpad + len, kt + (c + 1) * lpad, 0.0f);
    }
    std::fill(vp + len * dp, vp + lpad * dp, 0.0f);

    for (int64_t i0 = 0; i0 < len; i0 += kRows) {
        const int64_t rows = std::min(kRows, len - i0);
        for (int64_t r = 0; r < rows; ++r) {
            rotate(q + (i0 + r) * lay.row, i0 + r, lay, lay.q_scale, qt + r * d);
        }
        std::fill(qt + rows * d, qt + kRows * d, 0.0f);
        // The keys any row of the tile sees.
        const int64_t lo = half_window < 0 ? 0 : std::max<int64_t>(0, i0 - half_window);
        const int64_t hi = half_window < 0 ? len : std::min(len, i0 + rows + half_window);
        const int64_t nk = hi - lo;
        const int64_t nkp = round_up(nk, kCols);
        for (int64_t j0 = 0; j0 < nkp; j0 += kCols) {
            score_tile(qt, d, kt + lo + j0, lpad, s + j0, nkp);
        }
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t i = i0 + r;
            const int64_t a = half_window < 0 ? 0 : std::max<int64_t>(0, i - half_window) - lo;
            const int64_t b = half_window < 0 ? len - lo : std::min(len, i + half_window + 1) - lo;
            softmax_range(s + r * nkp, a, b, nkp);
        }
        for (int64_t r = rows; r < kRows; ++r) {
            std::fill(s + r * nkp, s + (r + 1) * nkp, 0.0f);
        }
        for (int64_t c0 = 0; c0 < dp; c0 += kCols) {
            float acc[kRows][kCols];
            value_tile(s, nkp, nk, vp + lo * dp + c0, dp, acc);
            const int64_t cols = std::min(kCols, d - c0);
            for (int64_t r = 0; r < rows; ++r) {
                std::copy(acc[r], acc[r] + cols, out + (i0 + r) * lay.row_out + c0);
            }
        }
    }
}

// Items [i0, i1) of the (sequence, head) list, sequence-major.
GK_ALWAYS_INLINE void attend_items_inline(const float* qkv, float* out, const TokenSpans& spans,
                                          int64_t half_window, const Layout& lay, int64_t i0,
                                          int64_t i1, Scratch& sc) {
    for (int64_t it = i0; it < i1; ++it) {
        const auto seq = static_cast<size_t>(it / lay.heads);
        const int64_t h = it % lay.heads;
        const int64_t t = spans.start[seq];
        const float* q = qkv + t * lay.row + h * lay.d;
        const float* k = q + lay.heads * lay.d;
        attend_rows(q, k, k + lay.heads * lay.d, out + t * lay.row_out + h * lay.d, spans.len[seq],
                    half_window, lay, sc);
    }
}

void attend_items(const float* qkv, float* out, const TokenSpans& spans, int64_t half_window,
                  const Layout& lay, int64_t i0, int64_t i1, Scratch& sc) {
    attend_items_inline(qkv, out, spans, half_window, lay, i0, i1, sc);
}
#if GK_FAST_MATH_X86
GK_TARGET_AVX2 void attend_items_avx2(const float* qkv, float* out, const TokenSpans& spans,
                                      int64_t half_window, const Layout& lay, int64_t i0,
                                      int64_t i1, Scratch& sc) {
    attend_items_inline(qkv, out, spans, half_window, lay, i0, i1, sc);
}
#endif

}  // namespace

bool fused_attention_supported(const torch::Tensor& like) {
    return like.device().is_cpu() && like.layout() == torch::kStrided &&
           at::isFloatingType(like.scalar_type()) && !torch::GradMode::is_enabled() &&
           !torch::jit::tracer::isTracing();
}

torch::Tensor fused_attention(const torch::Tensor& qkv_in, const torch::Tensor& cos_in,
                              const torch::Tensor& sin_in, double q_scale, const TokenSpans& spans,
                              int64_t window) {
    GK_CHECK(qkv_in.dim() == 4 && qkv_in.size(1) == 3 && qkv_in.size(3) % 2 == 0,
             "fused_attention: qkv must be [N, 3, heads, d] with d even");
    GK_CHECK(spans.start.size() == spans.len.size(), "fused_attention: spans differ in size");
    GK_CHECK(fused_attention_supported(qkv_in), "fused_attention: needs CPU inference tensors");
    const int64_t n = qkv_in.size(0);
    Layout lay;
    lay.heads = qkv_in.size(2);
    lay.d = qkv_in.size(3);
    lay.d_pad = round_up(lay.d, kCols);
    lay.q_scale = static_cast<float>(q_scale);
    torch::Tensor qkv = qkv_in.to(torch::kFloat);
    if (qkv.stride(3) != 1 || qkv.stride(2) != lay.d || qkv.stride(1) != lay.heads * lay.d) {
        qkv = qkv.contiguous();
    }
    lay.row = qkv.stride(0);
    lay.row_out = lay.heads * lay.d;
    torch::Tensor cos = cos_in.to(torch::kFloat).contiguous();
    torch::Tensor sin = sin_in.to(torch::kFloat).contiguous();
    GK_CHECK(cos.dim() == 2 && cos.size(1) == lay.d && sin.sizes() == cos.sizes(),
             "fused_attention: cos and sin must be [positions, d]");
    lay.cos = cos.data_ptr<float>();
    lay.sin = sin.data_ptr<float>();
    torch::Tensor out = torch::zeros({n, lay.row_out}, qkv.options());

    int64_t longest = 0;
    std::vector<double> cost;  // cumulative, per (sequence, head) item
    cost.reserve(spans.len.size() * static_cast<size_t>(lay.heads));
    const int64_t half_window = window > 0 ? window / 2 : -1;
    double total = 0;
    for (size_t i = 0; i < spans.len.size(); ++i) {
        const int64_t len = spans.len[i];
        GK_CHECK(len > 0 && spans.start[i] >= 0 && spans.start[i] + len <= n && len <= cos.size(0),
                 "fused_attention: a sequence outside the token axis or the rotary tables");
        longest = std::max(longest, len);
        const double keys =
            static_cast<double>(half_window < 0 ? len : std::min(len, 2 * half_window + kRows));
        for (int64_t h = 0; h < lay.heads; ++h) {
            total += static_cast<double>(len) * keys;
            cost.push_back(total);
        }
    }
    const int64_t items = static_cast<int64_t>(cost.size());
    if (items == 0) {
        return out.to(qkv_in.scalar_type());
    }
    const int64_t lpad = round_up(longest, kCols) + kCols;
    const float* qp = qkv.data_ptr<float>();
    float* op = out.data_ptr<float>();
    auto run = [&](int64_t i0, int64_t i1) {
        Scratch sc;
        sc.kt.resize(static_cast<size_t>(lay.d * lpad));
        sc.v.resize(static_cast<size_t>(lpad * lay.d_pad));
        sc.q.resize(static_cast<size_t>(kRows * lay.d));
        sc.s.resize(static_cast<size_t>(kRows * lpad));
        sc.rot.resize(static_cast<size_t>(lay.d));
#if GK_FAST_MATH_X86
        if (fast_math::has_avx2_fma()) {
            attend_items_avx2(qp, op, spans, half_window, lay, i0, i1, sc);
            return;
        }
#endif
        attend_items(qp, op, spans, half_window, lay, i0, i1, sc);
    };
    // Below ~4 M multiply-adds a second thread costs more than it saves.
    const int64_t threads =
        total * static_cast<double>(lay.d) < 4.0e6 ? 1 : std::max(1, at::get_num_threads());
    if (threads <= 1) {
        run(0, items);
        return out.to(qkv_in.scalar_type());
    }
    // Contiguous runs of items of about equal cost, one per thread.
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
    return out.to(qkv_in.scalar_type());
}

}  // namespace gk::model
