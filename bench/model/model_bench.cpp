// Train-step speed of the cpu-small preset (batch 16 x seq 256): forward + backward per step,
// tokens/s, model FLOP/s against the machine's measured fp32 sgemm peak (MFU), fp32 vs bf16
// autocast, with and without gradient checkpointing, and peak RSS. Run one configuration per
// process for a per-config peak RSS, e.g.
//   model_bench --benchmark_filter='TrainStep/fp32/plain/'
// GK_BENCH_THREADS=n sets the intra-op threads (default: all). Besides wall time it reports the
// process CPU seconds per step, which stay meaningful when other jobs share the machine (MFU is
// given both ways). Geglu/{fp32,bf16}/{fused,aten} and Mlp/fp32/{fused,aten} time the fused GeGLU
// kernel against LibTorch's ops, alone and between the MLP's two GEMMs.
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "greenknobs/model/flops.h"
#include "greenknobs/model/geglu.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"

namespace {

using gk::model::ModernBertConfig;
using gk::model::ModernBertForSequenceClassification;

constexpr int64_t kBatch = 16;
constexpr int64_t kSeq = 256;

double process_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// bf16 CPU autocast for one scope (the training helper owns the real guard).
struct Autocast {
    bool on;
    explicit Autocast(bool enable) : on(enable) {
        if (on) {
            at::autocast::set_cpu_enabled(true);
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
            at::autocast::increment_nesting();
        }
    }
    ~Autocast() {
        if (on) {
            if (at::autocast::decrement_nesting() == 0) {
                at::autocast::clear_cache();
            }
            at::autocast::set_cpu_enabled(false);
        }
    }
};

struct SgemmPeak {
    double wall_gflops = 0;       // best of 10 wall times
    double per_cpu_s_gflops = 0;  // FLOPs per process CPU second, over the 10 runs
};

// 1024^3 sgemms: the fp32 peak MFU divides by.
SgemmPeak sgemm_peak() {
    static SgemmPeak peak = [] {
        auto a = torch::randn({1024, 1024});
        auto b = torch::randn({1024, 1024});
        (void)torch::mm(a, b);
        const double flops = 2.0 * 1024 * 1024 * 1024;
        double best_s = 1e9;
        const double cpu0 = process_cpu_s();
        for (int i = 0; i < 10; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            auto c = torch::mm(a, b);
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best_s = std::min(best_s, s);
            benchmark::DoNotOptimize(c.data_ptr());
        }
        SgemmPeak p;
        p.wall_gflops = flops / best_s / 1e9;
        p.per_cpu_s_gflops = 10 * flops / (process_cpu_s() - cpu0) / 1e9;
        return p;
    }();
    return peak;
}

void BM_Sgemm1024(benchmark::State& state) {
    auto a = torch::randn({1024, 1024});
    auto b = torch::randn({1024, 1024});
    for (auto _ : state) {
        auto c = torch::mm(a, b);
        benchmark::DoNotOptimize(c.data_ptr());
    }
    state.counters["GFLOP/s"] =
        benchmark::Counter(2.0 * 1024 * 1024 * 1024 * static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Sgemm1024)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();

void train_step(benchmark::State& state, bool bf16, bool ckpt) {
    ModernBertConfig c = gk::model::preset("cpu-small");
    torch::manual_seed(0);
    ModernBertForSequenceClassification m(c);
    m->train();
    m->set_grad_checkpointing(ckpt);
    torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-4));
    auto ids = torch::randint(0, 50000, {kBatch, kSeq}, torch::kLong);
    auto mask = torch::ones_like(ids);
    auto labels = torch::randint(0, 2, {kBatch}, torch::kLong);
    auto step = [&] {
        opt.zero_grad();
        torch::Tensor loss;
        {
            Autocast ac(bf16);
            loss = torch::cross_entropy_loss(m->forward(ids, mask), labels);
        }
        loss.backward();
        opt.step();
        benchmark::DoNotOptimize(loss.data_ptr());
    };
    step();  // warm-up: allocator and oneDNN primitive caches
    const double cpu0 = process_cpu_s();
    for (auto _ : state) {
        step();
    }
    const double cpu_s_per_step =
        (process_cpu_s() - cpu0) / static_cast<double>(state.iterations());
    const double tokens = static_cast<double>(kBatch * kSeq);
    // Model FLOPs (model/flops.h: the local layers' window, no recomputation, as MFU counts).
    const double flops = static_cast<double>(kBatch) * gk::model::sequence_flops(c, kSeq).train;
    state.counters["tokens/s"] = benchmark::Counter(
        tokens * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["model_GFLOP/s"] = benchmark::Counter(
        flops / 1e9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    const SgemmPeak peak = sgemm_peak();
    state.counters["sgemm_peak_GFLOP/s"] = peak.wall_gflops;
    state.counters["MFU_wall"] =
        benchmark::Counter(flops / 1e9 / peak.wall_gflops * static_cast<double>(state.iterations()),
                           benchmark::Counter::kIsRate);
    state.counters["cpu_s/step"] = cpu_s_per_step;
    state.counters["MFU_cpu"] = flops / 1e9 / cpu_s_per_step / peak.per_cpu_s_gflops;
    state.counters["peak_rss_MB"] = peak_rss_mb();
}

void BM_TrainStep_fp32_plain(benchmark::State& s) { train_step(s, false, false); }
void BM_TrainStep_fp32_ckpt(benchmark::State& s) { train_step(s, false, true); }
void BM_TrainStep_bf16_plain(benchmark::State& s) { train_step(s, true, false); }
void BM_TrainStep_bf16_ckpt(benchmark::State& s) { train_step(s, true, true); }
BENCHMARK(BM_TrainStep_fp32_plain)
    ->Name("TrainStep/fp32/plain")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK(BM_TrainStep_fp32_ckpt)
    ->Name("TrainStep/fp32/ckpt")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK(BM_TrainStep_bf16_plain)
    ->Name("TrainStep/bf16/plain")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK(BM_TrainStep_bf16_ckpt)
    ->Name("TrainStep/bf16/ckpt")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

// Forward-only evaluation of a realistically padded batch (32 x 256, real lengths uniform in [32,
// 256]), the three attention paths that give equal logits: eager, sdpa, and unpadding (eager
// attention).
void eval_step(benchmark::State& state, const std::string& attention, bool unpad) {
    ModernBertConfig c = gk::model::preset("cpu-small");
    torch::manual_seed(0);
    ModernBertForSequenceClassification m(c);
    m->eval();
    m->set_attention(attention);
    m->set_unpad(unpad);
    const int64_t batch = 32;
    auto ids = torch::randint(0, 50000, {batch, kSeq}, torch::kLong);
    auto lengths = torch::randint(32, kSeq + 1, {batch}, torch::kLong);
    auto mask = (torch::arange(kSeq).unsqueeze(0) < lengths.unsqueeze(1)).to(torch::kLong);
    ids.masked_fill_(mask == 0, c.pad_token_id);
    torch::InferenceMode guard;
    auto run = [&] { benchmark::DoNotOptimize(m->forward(ids, mask).data_ptr()); };
    run();
    const double cpu0 = process_cpu_s();
    for (auto _ : state) {
        run();
    }
    state.counters["cpu_s/batch"] =
        (process_cpu_s() - cpu0) / static_cast<double>(state.iterations());
    state.counters["real_tokens"] = static_cast<double>(mask.sum().item<int64_t>());
    state.counters["samples/s"] = benchmark::Counter(
        static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Eval_eager(benchmark::State& s) { eval_step(s, "eager", false); }
void BM_Eval_sdpa(benchmark::State& s) { eval_step(s, "sdpa", false); }
void BM_Eval_unpad(benchmark::State& s) { eval_step(s, "eager", true); }
BENCHMARK(BM_Eval_eager)
    ->Name("Eval/eager")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->UseRealTime();
BENCHMARK(BM_Eval_sdpa)
    ->Name("Eval/sdpa")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->UseRealTime();
BENCHMARK(BM_Eval_unpad)
    ->Name("Eval/unpad")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5)
    ->UseRealTime();

// The MLP's GeGLU alone on cpu-small's [16, 128, 2 x 128] projection output: forward and backward
// as one fused kernel (geglu.h) against LibTorch's chunk, gelu and mul.
void geglu_step(benchmark::State& state, torch::ScalarType dtype, bool fused) {
    torch::manual_seed(0);
    auto x = torch::randn({16, 128, 256}).to(dtype).requires_grad_(true);
    auto dy = torch::randn({16, 128, 128}).to(dtype);
    const double cpu0 = process_cpu_s();
    for (auto _ : state) {
        auto y = gk::model::geglu(x, "gelu", fused);
        y.backward(dy);
        benchmark::DoNotOptimize(x.grad().data_ptr());
        x.mutable_grad() = torch::Tensor();
    }
    state.counters["cpu_ms"] =
        1e3 * (process_cpu_s() - cpu0) / static_cast<double>(state.iterations());
}
// One MLP block of cpu-small (Wi, GeGLU, Wo) forward and backward on [16, 128, 64]: the GeGLU
// between two parallel GEMMs, as in the model (the threads the GEMMs leave spinning meet the
// kernel's).
void mlp_step(benchmark::State& state, bool fused) {
    ModernBertConfig c = gk::model::preset("cpu-small");
    torch::manual_seed(0);
    gk::model::ModernBertMLP mlp(c);
    mlp->fused_geglu = fused;
    auto x = torch::randn({16, 128, c.hidden_size}).requires_grad_(true);
    const double cpu0 = process_cpu_s();
    for (auto _ : state) {
        auto y = mlp->forward(x);
        y.sum().backward();
        benchmark::DoNotOptimize(x.grad().data_ptr());
        x.mutable_grad() = torch::Tensor();
    }
    state.counters["cpu_ms"] =
        1e3 * (process_cpu_s() - cpu0) / static_cast<double>(state.iterations());
}
// Geglu/{fp32,bf16}/{fused,aten} and Mlp/fp32/{fused,aten}.
void register_kernel_benchmarks() {
    for (const auto& [dtype, name] :
         {std::pair{torch::kFloat, "fp32"}, std::pair{torch::kBFloat16, "bf16"}}) {
        for (bool fused : {true, false}) {
            const std::string tag = std::string(name) + (fused ? "/fused" : "/aten");
            benchmark::RegisterBenchmark(
                ("Geglu/" + tag).c_str(),
                [dtype = dtype, fused](benchmark::State& st) { geglu_step(st, dtype, fused); })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
        }
    }
    for (bool fused : {true, false}) {
        benchmark::RegisterBenchmark(fused ? "Mlp/fp32/fused" : "Mlp/fp32/aten",
                                     [fused](benchmark::State& st) { mlp_step(st, fused); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* threads = std::getenv("GK_BENCH_THREADS");
    gk::model::init_runtime("cpu", threads ? std::atoi(threads) : 0);
    register_kernel_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
