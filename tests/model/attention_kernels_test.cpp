// The block-gather attention (unpadded, banded): its plan computes exactly the scores a query may
// see and no more, the model's unpadded-banded and eager-banded kernels give the logits and the
// gradients of the full-S^2 path, and the model says which kernel ran. Also the CPU budget
// (affinity, cgroup cpu.max) behind the thread default and run.json's runtime record.
#include "greenknobs/model/attention_kernels.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/omp_env.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/util/fs.h"

#include "../common/temp_dir.h"
#include "model_test_util.h"

using namespace gk::model;
using gk::model::testing::Bf16Autocast;
using gk::model::testing::small_config;

namespace {

// Layer 0 global, then two local layers: every third layer global.
ModernBertConfig config(int64_t layers, int64_t window) {
    ModernBertConfig c = small_config(layers, window);
    c.global_attn_every_n_layers = 3;
    c.finalize("test");
    return c;
}

// Rows of `lengths` real tokens, right-padded to seq.
std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<int64_t>& lengths, int64_t seq,
                                              uint64_t seed) {
    torch::manual_seed(seed);
    auto ids = torch::randint(5, 500, {static_cast<int64_t>(lengths.size()), seq}, torch::kLong);
    auto mask = torch::zeros_like(ids);
    for (size_t r = 0; r < lengths.size(); ++r) {
        mask[r].narrow(0, 0, lengths[r]).fill_(1);
    }
    return {ids.masked_fill(mask == 0, 0), mask};
}

struct LossGrads {
    torch::Tensor logits;
    std::map<std::string, torch::Tensor> grads;
};

LossGrads run(ModernBertForSequenceClassification& m, const torch::Tensor& ids,
              const torch::Tensor& mask, const std::string& attention, bool unpad) {
    m->set_attention(attention);
    m->set_unpad(unpad);
    m->zero_grad();
    LossGrads r;
    r.logits = m->forward(ids, mask);
    auto labels = torch::arange(ids.size(0), torch::kLong).remainder(2);
    torch::cross_entropy_loss(r.logits, labels).backward();
    for (auto& p : m->named_parameters()) {
        r.grads[p.key()] = p.value().grad().clone();
    }
    r.logits = r.logits.detach();
    return r;
}

void expect_same(const LossGrads& a, const LossGrads& b, double tol, const std::string& what) {
    EXPECT_TRUE(torch::allclose(a.logits, b.logits, tol, tol)) << what << "\n"
                                                               << a.logits << b.logits;
    for (const auto& [name, g] : a.grads) {
        EXPECT_LE((g - b.grads.at(name)).abs().max().item<double>(),
                  tol * (1 + g.abs().max().item<double>()))
            << what << ": gradient of " << name;
    }
}

}  // namespace

TEST(BlockPlan, EachQueryGetsExactlyItsSequencesWindowAndLessWorkThanPadded) {
    const std::vector<int64_t> lens = {5, 70, 33};
    const int64_t window = 8;  // |i - j| <= 4
    BlockPlan p = make_block_plan(lens, {}, window, /*block_q=*/4, torch::kCPU);
    EXPECT_EQ(p.block_k, 4 + 8);  // a 4-query block and 4 keys either side, not the 70 of a row
    std::vector<int64_t> start = {0, 5, 75};
    auto seq_of = [&](int64_t t) { return t < 5 ? 0 : (t < 75 ? 1 : 2); };
    auto qi = p.q_index.accessor<int64_t, 1>();
    auto ki = p.k_index.accessor<int64_t, 1>();
    auto bias = p.bias.accessor<float, 4>();
    auto slot = p.token_slot.accessor<int64_t, 1>();
    std::set<int64_t> slots;
    for (int64_t t = 0; t < 108; ++t) {
        const int64_t s = slot[t];
        EXPECT_EQ(qi[s], t);
        slots.insert(s);
        const int64_t blk = s / p.block_q;
        const int64_t row = s % p.block_q;
        std::set<int64_t> seen;
        for (int64_t j = 0; j < p.block_k; ++j) {
            if (bias[blk][0][row][j] == 0.0f) {
                seen.insert(ki[blk * p.block_k + j]);
            }
        }
        std::set<int64_t> want;
        for (int64_t u = 0; u < 108; ++u) {
            if (seq_of(u) == seq_of(t) &&
                std::abs((u - start[seq_of(u)]) - (t - start[seq_of(t)])) <= 4) {
                want.insert(u);
            }
        }
        EXPECT_EQ(seen, want) << "token " << t;
    }
    EXPECT_EQ(slots.size(), 108u);  // every token computed once
    // Global (window 0): keys = the whole own sequence.
    BlockPlan g = make_block_plan(lens, {}, 0, 4, torch::kCPU);
    EXPECT_EQ(g.block_k, 70);
    EXPECT_EQ(g.blocks, 2 + 18 + 9);
}

TEST(BlockPlan, BandFollowsOriginalPositionsWhenRowsHaveHoles) {
    // One sequence whose tokens sit at positions 0, 1, 10, 11, 12 (pads between): with window 4
    // (|i - j| <= 2) token at position 10 sees 10, 11, 12 only.
    BlockPlan p = make_block_plan({5}, {0, 1, 10, 11, 12}, 4, 8, torch::kCPU);
    auto bias = p.bias.accessor<float, 4>();
    auto ki = p.k_index.accessor<int64_t, 1>();
    std::set<int64_t> seen;
    for (int64_t j = 0; j < p.block_k; ++j) {
        if (bias[0][0][2][j] == 0.0f) {
            seen.insert(ki[j]);
        }
    }
    EXPECT_EQ(seen, (std::set<int64_t>{2, 3, 4}));
}

TEST(AttentionKernels, UnpaddedBandedEqualsFullAttentionInLogitsAndGradients) {
    torch::manual_seed(7);
    ModernBertForSequenceClassification m(config(3, 8));  // global, local, local
    auto [ids, mask] = batch({64, 9, 40, 1}, 64, 3);
    m->set_fused_attention(false);  // (the fused kernel's own comparison follows these)
    LossGrads full = run(m, ids, mask, "sdpa", false);  // the [B, heads, S, S] math composite
    EXPECT_EQ(m->attention_kernel(), TORCH_VERSION_MAJOR >= 2 ? "sdpa" : "sdpa-math");
    m->set_group_rows(false);
    LossGrads eager = run(m, ids, mask, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager-banded");  // S = 64 > 32-query block + 8-key band
    m->set_group_rows(true);
    LossGrads grouped = run(m, ids, mask, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager-banded-grouped");  // global layer: 64, 40, 9, 1 apart
    LossGrads unpadded = run(m, ids, mask, "eager", true);
    EXPECT_EQ(m->attention_kernel(), "unpadded-banded");
    expect_same(full, eager, 1e-5, "eager-banded vs full");
    expect_same(full, grouped, 1e-5, "eager-banded-grouped vs full");
    expect_same(full, unpadded, 1e-5, "unpadded-banded vs full");
    // A short batch: the band is no shorter than S, so the plain eager path runs (grouped by
    // length unless told not to).
    auto [ids2, mask2] = batch({12, 5}, 12, 4);
    LossGrads short_grouped = run(m, ids2, mask2, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager-grouped");
    m->set_group_rows(false);
    LossGrads short_plain = run(m, ids2, mask2, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager");
    expect_same(short_plain, short_grouped, 1e-5, "eager-grouped vs eager");
    // Rows of one length: nothing to skip, no groups.
    m->set_group_rows(true);
    auto [ids3, mask3] = batch({12, 12, 11}, 12, 5);
    (void)run(m, ids3, mask3, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager");
    // The fused kernel (on by default), forward and backward, padded and unpadded.
    m->set_fused_attention(true);
    LossGrads fused = run(m, ids, mask, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "fused-cpu");
    LossGrads fused_unpadded = run(m, ids, mask, "sdpa", true);
    EXPECT_EQ(m->attention_kernel(), "unpadded-fused-cpu");
    expect_same(full, fused, 1e-5, "fused-cpu vs full");
    expect_same(full, fused_unpadded, 1e-5, "unpadded-fused-cpu vs full");
}

TEST(AttentionKernels, GroupedRowsKeepGradientsUnderCheckpointingAndSkipNonPrefixMasks) {
    torch::manual_seed(11);
    ModernBertForSequenceClassification m(config(3, 64));  // window 64: local layers unbanded
    m->set_fused_attention(false);
    auto [ids, mask] = batch({40, 6, 33, 12, 2, 25}, 40, 7);
    m->set_group_rows(false);
    LossGrads plain = run(m, ids, mask, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager");
    m->set_group_rows(true);
    m->set_grad_checkpointing(true);
    LossGrads grouped = run(m, ids, mask, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager-grouped");
    expect_same(plain, grouped, 1e-5, "eager-grouped + checkpointing vs eager");
    m->set_grad_checkpointing(false);
    // Left padding: a row is not a prefix of real tokens, so the batch is not grouped.
    mask[1].zero_();
    mask[1].narrow(0, 30, 10).fill_(1);
    (void)run(m, ids, mask, "eager", false);
    EXPECT_EQ(m->attention_kernel(), "eager");
}

TEST(AttentionKernels, UnpaddedHandlesLeftPaddingAndHoles) {
    torch::manual_seed(8);
    ModernBertForSequenceClassification m(config(3, 4));
    auto [ids, mask] = batch({20, 20, 20}, 20, 5);
    mask[0].narrow(0, 0, 6).fill_(0);   // left padding
    mask[1].narrow(0, 5, 7).fill_(0);   // a hole
    mask[2].narrow(0, 15, 5).fill_(0);  // right padding
    LossGrads full = run(m, ids, mask, "sdpa", false);
    LossGrads unpadded = run(m, ids, mask, "eager", true);
    expect_same(full, unpadded, 1e-5, "holes");
}

TEST(AttentionKernels, Bf16AutocastStaysFiniteAndClose) {
    torch::manual_seed(9);
    ModernBertForSequenceClassification m(config(3, 8));
    auto im = batch({64, 3, 50}, 64, 6);
    torch::Tensor ids = im.first;
    torch::Tensor mask = im.second;
    auto under_autocast = [&](const std::string& attention, bool unpad) {
        Bf16Autocast bf16;
        return run(m, ids, mask, attention, unpad);
    };
    LossGrads full = under_autocast("sdpa", false);
    for (bool unpad : {false, true}) {
        LossGrads r = under_autocast("eager", unpad);
        EXPECT_FALSE(torch::isnan(r.logits).any().item<bool>());
        EXPECT_TRUE(torch::allclose(full.logits, r.logits, 5e-2, 5e-2)) << full.logits << r.logits;
    }
}

TEST(AttentionKernels, GatherRowsHasIndexSelectsValueAndGradientWithRepeatedRows) {
    torch::manual_seed(3);
    auto src = torch::randn({7, 3, 4}, torch::requires_grad());
    auto index = torch::tensor({6, 0, 0, 2, 6, 6, 1, 0}, torch::kLong);  // repeats, 3 4 5 unused
    auto w = torch::randn({8, 3, 4});
    auto ours = gather_rows(src, index);
    (ours * w).sum().backward();
    auto g_ours = src.grad().clone();
    src.mutable_grad().reset();
    auto ref = src.index_select(0, index);
    (ref * w).sum().backward();
    EXPECT_TRUE(torch::equal(ours, ref));
    EXPECT_TRUE(torch::allclose(g_ours, src.grad(), 1e-6, 1e-7));
    EXPECT_EQ(g_ours[3].abs().sum().item<float>(), 0.0f);  // a row never gathered gets no gradient
    // Without grad it is index_select itself.
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(gather_rows(src, index), ref));
}

TEST(AttentionKernels, RotaryQkEqualsRotateHalfWithScale) {
    torch::manual_seed(10);
    auto qk = torch::randn({7, 2, 3, 8});
    auto pos = torch::arange(7, torch::kLong).unsqueeze(0);
    auto [cos, sin] = rotary_cos_sin(pos, 8, 10000.0);  // [1, 7, 8]
    auto [cos2, sin2] = rotary_tables_qk(cos[0], sin[0], 0.25);
    auto got = rotary_qk(qk, cos2, sin2);
    // apply_rotary works on [B, heads, S, d]
    auto q = qk.select(1, 0).permute({1, 0, 2}).unsqueeze(0);
    auto k = qk.select(1, 1).permute({1, 0, 2}).unsqueeze(0);
    auto want_q = apply_rotary(q, cos, sin)[0].permute({1, 0, 2}) * 0.25;
    auto want_k = apply_rotary(k, cos, sin)[0].permute({1, 0, 2});
    EXPECT_TRUE(torch::allclose(got.select(1, 0), want_q, 1e-6, 1e-6));
    EXPECT_TRUE(torch::allclose(got.select(1, 1), want_k, 1e-6, 1e-6));
}

TEST(CpuBudget, CgroupQuotaIsTheSmallestOnThePath) {
    const gk::testing::TempDir tmp("cgroup_test");
    const std::string root = tmp.path();
    gk::fs::make_dirs(root + "/a/b");
    std::ofstream(root + "/cpu.max") << "max 100000\n";
    std::ofstream(root + "/a/cpu.max") << "150000 100000\n";  // 1.5 CPUs
    std::ofstream(root + "/a/b/cpu.max") << "max 100000\n";
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota("0::/a/b\n", root), 1.5);
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota("0::/\n", root), 0.0);      // no quota
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota("1:cpu:/x\n", root), 0.0);  // cgroup v1 only: unknown
    std::ofstream(root + "/a/b/cpu.max") << "50000 100000\n";
    EXPECT_DOUBLE_EQ(cgroup_cpu_quota("0::/a/b\n", root), 0.5);
    CpuBudget b = cpu_budget();
    EXPECT_GE(b.usable, 1);
    EXPECT_LE(b.usable, b.affinity_cpus);
}

TEST(CpuBudget, PassiveOnABusyMachineBoundedSpinOnAQuietOne) {
    EXPECT_EQ(choose_omp_wait(0.0, 2).variable, "GOMP_SPINCOUNT");
    EXPECT_EQ(choose_omp_wait(0.0, 2).value, std::to_string(kDefaultGompSpinCount));
    EXPECT_EQ(choose_omp_wait(0.9, 2).variable, "GOMP_SPINCOUNT");  // 0.45 per CPU
    OmpWaitChoice busy = choose_omp_wait(1.0, 2);
    EXPECT_EQ(busy.variable, "OMP_WAIT_POLICY");
    EXPECT_EQ(busy.value, "passive");
    EXPECT_NE(busy.reason.find("0.50 other runnable"), std::string::npos) << busy.reason;
    EXPECT_EQ(choose_omp_wait(-1.0, 2).variable, "GOMP_SPINCOUNT");  // unknown load
    EXPECT_GE(others_runnable(2, 1), 0.0);
}

TEST(Runtime, ThreadsAndWaitPolicyAreRecordedWithTheirSource) {
    ::unsetenv("OMP_NUM_THREADS");
    RuntimeInfo a = init_runtime("cpu", 1);
    EXPECT_EQ(a.threads, 1);
    EXPECT_EQ(a.threads_source, "user");
    ::setenv("OMP_NUM_THREADS", "1", 1);
    RuntimeInfo b = init_runtime("cpu", 0);
    EXPECT_EQ(b.threads_source, "OMP_NUM_THREADS");
    ::unsetenv("OMP_NUM_THREADS");
    RuntimeInfo c = init_runtime("cpu", 0);
    EXPECT_EQ(c.threads_source, "cpus");
    EXPECT_EQ(c.threads, cpu_budget().usable);
    auto j = to_json(c);
    for (const char* key :
         {"threads", "threads_source", "affinity_cpus", "cpu_quota", "omp_wait_policy",
          "gomp_spincount", "omp_wait_source", "omp_num_threads", "cpu_bf16_matmul"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    // How bf16 matmuls run here, and the warning a bf16 run gets where it is the slow loop.
    const std::set<std::string> kinds = {"onednn", "reference", "unknown"};
    EXPECT_TRUE(kinds.count(c.cpu_bf16_matmul)) << c.cpu_bf16_matmul;
    EXPECT_EQ(c.cpu_bf16_matmul, cpu_bf16_matmul());
    EXPECT_NE(bf16_cpu_warning("reference").find("reference loop"), std::string::npos);
    EXPECT_EQ(bf16_cpu_warning("onednn"), "");
    EXPECT_EQ(bf16_cpu_warning("unknown"), "");
    const bool user = std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT");
    if (std::getenv(kOmpEnvMarker)) {
        EXPECT_EQ(c.omp_wait_source, "greenknobs");
    } else {
        EXPECT_EQ(c.omp_wait_source, user ? "user" : "libgomp-default");
    }
}

// The model runs fused_attention where it can and says so; its logits are those of the other
// kernels, padded or unpadded, cls or mean pooling, fp32 or bf16 autocast. Where it cannot stand
// in (attention dropout in training, a row that is not a prefix of real tokens, sdpa on a padded
// batch, token_states), the other kernels run.
TEST(AttentionKernels, FusedKernelGivesTheOtherKernelsLogitsAndSaysWhereItRan) {
    for (const std::string pooling : {"mean", "cls"}) {
        ModernBertConfig c = config(3, 8);  // global, local, local; window 8
        c.classifier_pooling = pooling;
        torch::manual_seed(13);
        ModernBertForSequenceClassification m(c);
        m->eval();
        const auto [ids_b, mask_b] = batch({64, 9, 40, 1, 23}, 64, 17);
        const torch::Tensor ids = ids_b;  // (a lambda cannot capture a structured binding in C++17)
        const torch::Tensor mask = mask_b;
        auto logits = [&](bool fused, bool unpad, const std::string& attention = "eager") {
            torch::NoGradGuard no_grad;
            m->set_fused_attention(fused);
            m->set_unpad(unpad);
            m->set_attention(attention);
            return m->forward(ids, mask);
        };
        SCOPED_TRACE(pooling);
        auto kernels = logits(false, false);
        EXPECT_EQ(m->attention_kernel(), "eager-banded-grouped");
        auto fused = logits(true, false);
        EXPECT_EQ(m->attention_kernel(), "fused-cpu");
        EXPECT_TRUE(torch::allclose(fused, kernels, 1e-5, 1e-5)) << fused << kernels;
        auto fused_unpadded = logits(true, true, "sdpa");  // unpadded: sdpa never runs anyway
        EXPECT_EQ(m->attention_kernel(), "unpadded-fused-cpu");
        EXPECT_TRUE(torch::allclose(fused_unpadded, kernels, 1e-5, 1e-5));
        (void)logits(true, false, "sdpa");  // the attention knob on a padded batch: its kernel
        EXPECT_EQ(m->attention_kernel(), TORCH_VERSION_MAJOR >= 2 ? "sdpa" : "sdpa-math");

        // bf16 autocast: the fused kernel computes in fp32 from the bf16 projections.
        torch::Tensor bf16_kernels, bf16_fused;
        {
            Bf16Autocast bf16;
            bf16_kernels = logits(false, false);
            bf16_fused = logits(true, false);
            EXPECT_EQ(m->attention_kernel(), "fused-cpu");
        }
        EXPECT_TRUE(torch::isfinite(bf16_fused).all().item<bool>());
        EXPECT_TRUE(torch::allclose(bf16_fused, kernels, 0.05, 0.05)) << bf16_fused << kernels;
        EXPECT_TRUE(torch::allclose(bf16_kernels, kernels, 0.05, 0.05));

        // Training fuses too (the kernel has a backward) unless attention dropout is on, which
        // it does not draw.
        m->train();
        (void)m->forward(ids, mask);
        EXPECT_EQ(m->attention_kernel(), "fused-cpu");
        ModernBertConfig cd = c;
        cd.attention_dropout = 0.1;
        ModernBertForSequenceClassification md(cd);
        md->train();
        (void)md->forward(ids, mask);
        EXPECT_EQ(md->attention_kernel(), "eager-banded-grouped");
        md->eval();
        (void)md->forward(ids, mask);
        EXPECT_EQ(md->attention_kernel(), "fused-cpu");
        // What run.json records for the train stage: the last training forward's, not validation's.
        EXPECT_EQ(md->train_attention_kernel(), "eager-banded-grouped");
        m->eval();
        {
            torch::NoGradGuard no_grad;
            (void)m->token_states(ids, mask);  // pad positions' states are read: not fused
            EXPECT_EQ(m->attention_kernel(), "eager-banded");
            // Without pads (masked-LM pretraining's packed rows) nothing differs: it fuses.
            auto full = torch::ones_like(mask);
            auto fused_states = m->token_states(ids, full);
            EXPECT_EQ(m->attention_kernel(), "fused-cpu");
            m->set_fused_attention(false);
            auto states = m->token_states(ids, full);
            EXPECT_EQ(m->attention_kernel(), "eager-banded");
            m->set_fused_attention(true);
            EXPECT_TRUE(torch::allclose(fused_states, states, 1e-5, 1e-5));
            // A row with left padding: not a prefix, so neither the padded nor the unpadded
            // evaluation fuses (nor are the rows grouped). cls pooling needs a real token first.
            auto left = mask.clone();
            left[2].zero_();
            left[2].narrow(0, 20, 20).fill_(1);
            (void)m->forward(ids, left);
            EXPECT_EQ(m->attention_kernel(), "eager-banded");
            if (pooling == "mean") {
                m->set_unpad(true);
                (void)m->forward(ids, left);
                EXPECT_EQ(m->attention_kernel(), "unpadded-banded");
                m->set_unpad(false);
            }
        }
    }
}
