// The update rule's pieces: schedule values, clipping, decay grouping, adamw_foreach == adamw, the
// fused CPU pass == LibTorch's AdamW loop (and its checkpoints), and the 8-bit optimizer's codec,
// state size and convergence against adamw.
#include "greenknobs/train/optim.h"

#include <cstdio>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

// A small model with every kind of parameter the decay rule must sort.
struct NetImpl : torch::nn::Module {
    NetImpl() {
        proj = register_module("proj", torch::nn::Linear(64, 128));
        norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({128})));
        out =
            register_module("out", torch::nn::Linear(torch::nn::LinearOptions(128, 8).bias(false)));
        final_norm_weight = register_parameter("final_norm_scale", torch::ones({8}));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        return out(norm(torch::gelu(proj(x)))) * final_norm_weight;
    }
    torch::nn::Linear proj{nullptr};
    torch::nn::LayerNorm norm{nullptr};
    torch::nn::Linear out{nullptr};
    torch::Tensor final_norm_weight;
};
TORCH_MODULE(Net);

void copy_params(Net& dst, const Net& src) {
    torch::NoGradGuard g;
    auto d = dst->parameters();
    auto s = src->parameters();
    for (size_t i = 0; i < d.size(); ++i) {
        d[i].copy_(s[i]);
    }
}

double max_param_diff(const Net& a, const Net& b) {
    double m = 0;
    auto pa = a->parameters();
    auto pb = b->parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
        m = std::max(m, (pa[i] - pb[i]).abs().max().item<double>());
    }
    return m;
}

TEST(Schedule, LinearWarmupThenLinearDecayAtKeySteps) {
    LinearSchedule s(/*peak_lr=*/1e-3, /*warmup_steps=*/10, /*total_steps=*/110);
    EXPECT_DOUBLE_EQ(s.lr_at(0), 0.0);
    EXPECT_DOUBLE_EQ(s.lr_at(5), 5e-4);
    EXPECT_DOUBLE_EQ(s.lr_at(10), 1e-3);
    EXPECT_DOUBLE_EQ(s.lr_at(60), 5e-4);
    EXPECT_DOUBLE_EQ(s.lr_at(109), 1e-5);
    EXPECT_DOUBLE_EQ(s.lr_at(110), 0.0);
    EXPECT_DOUBLE_EQ(s.lr_at(500), 0.0);
    LinearSchedule no_warmup(1e-3, 0, 4);
    EXPECT_DOUBLE_EQ(no_warmup.lr_at(0), 1e-3);
    EXPECT_DOUBLE_EQ(no_warmup.lr_at(2), 5e-4);
    EXPECT_EQ(warmup_steps_for(0.1, 55), 6);  // ceil(5.5), as HF
    EXPECT_EQ(warmup_steps_for(0.0, 55), 0);
}

TEST(Clipping, ScalesToMaxNormAndReportsTheNormBefore) {
    auto a = torch::zeros({2}, torch::requires_grad());
    auto b = torch::zeros({1}, torch::requires_grad());
    a.mutable_grad() = torch::tensor({3.0f, 0.0f});
    b.mutable_grad() = torch::tensor({4.0f});
    EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 5.0, 1e-6);
    EXPECT_FLOAT_EQ(a.grad()[0].item<float>(), 3.0f);  // under the limit: untouched
    EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
    EXPECT_NEAR(a.grad()[0].item<float>(), 0.6f, 1e-6);
    EXPECT_NEAR(b.grad()[0].item<float>(), 0.8f, 1e-6);
    EXPECT_NEAR(clip_grad_norm({a, b}, 0.0), 1.0, 1e-5);  // 0 = measure only
}

TEST(ParamGroups, BiasesAndNormsGetNoWeightDecay) {
    Net net;
    ParamGroups g = group_parameters(*net);
    EXPECT_EQ(g.decay_names, (std::vector<std::string>{"proj.weight", "out.weight"}));
    EXPECT_EQ(g.no_decay_names, (std::vector<std::string>{"final_norm_scale", "proj.bias",
                                                          "norm.weight", "norm.bias"}));
    net->proj->weight.set_requires_grad(false);  // frozen parameters are not optimised at all
    EXPECT_EQ(group_parameters(*net).decay_names, (std::vector<std::string>{"out.weight"}));
}

TEST(Optimizers, UnknownKindIsAnInputError) {
    Net net;
    EXPECT_THROW(make_optimizer("sgd", group_parameters(*net), AdamWHyper{}), InputError);
    EXPECT_THROW(make_optimizer("adamw", ParamGroups{}, AdamWHyper{}), CheckError);
}

// Runs `steps` updates of `kind` on a copy of `init` with identical data and returns the model.
Net train_copy(const Net& init, const std::string& kind, int steps, double lr,
               std::vector<double>* losses = nullptr, bool fused = true,
               std::string* implementation = nullptr) {
    Net net;
    copy_params(net, init);
    AdamWHyper h;
    h.lr = lr;
    h.weight_decay = 0.1;
    h.fused = fused;
    auto opt = make_optimizer(kind, group_parameters(*net), h);
    torch::manual_seed(3);
    auto x = torch::randn({32, 64});
    auto target = torch::randn({32, 8});
    for (int s = 0; s < steps; ++s) {
        opt->set_lr(lr * (1.0 - 0.5 * s / steps));
        auto loss = torch::mse_loss(net->forward(x), target);
        opt->zero_grad();
        loss.backward();
        opt->step();
        if (losses) {
            losses->push_back(loss.item<double>());
        }
    }
    if (implementation != nullptr) {
        *implementation = opt->implementation();
    }
    return net;
}

TEST(Optimizers, FusedAdamWMatchesLibTorchsLoop) {
    torch::manual_seed(1);
    Net init;
    std::string fused_impl, loop_impl;
    Net a = train_copy(init, "adamw", 8, 1e-2, nullptr, /*fused=*/true, &fused_impl);
    Net b = train_copy(init, "adamw", 8, 1e-2, nullptr, /*fused=*/false, &loop_impl);
    EXPECT_EQ(fused_impl, "fused-cpu");
    EXPECT_EQ(loop_impl, "libtorch");
    EXPECT_GT(max_param_diff(a, init), 1e-2);  // they really moved
    EXPECT_LT(max_param_diff(a, b), 1e-6);     // the same rule, to float rounding
}

// The fused pass keeps its moments in LibTorch's AdamW state: a checkpoint written by one is read
// by the other, and training goes on as if nothing had changed.
TEST(Optimizers, FusedAndLibTorchAdamWShareCheckpoints) {
    torch::manual_seed(1);
    Net init;
    const std::string path = ::testing::TempDir() + "/gk_fused_adamw_state.pt";
    auto x = torch::randn({16, 64});
    auto run = [&](Net& net, Optimizer& opt, int steps) {
        for (int s = 0; s < steps; ++s) {
            auto loss = net->forward(x).pow(2).mean();
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
    };
    AdamWHyper fused, loop;
    fused.lr = loop.lr = 1e-2;
    loop.fused = false;
    Net a, b;
    copy_params(a, init);
    auto oa = make_optimizer("adamw", group_parameters(*a), fused);
    run(a, *oa, 3);
    oa->save_state(path);
    copy_params(b, a);
    auto ob = make_optimizer("adamw", group_parameters(*b), loop);
    ob->load_state(path);
    run(a, *oa, 3);  // the fused pass goes on from its own moments ...
    run(b, *ob, 3);  // ... LibTorch's loop from the checkpoint's
    EXPECT_LT(max_param_diff(a, b), 1e-6);
    EXPECT_EQ(ob->implementation(), "libtorch");
    Net c;
    copy_params(c, b);
    auto oc = make_optimizer("adamw", group_parameters(*c), fused);
    ob->save_state(path);
    oc->load_state(path);
    run(b, *ob, 2);
    run(c, *oc, 2);
    EXPECT_LT(max_param_diff(b, c), 1e-6);
    EXPECT_EQ(oc->implementation(), "fused-cpu");
    std::remove(path.c_str());
}

// A parameter the fused pass cannot take (not contiguous) sends the whole step to LibTorch's loop.
TEST(Optimizers, FusedAdamWFallsBackWhereItCannotRun) {
    auto w = torch::randn({8, 4}).t().detach().requires_grad_(true);  // a transposed leaf
    ASSERT_FALSE(w.is_contiguous());
    ParamGroups g;
    g.decay = {w};
    g.decay_names = {"w"};
    auto opt = make_optimizer("adamw", g, AdamWHyper{});
    (w * w).sum().backward();
    opt->step();
    EXPECT_EQ(opt->implementation(), "libtorch");
}

TEST(Optimizers, ForeachAdamWMatchesTorchAdamW) {
    torch::manual_seed(1);
    Net init;
    Net a = train_copy(init, "adamw", 8, 1e-2);
    Net b = train_copy(init, "adamw_foreach", 8, 1e-2);
    EXPECT_GT(max_param_diff(a, init), 1e-2);  // they really moved
    EXPECT_LT(max_param_diff(a, b), 1e-6);
}

TEST(Optimizers, StateBytesOfFp32AdamWAreTwoMomentsPerParameter) {
    torch::manual_seed(1);
    Net net;
    int64_t numel = 0;
    for (const auto& p : net->parameters()) {
        numel += p.numel();
    }
    for (const char* kind : {"adamw", "adamw_foreach"}) {
        auto opt = make_optimizer(kind, group_parameters(*net), AdamWHyper{});
        EXPECT_EQ(opt->state_bytes(), 0) << kind;
        net->forward(torch::randn({2, 64})).sum().backward();
        opt->step();
        EXPECT_EQ(opt->state_bytes(), 2 * 4 * numel) << kind;
        opt->zero_grad();
    }
}

TEST(Quant8, DynamicMapIsSortedUniqueAndSpansTheRange) {
    for (bool is_signed : {true, false}) {
        auto map = q8::dynamic_map(is_signed);
        ASSERT_EQ(map.numel(), 256);
        EXPECT_TRUE(torch::all(map.slice(0, 1) > map.slice(0, 0, 255)).item<bool>());
        EXPECT_EQ(map[255].item<float>(), 1.0f);
        EXPECT_EQ((map == 0).sum().item<int64_t>(), 1);
        EXPECT_LT(map.abs().masked_fill(map == 0, 1).min().item<float>(), 1e-6f);  // 7 decades
        if (is_signed) {
            EXPECT_LT(map[0].item<float>(), -0.99f);
        } else {
            EXPECT_EQ(map[0].item<float>(), 0.0f);
        }
    }
}

TEST(Quant8, BlockwiseRoundTripHasSmallRelativeErrorPerBlock) {
    torch::manual_seed(5);
    // Magnitudes spread over decades, as Adam's moments are; blocks of 256 with very different
    // scales.
    auto x =
        torch::randn({3000}) * torch::pow(10.0, torch::randint(-4, 1, {3000}).to(torch::kFloat));
    auto map = q8::dynamic_map(true);
    auto q = q8::quantize(x, map, 256);
    EXPECT_EQ(q.codes.dtype(), torch::kUInt8);
    EXPECT_EQ(q.absmax.numel(), 12);  // ceil(3000 / 256)
    EXPECT_EQ(q.bytes(), 12 * 256 + 12 * 4);
    auto y = q8::dequantize(q, map, {3000});
    ASSERT_EQ(y.sizes(), x.sizes());
    // Error bound of the map: half a bin of the top decade (0.9 / 64 / 2 of the block max)
    // everywhere, and under 15 % relative for values above 1 % of their block's max (two decades of
    // 64 and 32 bins).
    auto block_max = q.absmax.repeat_interleave(256).slice(0, 0, 3000);
    auto err = (y - x).abs();
    EXPECT_TRUE(torch::all(err <= 0.0071 * block_max).item<bool>());
    auto big = x.abs() > 0.01 * block_max;
    EXPECT_LT((err.masked_select(big) / x.abs().masked_select(big)).max().item<double>(), 0.15);
    // Positive block maxima are exact (the map holds 1.0).
    auto is_pos_max = x == block_max;
    EXPECT_TRUE(torch::equal(y.masked_select(is_pos_max), x.masked_select(is_pos_max)));
    auto pos = torch::rand({5000});
    auto umap = q8::dynamic_map(false);
    auto yq = q8::dequantize(q8::quantize(pos, umap, 2048), umap, {5000});
    EXPECT_TRUE(torch::all(yq >= 0).item<bool>());
    EXPECT_LT((yq - pos).abs().max().item<double>(), 0.02);
}

TEST(Quant8, FastCodecIsBitIdenticalToTheReference) {
    torch::manual_seed(6);
    for (bool is_signed : {true, false}) {
        q8::Codec codec(is_signed);
        for (int block : {256, 2048}) {
            // 7 decades of magnitudes, exact zeros, and a ragged tail block.
            auto x = torch::randn({10007}) *
                     torch::pow(10.0, torch::randint(-8, 1, {10007}).to(torch::kFloat));
            x.index_put_({torch::randint(0, 10007, {50})}, 0.0f);
            if (!is_signed) {
                x = x.abs();
            }
            auto ref = q8::quantize(x, codec.map(), block);
            auto fast = codec.quantize(x, block);
            EXPECT_TRUE(torch::equal(ref.absmax, fast.absmax));
            EXPECT_TRUE(torch::equal(ref.codes, fast.codes)) << is_signed << " " << block;
            EXPECT_TRUE(torch::equal(q8::dequantize(ref, codec.map(), {10007}),
                                     codec.dequantize(fast, {10007})));
        }
    }
}

TEST(Optimizers, AdamW8bitConvergesLikeAdamWWithAQuarterOfTheState) {
    torch::manual_seed(2);
    Net init;
    std::vector<double> loss32, loss8;
    Net a = train_copy(init, "adamw", 150, 3e-3, &loss32);
    Net b = train_copy(init, "adamw8bit", 150, 3e-3, &loss8);
    EXPECT_LT(loss32.back(), 0.2 * loss32.front());
    EXPECT_LT(loss8.back(), 0.2 * loss8.front());
    EXPECT_LT(std::abs(loss8.back() - loss32.back()), 0.1 * loss32.front());

    // State: proj.weight (8192 elements) is quantized; small tensors keep fp32 moments, as
    // bitsandbytes does.
    AdamWHyper h;
    auto o32 = make_optimizer("adamw", group_parameters(*a), h);
    auto o8 = make_optimizer("adamw8bit", group_parameters(*b), h);
    for (auto* net : {&a, &b}) {
        (*net)->forward(torch::randn({2, 64})).sum().backward();
    }
    o32->step();
    o8->step();
    const int64_t big = 64 * 128;
    const int64_t small =
        128 + 128 + 128 + 128 * 8 + 8;  // proj.bias, norm.{weight,bias}, out.weight, scale
    EXPECT_EQ(o32->state_bytes(), 8 * (big + small));
    EXPECT_EQ(o8->state_bytes(),
              2 * (big + 4 * 4) + 8 * small);  // codes + one absmax per 2048-block
    // On the quantized tensor alone the ratio is ~4x.
    double ratio = static_cast<double>(8 * big) / static_cast<double>(2 * (big + 4 * 4));
    EXPECT_GT(ratio, 3.9);
}

}  // namespace
}  // namespace gk::train
