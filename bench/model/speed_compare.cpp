// greenknobs' side of the side-by-side benchmark against a PyTorch-Python loop of the same model
// (scripts/bench_vs_python.py drives both, interleaved). It trains with the project's own Trainer
// and evaluates with its own evaluate(), on deterministic synthetic data, and prints one JSON line.
// With --data-out it also writes the samples and the Trainer's batch plan, so the Python loop
// computes on exactly the same batches in the same order.
//
//   speed_compare --shape cpu-small --seq 128 --batch 16 --precision bf16 --steps 8 --threads 2
//
// --profile FILE records the timed phase (training, or evaluation with --mode eval) with
// LibTorch's profiler as a chrome trace; scripts/profile_ops.py sums it by operator. --adamw
// libtorch runs LibTorch's own AdamW loop instead of the fused CPU pass, --geglu aten LibTorch's
// chunk, gelu and mul instead of the fused GeGLU kernel, --attention-path kernels LibTorch's
// attention kernels (eager, banded, grouped, block-gather) instead of fused_attention (the befores
// of those changes).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/omp_env.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/train/trainer.h"

namespace {

using nlohmann::json;

double process_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct Args {
    std::string shape = "cpu-small";  // a model preset: cpu-small | base | cpu-tiny | test-tiny
    int64_t seq = 128;
    int batch = 16;
    std::string precision = "fp32";
    int steps = 8;         // timed optimizer steps
    int warmup_steps = 2;  // untimed, before (allocator and oneDNN primitive caches warm)
    int eval_batches = 8;
    int threads = 0;
    std::string attention = "eager";
    bool unpad = false;
    bool eval_longest_first = true;  // evaluate()'s default; --eval-given-order turns it off
    bool group_rows = true;          // the model's default; --no-group-rows: full [B, S, S] eager
    bool full = false;               // every sequence full length (no padding)
    std::string mode = "both";       // train | eval | both
    std::string data_out;
    std::string profile;      // chrome trace of the timed phase ("" = none)
    bool fused_adamw = true;  // --adamw libtorch: LibTorch's own update loop (before/after)
    bool fused_geglu = true;  // --geglu aten: LibTorch's chunk, gelu and mul (before/after)
    // --attention-path kernels: LibTorch's attention kernels instead of fused_attention
    bool fused_attention = true;
    std::string bf16_matmul =
        "auto";  // --bf16-matmul auto|libtorch|fp32-gemm (model/bf16_matmul.h)
};

// A before/after switch: "fused" -> true, `other` -> false, anything else exits 2.
bool fused_or(const std::string& flag, const std::string& v, const char* other) {
    if (v != "fused" && v != other) {
        std::fprintf(stderr, "speed_compare: %s fused|%s, got %s\n", flag.c_str(), other,
                     v.c_str());
        std::exit(2);
    }
    return v == "fused";
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "speed_compare: %s needs a value\n", k.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (k == "--shape") {
            a.shape = next();
        } else if (k == "--seq") {
            a.seq = std::stoll(next());
        } else if (k == "--batch") {
            a.batch = std::stoi(next());
        } else if (k == "--precision") {
            a.precision = next();
        } else if (k == "--adamw") {
            a.fused_adamw = fused_or(k, next(), "libtorch");
        } else if (k == "--geglu") {
            a.fused_geglu = fused_or(k, next(), "aten");
        } else if (k == "--attention-path") {
            a.fused_attention = fused_or(k, next(), "kernels");
        } else if (k == "--bf16-matmul") {
            a.bf16_matmul = next();
        } else if (k == "--steps") {
            a.steps = std::stoi(next());
        } else if (k == "--warmup-steps") {
            a.warmup_steps = std::stoi(next());
        } else if (k == "--eval-batches") {
            a.eval_batches = std::stoi(next());
        } else if (k == "--threads") {
            a.threads = std::stoi(next());
        } else if (k == "--attention") {
            a.attention = next();
        } else if (k == "--unpad") {
            a.unpad = true;
        } else if (k == "--eval-given-order") {
            a.eval_longest_first = false;
        } else if (k == "--no-group-rows") {
            a.group_rows = false;
        } else if (k == "--full") {
            a.full = true;
        } else if (k == "--mode") {
            a.mode = next();
        } else if (k == "--data-out") {
            a.data_out = next();
        } else if (k == "--profile") {
            a.profile = next();
        } else {
            std::fprintf(stderr, "speed_compare: unknown argument %s\n", k.c_str());
            std::exit(2);
        }
    }
    return a;
}

// n samples; sample i has a length in [seq/4, seq] (or seq with full) from a fixed LCG, ids in
// [5, vocab), [CLS]=1 first; labels alternate. The same for every process.
gk::train::TokenizedSplit make_split(int64_t n, int64_t seq, int64_t vocab, bool full,
                                     uint64_t salt) {
    gk::train::TokenizedSplit s;
    uint64_t x = 0x9E3779B97F4A7C15ull ^ salt;
    auto rnd = [&x]() {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        return x >> 33;
    };
    for (int64_t i = 0; i < n; ++i) {
        const int64_t lo = seq / 4;
        const int64_t len = full ? seq : lo + static_cast<int64_t>(rnd() % (seq - lo + 1));
        std::vector<int32_t> ids(static_cast<size_t>(len));
        ids[0] = 1;
        for (int64_t j = 1; j < len; ++j) {
            ids[static_cast<size_t>(j)] = static_cast<int32_t>(5 + rnd() % (vocab - 5));
        }
        s.ids.push_back(std::move(ids));
        s.labels.push_back(static_cast<int>(i % 2));
    }
    return s;
}

gk::config::TrainConfig train_config(const Args& a) {
    gk::config::TrainConfig tc;
    tc.epochs = 1;
    tc.batch_size = a.batch;
    tc.precision =
        gk::config::parse_or_throw<gk::config::Precision>(a.precision, "--precision", "precision");
    tc.lr = 1e-4;
    tc.warmup_ratio = 0.1;
    tc.seed = 42;
    return tc;
}

}  // namespace

int main(int argc, char** argv) {
    gk::model::reexec_with_default_omp_env(argc, argv);
    Args a = parse(argc, argv);
    gk::model::RuntimeInfo rt = gk::model::init_runtime("cpu", a.threads);
    try {
        gk::model::set_bf16_matmul(a.bf16_matmul);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "speed_compare: --bf16-matmul: %s\n", e.what());
        return 2;
    }
    gk::model::ModernBertConfig c = gk::model::preset(a.shape);
    torch::manual_seed(42);
    gk::model::ModernBertForSequenceClassification m(c);
    m->set_attention(a.attention);
    m->set_unpad(a.unpad);
    m->set_group_rows(a.group_rows);
    m->set_fused_geglu(a.fused_geglu);
    m->set_fused_attention(a.fused_attention);

    const int64_t n_train = static_cast<int64_t>(a.batch) * a.steps;
    const int64_t n_warm = static_cast<int64_t>(a.batch) * a.warmup_steps;
    const int64_t n_eval = static_cast<int64_t>(a.batch) * a.eval_batches;
    auto train = make_split(n_train, a.seq, c.vocab_size, a.full, 1);
    auto warm = make_split(n_warm, a.seq, c.vocab_size, a.full, 2);
    auto eval = make_split(n_eval, a.seq, c.vocab_size, a.full, 3);
    gk::config::TrainConfig tc = train_config(a);

    if (!a.data_out.empty()) {
        gk::train::LoaderOptions lo;
        lo.batch_size = tc.batch_size;
        lo.seed = tc.seed;
        json d = {{"config", gk::model::to_hf_json(c)},
                  {"train_ids", train.ids},
                  {"train_labels", train.labels},
                  {"train_plan", gk::train::BatchLoader(train, lo).plan(0)},
                  {"warm_ids", warm.ids},
                  {"warm_labels", warm.labels},
                  {"warm_plan", gk::train::BatchLoader(warm, lo).plan(0)},
                  {"eval_ids", eval.ids},
                  {"eval_labels", eval.labels},
                  {"lr", tc.lr},
                  {"weight_decay", tc.weight_decay},
                  {"warmup_ratio", tc.warmup_ratio},
                  {"max_grad_norm", tc.max_grad_norm}};
        std::ofstream(a.data_out) << d.dump();
    }

    json out = {{"impl", "greenknobs"},
                {"shape", a.shape},
                {"seq", a.seq},
                {"batch", a.batch},
                {"precision", a.precision},
                {"threads", rt.threads},
                {"attention", a.attention},
                {"unpad", a.unpad},
                {"group_rows", a.group_rows},
                {"omp_wait_policy", rt.omp_wait_policy},
                {"gomp_spincount", rt.gomp_spincount}};
    auto forward = [m](const torch::Tensor& ids, const torch::Tensor& mask) mutable {
        return m->forward(ids, mask);
    };
    gk::train::TrainerOptions opts;
    opts.progress = false;
    opts.pad_id = 0;
    opts.fused_adamw = a.fused_adamw;
    if (a.mode != "eval") {
        if (a.warmup_steps > 0) {
            gk::train::Trainer(*m, forward, tc, torch::kCPU, opts).fit(warm, {});
        }
        std::optional<torch::autograd::profiler::RecordProfile> profile;
        if (!a.profile.empty()) {
            profile.emplace(a.profile);
        }
        const double cpu0 = process_cpu_s();
        auto t0 = std::chrono::steady_clock::now();
        gk::train::TrainReport r =
            gk::train::Trainer(*m, forward, tc, torch::kCPU, opts).fit(train, {});
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        profile.reset();
        out["train_tokens_per_s"] = r.tokens_per_s;
        out["train_tokens"] = r.tokens;
        out["train_padded_tokens"] = r.padded_tokens;
        out["train_wall_s"] = wall;
        out["train_cpu_s"] = process_cpu_s() - cpu0;
        out["train_final_loss"] = r.final_loss;
        out["optimizer_impl"] = r.optimizer_impl;
        out["train_attention_kernel"] = m->attention_kernel();  // the last step's
        out["train_bf16_matmul"] = gk::model::bf16_matmul_ran();
    }
    if (a.mode != "train") {
        const auto prec = gk::train::parse_precision(a.precision);
        // One untimed batch first, as the train side warms up.
        gk::train::TokenizedSplit first;
        first.ids.assign(eval.ids.begin(), eval.ids.begin() + a.batch);
        first.labels.assign(eval.labels.begin(), eval.labels.begin() + a.batch);
        (void)gk::train::evaluate(*m, forward, first, a.batch, torch::kCPU, prec);
        std::optional<torch::autograd::profiler::RecordProfile> profile;
        if (!a.profile.empty() && a.mode == "eval") {
            profile.emplace(a.profile);
        }
        gk::model::reset_bf16_matmul_ran();
        const double cpu0 = process_cpu_s();
        gk::train::EvalResult r = gk::train::evaluate(*m, forward, eval, a.batch, torch::kCPU, prec,
                                                      0, a.eval_longest_first);
        profile.reset();
        out["eval_samples_per_s"] = r.metrics.samples_per_s.value_or(0.0);
        out["eval_wall_s"] = r.duration_s;
        out["eval_cpu_s"] = process_cpu_s() - cpu0;
        out["eval_longest_first"] = r.bucket_by_length;
        out["eval_tokens"] = r.tokens;
        out["eval_padded_tokens"] = r.padded_tokens;
        out["eval_bf16_matmul"] = gk::model::bf16_matmul_ran();
    }
    out["attention_kernel"] = m->attention_kernel();
    out["mlp_kernel"] = m->mlp_kernel();
    std::printf("%s\n", out.dump().c_str());
    return 0;
}
