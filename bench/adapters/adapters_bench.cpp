// V2/V3/V9/V11 on the cpu-small preset. Eval: 128 sequences with Juliet-like lengths (16..256
// tokens, mean ~130) through InferenceEngine in each mode, samples per CPU second as a counter.
// Train: one AdamW step (batch 16 x seq 128) with full fine-tuning, LoRA, QLoRA-int8 and QLoRA-nf4,
// with trainable parameters, optimizer-state bytes and weight bytes as counters. Numbers and
// machine: docs/perf/adapters.md.
#include <cstdlib>
#include <random>

#include <torch/torch.h>

#include <benchmark/benchmark.h>

#include "greenknobs/adapters/engine.h"
#include "greenknobs/adapters/lora.h"
#include "greenknobs/adapters/quant.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"

namespace {

using gk::model::ModernBertForSequenceClassification;

// One intra-op thread by default (GK_BENCH_THREADS overrides): on the shared 2-vCPU VM other
// processes take the cores, and with one thread the main thread's CPU time (what the rates below
// divide by) is all the work, with no OpenMP spin-waiting in it. Wall times are printed too.
void init_once() {
    static bool done = [] {
        const char* env = std::getenv("GK_BENCH_THREADS");
        gk::model::init_runtime("cpu", env ? std::atoi(env) : 1);
        return true;
    }();
    (void)done;
}

ModernBertForSequenceClassification make_model() {
    init_once();
    torch::manual_seed(0);
    return ModernBertForSequenceClassification(gk::model::preset("cpu-small"));
}

// Lengths from a clipped log-normal with a mean near Juliet's 132 tokens per function.
const std::vector<std::vector<int32_t>>& eval_sequences() {
    static const auto seqs = [] {
        std::mt19937 rng(1);
        std::lognormal_distribution<double> len(4.75, 0.45);
        std::uniform_int_distribution<int32_t> tok(100, 50000);
        std::vector<std::vector<int32_t>> out;
        for (int i = 0; i < 128; ++i) {
            const int n = std::clamp(static_cast<int>(len(rng)), 16, 256);
            std::vector<int32_t> s(n);
            for (auto& t : s) {
                t = tok(rng);
            }
            out.push_back(s);
        }
        return out;
    }();
    return seqs;
}

void run_eval(benchmark::State& state, const gk::adapters::EngineOptions& opts) {
    auto m = make_model();
    gk::adapters::InferenceEngine eng(gk::adapters::classifier_of(m.ptr()), opts);
    const auto& seqs = eval_sequences();
    (void)eng.run(seqs);  // warm-up (and the traces, when compiled)
    int64_t samples = 0;
    double padded = 0;
    for (auto _ : state) {
        auto res = eng.run(seqs);
        samples += res.timing.samples;
        padded = static_cast<double>(res.timing.padded_tokens) /
                 static_cast<double>(res.timing.real_tokens);
        benchmark::DoNotOptimize(res.logits.data());
    }
    state.counters["samples_per_cpu_s"] =
        benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
    state.counters["padding_x"] = padded;
    state.SetLabel(eng.describe());
}

gk::adapters::EngineOptions eval_opts(const std::string& engine, const std::string& dtype,
                                      bool bucket, bool compile = false, bool bf16_weights = true) {
    gk::adapters::EngineOptions o;
    o.engine = engine;
    o.dtype = dtype;
    o.batch_size = 32;
    o.bucket_by_length = bucket;
    o.pad_id = 50283;
    o.compile = compile;
    o.bf16_weights = bf16_weights;
    return o;
}

void BM_Eval_plain_fp32(benchmark::State& s) { run_eval(s, eval_opts("plain", "fp32", false)); }
void BM_Eval_plain_fp32_bucketed(benchmark::State& s) {
    run_eval(s, eval_opts("plain", "fp32", true));
}
void BM_Eval_packed_fp32(benchmark::State& s) { run_eval(s, eval_opts("packed", "fp32", true)); }
void BM_Eval_packed_bf16_weights(benchmark::State& s) {
    run_eval(s, eval_opts("packed", "bf16", true));
}
void BM_Eval_packed_bf16_autocast(benchmark::State& s) {
    run_eval(s, eval_opts("packed", "bf16", true, false, /*bf16_weights=*/false));
}
void BM_Eval_packed_int8(benchmark::State& s) { run_eval(s, eval_opts("packed", "int8", true)); }
void BM_Eval_compiled_fp32(benchmark::State& s) {
    run_eval(s, eval_opts("packed", "fp32", true, true));
}
BENCHMARK(BM_Eval_plain_fp32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Eval_plain_fp32_bucketed)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Eval_packed_fp32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Eval_packed_bf16_weights)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Eval_packed_bf16_autocast)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Eval_packed_int8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Eval_compiled_fp32)->Unit(benchmark::kMillisecond);

// One optimizer step: forward, cross-entropy, backward, AdamW over the trainable parameters only.
void run_train(benchmark::State& state, const std::string& mode) {
    auto m = make_model();
    int64_t weight_bytes_before = gk::model::count_params(*m).weights_bytes;
    if (mode == "qlora_int8" || mode == "qlora_nf4") {
        gk::config::QuantizationConfig qc;
        qc.bits = mode == "qlora_int8" ? 8 : 4;
        gk::adapters::quantize_model(*m, qc, /*double_quant=*/qc.bits == 4);
    }
    if (mode != "full") {
        gk::adapters::apply_lora(*m, gk::config::LoraConfig{});
    }
    std::vector<torch::Tensor> params;
    for (const auto& p : m->parameters()) {
        if (p.requires_grad()) {
            params.push_back(p);
        }
    }
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(3e-4).weight_decay(0.01));
    torch::manual_seed(2);
    auto ids = torch::randint(100, 50000, {16, 128}, torch::kLong);
    auto mask = torch::ones_like(ids);
    auto labels = torch::randint(0, 2, {16}, torch::kLong);
    m->train();
    auto step = [&] {
        opt.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(m->forward(ids, mask), labels);
        loss.backward();
        opt.step();
    };
    step();  // warm-up; creates the optimizer state
    for (auto _ : state) {
        step();
    }
    int64_t opt_bytes = 0;
    for (const auto& item : opt.state()) {
        auto& st = static_cast<torch::optim::AdamWParamState&>(*item.second);
        opt_bytes += st.exp_avg().numel() * 4 + st.exp_avg_sq().numel() * 4;
    }
    auto counts = gk::model::count_params(*m);
    state.counters["trainable_params"] = static_cast<double>(counts.trainable);
    state.counters["optimizer_state_MB"] = static_cast<double>(opt_bytes) / 1e6;
    state.counters["weights_MB"] = static_cast<double>(counts.weights_bytes) / 1e6;
    state.counters["weights_MB_before"] = static_cast<double>(weight_bytes_before) / 1e6;
    state.counters["samples_per_cpu_s"] = benchmark::Counter(
        16.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_TrainStep_full(benchmark::State& s) { run_train(s, "full"); }
void BM_TrainStep_lora(benchmark::State& s) { run_train(s, "lora"); }
void BM_TrainStep_qlora_int8(benchmark::State& s) { run_train(s, "qlora_int8"); }
void BM_TrainStep_qlora_nf4(benchmark::State& s) { run_train(s, "qlora_nf4"); }
BENCHMARK(BM_TrainStep_full)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrainStep_lora)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrainStep_qlora_int8)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TrainStep_qlora_nf4)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
