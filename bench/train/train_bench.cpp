// Tokens/s of one optimizer step (forward + backward + update) of the cpu-small preset for each
// precision and optimizer, and of a fed step with the loader collating inline vs on 2 background
// workers. Results and the machine go in docs/perf/train.md. Run: gk_train_bench
// --benchmark_min_time=2
#include <chrono>
#include <cstdlib>
#include <random>

#include <benchmark/benchmark.h>

#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/train/batch.h"
#include "greenknobs/train/optim.h"
#include "greenknobs/train/precision.h"

namespace {

using namespace gk::train;

constexpr int kBatch = 16;
constexpr int32_t kPad = 50283;

// Lengths drawn like tokenized functions: many short, a tail up to max_length 256.
TokenizedSplit bench_split(int n) {
    std::mt19937 rng(1);
    TokenizedSplit s;
    for (int i = 0; i < n; ++i) {
        double u = std::uniform_real_distribution<double>(0, 1)(rng);
        int len = 16 + static_cast<int>(240 * u * u);
        std::vector<int32_t> row(static_cast<size_t>(len));
        for (auto& t : row) {
            t = static_cast<int32_t>(rng() % 50000);
        }
        s.ids.push_back(row);
        s.labels.push_back(static_cast<int>(rng() % 2));
    }
    return s;
}

struct Setup {
    gk::model::ModernBertForSequenceClassification model{nullptr};
    std::unique_ptr<Optimizer> opt;
};

// optimizer "adamw-libtorch": adamw through LibTorch's own loop (the fused CPU pass's before).
Setup make_setup(std::string optimizer) {
    torch::manual_seed(0);
    Setup s;
    s.model = gk::model::ModernBertForSequenceClassification(gk::model::preset("cpu-small"));
    AdamWHyper h;
    h.lr = 1e-4;
    if (optimizer == "adamw-libtorch") {
        optimizer = "adamw";
        h.fused = false;
    }
    s.opt = make_optimizer(optimizer, group_parameters(*s.model), h);
    return s;
}

void train_step(Setup& s, const Batch& b, Precision precision) {
    torch::Tensor logits;
    {
        AutocastGuard autocast(precision, torch::Device(torch::kCPU));
        logits = s.model->forward(b.input_ids, b.attention_mask);
    }
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), b.labels);
    loss.backward();
    clip_grad_norm(s.opt->params(), 1.0);
    s.opt->step();
    s.opt->zero_grad();
}

// One step on a fixed [16, 128] batch of real tokens.
void BM_TrainStep(benchmark::State& state, Precision precision, std::string optimizer) {
    Setup s = make_setup(optimizer);
    TokenizedSplit split;
    std::mt19937 rng(2);
    for (int i = 0; i < kBatch; ++i) {
        std::vector<int32_t> row(128);
        for (auto& t : row) {
            t = static_cast<int32_t>(rng() % 50000);
        }
        split.ids.push_back(row);
        split.labels.push_back(i % 2);
    }
    std::vector<int64_t> idx(kBatch);
    for (int i = 0; i < kBatch; ++i) {
        idx[static_cast<size_t>(i)] = i;
    }
    Batch b = collate(split, idx, kPad);
    train_step(s, b, precision);  // warm-up: allocates optimizer state
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        train_step(s, b, precision);
    }
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["tokens_per_wall_s"] =
        static_cast<double>(b.real_tokens * state.iterations()) / wall_s;
    state.counters["tokens_per_s"] = benchmark::Counter(
        static_cast<double>(b.real_tokens), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["optimizer_state_MB"] = static_cast<double>(s.opt->state_bytes()) / 1e6;
}

// The optimizer update alone on cpu-small's parameters (random gradients): where the three AdamW
// variants differ. The embedding (50368 × 64) dominates the parameter count.
void BM_OptimizerStep(benchmark::State& state, std::string optimizer) {
    Setup s = make_setup(optimizer);
    for (auto& p : s.opt->params()) {
        p.mutable_grad() = torch::randn_like(p) * 1e-3;
    }
    s.opt->step();
    for (auto _ : state) {
        s.opt->step();
    }
    int64_t numel = 0;
    for (auto& p : s.opt->params()) {
        numel += p.numel();
    }
    state.counters["params_M"] = static_cast<double>(numel) / 1e6;
    state.counters["optimizer_state_MB"] = static_cast<double>(s.opt->state_bytes()) / 1e6;
}

// Steps fed by the BatchLoader over a varied-length split: collation inline vs on background
// workers.
void BM_FedStep(benchmark::State& state, int workers) {
    Setup s = make_setup("adamw");
    TokenizedSplit split = bench_split(kBatch * 64);
    LoaderOptions o;
    o.batch_size = kBatch;
    o.workers = workers;
    o.pad_id = kPad;
    BatchLoader loader(split, o);
    int epoch = 0;
    loader.start_epoch(epoch);
    int64_t tokens = 0;
    Batch b;
    auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        if (!loader.next(b)) {
            loader.start_epoch(++epoch);
            loader.next(b);
        }
        train_step(s, b, Precision::kFp32);
        tokens += b.real_tokens;
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["tokens_per_wall_s"] = static_cast<double>(tokens) / wall_s;
}

// Collation alone: what the workers take off the training thread.
void BM_Collate(benchmark::State& state) {
    TokenizedSplit split = bench_split(kBatch * 64);
    LoaderOptions o;
    o.batch_size = kBatch;
    o.pad_id = kPad;
    BatchLoader loader(split, o);
    BatchPlan plan = loader.plan(0);
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(collate(split, plan[i++ % plan.size()], kPad));
    }
}

// Padding share of an epoch plan with and without group_by_length on the bench split (B = 16).
void BM_PlanPadding(benchmark::State& state, bool group) {
    TokenizedSplit split = bench_split(kBatch * 64);
    LoaderOptions o;
    o.batch_size = kBatch;
    o.group_by_length = group;
    BatchLoader loader(split, o);
    PaddingStats stats;
    for (auto _ : state) {
        stats = plan_padding(split, loader.plan(0));
    }
    state.counters["padding_share"] = stats.padding_share();
    state.counters["padded_tokens"] = static_cast<double>(stats.padded_tokens);
    state.counters["real_tokens"] = static_cast<double>(stats.real_tokens);
}

}  // namespace

int main(int argc, char** argv) {
    // GK_BENCH_THREADS=1 makes process CPU time a fair work measure on a shared, loaded machine (no
    // OpenMP spin-waiting); rates below are per process-CPU second, wall time is in the Time
    // column.
    const char* threads_env = std::getenv("GK_BENCH_THREADS");
    gk::model::init_runtime("cpu", threads_env ? std::atoi(threads_env) : 0);
    for (auto precision : {Precision::kFp32, Precision::kBf16}) {
        for (const char* opt : {"adamw", "adamw_foreach", "adamw8bit"}) {
            std::string name =
                "TrainStep/cpu-small/B16xS128/" + precision_name(precision) + "/" + opt;
            benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, precision, std::string(opt))
                ->Unit(benchmark::kMillisecond)
                ->MeasureProcessCPUTime();
        }
    }
    for (const char* opt : {"adamw", "adamw-libtorch", "adamw_foreach", "adamw8bit"}) {
        std::string name = std::string("OptimizerStep/cpu-small/") + opt;
        benchmark::RegisterBenchmark(name.c_str(), BM_OptimizerStep, std::string(opt))
            ->Unit(benchmark::kMillisecond)
            ->MeasureProcessCPUTime();
    }
    for (int workers : {0, 2}) {
        std::string name = "FedStep/cpu-small/B16/fp32/loader_workers:" + std::to_string(workers);
        benchmark::RegisterBenchmark(name.c_str(), BM_FedStep, workers)
            ->Unit(benchmark::kMillisecond)
            ->MeasureProcessCPUTime();
    }
    benchmark::RegisterBenchmark("PlanPadding/B16/group_by_length:0", BM_PlanPadding, false);
    benchmark::RegisterBenchmark("PlanPadding/B16/group_by_length:1", BM_PlanPadding, true);
    benchmark::RegisterBenchmark("Collate/B16", BM_Collate)->Unit(benchmark::kMicrosecond);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
