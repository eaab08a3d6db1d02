// The pipeline: one tracker, six stages with fixed boundaries (docs/design.md), every knob applied
// where its phase says, and a run directory whose run.json is written last, atomically, with the
// run's status.
#include "greenknobs/pipeline/pipeline.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <torch/torch.h>

#include <unistd.h>

#include "greenknobs/adapters/compile.h"
#include "greenknobs/adapters/engine.h"
#include "greenknobs/adapters/lora.h"
#include "greenknobs/adapters/quant.h"
#include "greenknobs/config/tracker_options.h"
#include "greenknobs/data/dataset.h"
#include "greenknobs/energy/power_limit.h"
#include "greenknobs/energy/tracker.h"
#include "greenknobs/knobs/knob.h"
#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/checkpoint_io.h"
#include "greenknobs/model/flops.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/text/token_cache.h"
#include "greenknobs/text/tokenizer.h"
#include "greenknobs/train/batch.h"
#include "greenknobs/train/metrics.h"
#include "greenknobs/train/trainer.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/text_check.h"
#include "greenknobs/util/utc_time.h"

#ifndef GK_GIT_COMMIT
#define GK_GIT_COMMIT "unknown"
#endif

namespace gk::pipeline {
namespace {

using model::ModernBertForSequenceClassification;
using nlohmann::json;

struct Tokenized {
    train::TokenizedSplit train, validation, test;
    int64_t samples = 0;
    int64_t tokens = 0;
    int64_t truncated = 0;
    bool cache_hit = false;
    std::string cache_key;
    std::vector<std::string> cache_outcome;   // per split: hit | miss | off
    std::vector<std::string> cache_rejected;  // cache files found but not used, with why
    int threads_run = 0;                      // most threads one split was encoded on
    int64_t max_sample_tokens = 0;            // the longest encoded sample
};

// The model FLOPs of one split's sequences (model/flops.h).
model::SequenceFlops flops_of(const model::ModernBertConfig& mc, const train::TokenizedSplit& split,
                              const model::TrainedParts& trained = {}) {
    std::vector<int64_t> lengths;
    lengths.reserve(split.ids.size());
    for (const auto& ids : split.ids) {
        lengths.push_back(static_cast<int64_t>(ids.size()));
    }
    return model::split_flops(mc, lengths, trained);
}

// What training updates, as build_model sets it up: a quantized base is frozen, LoRA trains its
// adapters, otherwise every weight trains.
model::TrainedParts trained_parts(const config::RunConfig& c) {
    model::TrainedParts t;
    if (c.lora.enabled) {
        t.mode = model::TrainedParts::Mode::kAdapters;
        t.lora_r = c.lora.r;
        t.lora_targets = c.lora.targets;
    } else if (c.quantization.bits > 0) {
        t.mode = model::TrainedParts::Mode::kHeadOnly;
    }
    return t;
}

const char* trained_name(const model::TrainedParts& t) {
    switch (t.mode) {
        case model::TrainedParts::Mode::kAdapters:
            return "adapters";
        case model::TrainedParts::Mode::kHeadOnly:
            return "head";
        case model::TrainedParts::Mode::kFull:
            break;
    }
    return "all";
}

// run.json's `model_flops`: what each stage had to compute (model/flops.h) and the rate it ran at,
// from the stages' `model_flops` work and durations.
json model_flops_json(const json& energy_report, const std::string& trained,
                      const model::SequenceFlops& train_flops, const train::TrainReport& tr,
                      double validation_forward, double test_forward) {
    json j = {{"convention",
               "matrix products on real tokens (projections, attention over the keys each query "
               "sees, head), multiply-add = 2; training = forward + backward of what trains; "
               "padding, recomputation, norms, activations, softmax and the optimizer not "
               "counted"},
              {"train",
               {{"flops", train_flops.train * tr.epochs_run},
                {"forward_flops_per_epoch", train_flops.forward},
                {"epochs", tr.epochs_run},
                {"trained", trained},
                {"seconds", tr.train_duration_s},
                {"gflop_per_s", tr.train_duration_s > 0
                                    ? train_flops.train * tr.epochs_run / tr.train_duration_s / 1e9
                                    : 0.0}}},
              {"validate",
               {{"flops", validation_forward * static_cast<double>(tr.validation.size())},
                {"passes", tr.validation.size()}}}};
    for (const auto& st : energy_report["stages"]) {
        const std::string name = st["name"];
        if (name != "evaluate" && name != config::kScoreValidationStage) {
            continue;
        }
        const double flops = name == "evaluate" ? test_forward : validation_forward;
        const double seconds = st["duration_s"].get<double>();
        j[name] = {{"flops", flops},
                   {"seconds", seconds},
                   {"gflop_per_s", seconds > 0 ? flops / seconds / 1e9 : 0.0}};
    }
    return j;
}

// SHA-256 over one split's texts (length-prefixed, so boundaries count): the cache's data identity.
std::string split_hash(const std::vector<data::Sample>& samples) {
    std::string buf;
    for (const auto& s : samples) {
        buf += std::to_string(s.text.size());
        buf += ':';
        buf += s.text;
    }
    return sha256_hex(buf);
}

train::TokenizedSplit to_split(const std::vector<text::Encoding>& enc,
                               const std::vector<data::Sample>& samples) {
    train::TokenizedSplit out;
    out.ids.reserve(enc.size());
    out.labels.reserve(enc.size());
    for (size_t i = 0; i < enc.size(); ++i) {
        out.ids.push_back(enc[i].ids);
        out.labels.push_back(samples[i].label);
    }
    return out;
}

Tokenized tokenize_all(const config::RunConfig& c, const data::Dataset& ds,
                       const text::Tokenizer& tok) {
    Tokenized t;
    std::unique_ptr<text::TokenCache> cache;
    if (c.tokenizer.cache) {
        cache = std::make_unique<text::TokenCache>(c.tokenizer.cache_dir);
    }
    const std::vector<data::Sample>* splits[3] = {&ds.train, &ds.validation, &ds.test};
    train::TokenizedSplit* outs[3] = {&t.train, &t.validation, &t.test};
    int hits = 0;
    for (int s = 0; s < 3; ++s) {
        const auto& samples = *splits[s];
        std::vector<text::Encoding> enc;
        std::string key;
        bool hit = false;
        if (cache) {
            key =
                cache->key(split_hash(samples), tok, c.tokenizer.max_length, /*add_special=*/true);
            std::string rejected;
            hit = cache->load(key, &enc, &rejected) && enc.size() == samples.size();
            if (!rejected.empty()) {
                t.cache_rejected.push_back(rejected);  // a damaged entry: re-encoded, and recorded
            }
        }
        if (!hit) {
            std::vector<std::string> texts;
            texts.reserve(samples.size());
            for (const auto& smp : samples) {
                texts.push_back(smp.text);
            }
            int threads_run = 0;
            enc = tok.encode_batch(texts, /*add_special_tokens=*/true, c.tokenizer.max_length,
                                   c.tokenizer.threads, &threads_run);
            t.threads_run = std::max(t.threads_run, threads_run);
            if (cache) {
                cache->store(key, enc);
            }
        } else {
            ++hits;
        }
        t.cache_outcome.push_back(!cache ? "off" : hit ? "hit" : "miss");
        for (const auto& e : enc) {
            t.max_sample_tokens = std::max(t.max_sample_tokens, static_cast<int64_t>(e.ids.size()));
            t.tokens += static_cast<int64_t>(e.ids.size());
            t.truncated += e.truncated ? 1 : 0;
        }
        t.samples += static_cast<int64_t>(enc.size());
        *outs[s] = to_split(enc, samples);
        t.cache_key += (s ? "," : "") + key.substr(0, 12);
    }
    t.cache_hit = cache && hits == 3;
    return t;
}

// Builds the model for this run: preset or HF checkpoint, then the model-phase knobs in a fixed
// order (prune → attention/unpad/checkpointing → quantize → LoRA), then the device. Where the
// encoder's weights come from (model.init_from, else model.init): the directory, or "" for HF's
// random init, and a record of the decision for run.json.
std::string resolve_init(const config::RunConfig& c, json* init) {
    std::string dir = c.model.init_from;
    std::string kind = "checkpoint";
    if (dir.empty() && c.model.init != config::WeightsInit::kScratch) {
        const std::string shipped = config::pretrained_dir(c.model.preset);
        if (fs::exists(fs::join(shipped, "model.safetensors"))) {
            dir = shipped;
            kind = "pretrained";
        } else if (c.model.init == config::WeightsInit::kPretrained) {
            throw InputError("model.init", "pretrained",
                             "no pretrained checkpoint for preset " + c.model.preset +
                                 " (looked for " + shipped +
                                 "/model.safetensors; run from the repository root, or set "
                                 "model.init = \"scratch\")");
        }
    }
    if (dir.empty()) {
        *init = {{"kind", "scratch"}, {"setting", c.model.init}, {"from", nullptr}};
        return dir;
    }
    *init = {{"kind", kind},
             {"setting", c.model.init},
             {"from", dir},
             {"architecture", model::checkpoint_architecture(dir)},
             {"weights_sha256", sha256_hex(fs::read_file(fs::join(dir, "model.safetensors")))}};
    const std::string meta = fs::join(dir, "greenknobs.json");
    if (fs::exists(meta)) {
        json j = json::parse(fs::read_file(meta), nullptr, /*allow_exceptions=*/false);
        if (j.is_object()) {
            for (const char* k : {"pretrain_steps", "pretrain_tokens", "config_hash"}) {
                if (j.contains(k)) {
                    (*init)[std::string("checkpoint_") + k] = j[k];
                }
            }
        }
    }
    return dir;
}

ModernBertForSequenceClassification build_model(const config::RunConfig& c,
                                                const torch::Device& device, json* applied,
                                                json* init) {
    ModernBertForSequenceClassification m{nullptr};
    const std::string init_dir = resolve_init(c, init);
    if (!init_dir.empty()) {
        const std::string arch = (*init)["architecture"].get<std::string>();
        m = model::load_hf_checkpoint(init_dir);
        if (arch != "ModernBertForSequenceClassification") {
            // A fresh head: the run's pooling applies (a classifier keeps the pooling it was
            // trained with).
            m->mutable_config().classifier_pooling = config::to_string(c.model.pooling);
        }
        if (m->config().num_labels != 2) {
            m->reset_classifier(2);
        }
        log::info("model: encoder from " + init_dir + " (" + arch + ")");
    } else {
        model::ModernBertConfig mc = model::preset(c.model.preset);
        mc.classifier_pooling = config::to_string(c.model.pooling);
        m = ModernBertForSequenceClassification(mc);
    }
    if (c.model.prune_layers > 0) {
        int before = static_cast<int>(m->num_layers());
        model::prune_layers(m, c.model.prune_layers, config::to_string(c.model.prune_from));
        applied->push_back({{"name", "prune_layers"},
                            {"params",
                             {{"n", c.model.prune_layers},
                              {"from", c.model.prune_from},
                              {"layers_before", before},
                              {"layers_after", m->num_layers()}}}});
    }
    m->set_attention(config::to_string(c.model.attention));
    m->set_unpad(c.model.unpad);
    m->set_group_rows(c.model.group_rows);
    m->set_fused_attention(c.model.fused_attention);
    m->set_grad_checkpointing(c.train.grad_checkpointing);
    if (c.quantization.bits > 0) {
        auto q = adapters::quantize_model(*m, c.quantization);
        applied->push_back({{"name", "quantization"},
                            {"params",
                             {{"bits", q.bits},
                              {"block_size", q.block_size},
                              {"layers", q.layers},
                              {"weight_bytes_before", q.weight_bytes_before},
                              {"weight_bytes_after", q.weight_bytes_after}}}});
    }
    if (c.lora.enabled) {
        auto r = adapters::apply_lora(*m, c.lora);
        applied->push_back({{"name", "lora"},
                            {"params",
                             {{"r", c.lora.r},
                              {"alpha", c.lora.alpha},
                              {"targets", c.lora.targets},
                              {"adapter_params", r.adapter_params},
                              {"trainable_params", r.trainable_params},
                              {"total_params", r.total_params}}}});
    }
    m->to(device);
    return m;
}

// One knobs.details entry for a step that did not run as configured: what ran instead, and why.
json fallback_detail(const std::string& knob, const std::string& fallback,
                     const std::string& reason) {
    return {{"name", knob}, {"params", {{"fallback", fallback}, {"reason", reason}}}};
}

json kinds_json(const std::map<std::string, int>& kinds) {
    json j = json::object();
    for (const auto& [k, n] : kinds) {
        j[k] = n;
    }
    return j;
}

// Token ids index the embedding: a tokenizer with more ids than the model's vocabulary would make
// the embedding lookup fail mid-run (LibTorch's "index out of range"), so it is bad input, named
// before anything runs.
void check_vocab_fits(const text::Tokenizer& tok, const model::ModernBertConfig& mc,
                      const config::RunConfig& c) {
    if (tok.vocab_size() <= mc.vocab_size) {
        return;
    }
    const auto last = static_cast<int32_t>(tok.vocab_size() - 1);
    const std::string model = c.model.init_from.empty()
                                  ? "preset " + c.model.preset
                                  : fs::join(c.model.init_from, "config.json");
    throw InputError(c.tokenizer.path, "",
                     "yields token ids up to " + std::to_string(last) + " (\"" +
                         tok.id_to_token(last) + "\") but the model's vocab_size is " +
                         std::to_string(mc.vocab_size) + " (" + model +
                         "): use the tokenizer.json that belongs to the model");
}

// Never throws on text: strings that are not UTF-8 (a path given on the command line) are written
// with U+FFFD in place of their bad bytes, so a run record can always be written.
void write_status(const std::string& dir, json record) {
    fs::write_file_atomic(fs::join(dir, "run.json"),
                          record.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

// The final record of a run that did not complete; the message made printable (one line, UTF-8).
void write_final_status(const std::string& dir, json& record, const char* status,
                        const std::string& message) {
    record["status"] = status;
    record["error"] = printable(message);
    record["finished_at"] = utc_now_iso8601();
    write_status(dir, record);
}

// SIGINT/SIGTERM during a run only set this flag (a lock-free atomic store is async-signal-safe);
// the pipeline polls it after every training micro-batch and at every stage boundary, so the run
// ends through the ordinary path: stages closed, energy reported, run.json "interrupted".
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free");

void on_stop_signal(int sig) {
    int expected = 0;
    if (g_stop_signal.compare_exchange_strong(expected, sig)) {
        static const char kMsg[] =
            "greenknobs: signal received; stopping at the next batch or stage boundary "
            "(run.json will say \"interrupted\")\n";
        const int saved_errno = errno;
        ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
        (void)ignored;
        errno = saved_errno;
    }
}

// Installs on_stop_signal for the run's lifetime. A signal the caller ignores (a background job's
// SIGINT) stays ignored. The power limiter installs its handler over ours later and calls ours
// after waking its restore thread, which then sees a handler (not the default action) and lets the
// run finish its record instead of killing the process; so ours is only put back when it is still
// the one installed.
class StopSignals {
  public:
    StopSignals() {
        g_stop_signal.store(0);
        install(SIGINT, &old_int_, &installed_int_);
        install(SIGTERM, &old_term_, &installed_term_);
    }
    ~StopSignals() {
        restore(SIGINT, old_int_, installed_int_);
        restore(SIGTERM, old_term_, installed_term_);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

  private:
    static void install(int sig, struct sigaction* old, bool* installed) {
        ::sigaction(sig, nullptr, old);
        if ((old->sa_flags & SA_SIGINFO) == 0 && old->sa_handler == SIG_IGN) {
            return;
        }
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        ::sigaction(sig, &sa, nullptr);
        *installed = true;
    }
    static void restore(int sig, const struct sigaction& old, bool installed) {
        struct sigaction now {};
        ::sigaction(sig, nullptr, &now);
        if (installed && (now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == on_stop_signal) {
            ::sigaction(sig, &old, nullptr);
        }
    }
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
    bool installed_int_ = false;
    bool installed_term_ = false;
};

std::string signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal " + std::to_string(sig);
}

std::string fmt(double v, int prec = 3) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

}  // namespace

Interrupted::Interrupted(int signal, const std::string& stage)
    : std::runtime_error("interrupted by " + signal_name(signal) +
                         (stage.empty() ? std::string() : " in stage " + stage)),
      signal_(signal),
      stage_(stage) {}

json run_pipeline(const config::RunConfig& c, const PipelineOptions& opt) {
    GK_CHECK(!opt.out_dir.empty(), "run directory");
    const std::string dir = opt.out_dir;
    const std::string run_json = fs::join(dir, "run.json");
    if (fs::exists(run_json) && !opt.overwrite) {
        json prev = json::parse(fs::read_file(run_json), nullptr, /*allow_exceptions=*/false);
        if (prev.is_object() && prev.value("status", "") == "complete") {
            throw InputError(run_json, "status",
                             "this run directory already holds a complete run (use --overwrite)");
        }
    }
    fs::make_dirs(dir);
    StopSignals stop_signals;

    json record = {{"schema", "greenknobs.run/1"},
                   {"status", "running"},
                   {"error", nullptr},
                   {"name", c.name},
                   {"config", config::to_json(c)},
                   {"config_hash", config::config_hash(c)},
                   {"greenknobs_version", "0.1.0"},
                   {"git_commit", GK_GIT_COMMIT},
                   {"started_at", utc_now_iso8601()},
                   {"knobs",
                    {{"applied", knobs::knob_settings(c)},
                     {"details", json::array()},
                     {"skipped", json::array()}}}};
    json machine = to_json(machine_info());
    write_status(dir, record);

    // The tracker outlives the try block: an interrupted run still reports what it measured.
    std::unique_ptr<energy::Tracker> tracker_owner;
    // From here on every exit path rewrites run.json with the final status (never left "running").
    try {
        fs::write_file_atomic(fs::join(dir, "config.toml"), config::to_toml(c));
        model::RuntimeInfo rt =
            model::init_runtime(config::to_string(c.system.device), c.system.threads);
        machine["torch_version"] = rt.torch_version;
        machine["blas"] = rt.blas;
        machine["device"] = rt.device;
        machine["threads"] =
            torch::get_num_threads();  // what LibTorch runs with, not what was asked
        machine["runtime"] =
            model::to_json(rt);  // threads and OpenMP wait policy, and who chose them
        record["machine"] = machine;
        torch::Device device(rt.device);
        model::set_bf16_matmul(config::to_string(c.model.bf16_matmul));
        if (!device.is_cuda() && (c.train.precision == config::Precision::kBf16 ||
                                  adapters::evaluation_dtype(c) == "bf16")) {
            // The knob runs as asked (a study measures what it costs here), but never silently.
            const std::string why = model::bf16_matmul() == "libtorch"
                                        ? model::bf16_cpu_warning(rt.cpu_bf16_matmul)
                                        : "";
            if (!why.empty()) {
                log::warn("bf16: " + why);
                record["knobs"]["details"].push_back(
                    {{"name", "precision"},
                     {"params", {{"bf16_matmul", rt.cpu_bf16_matmul}, {"warning", why}}}});
            }
        }
        torch::manual_seed(c.train.seed);

        // The power limit is set before any work and restored when `limit` goes out of scope (and
        // on signals).
        std::unique_ptr<energy::PowerLimiter> limiter;
        if (c.system.power_limit_w > 0) {
            limiter = std::make_unique<energy::PowerLimiter>();
            json limits = json::array();
            for (const auto& a : limiter->apply(c.system.power_limit_w)) {
                limits.push_back({{"device", a.device},
                                  {"previous_w", a.previous_w},
                                  {"requested_w", a.requested_w},
                                  {"enforced_w", a.enforced_w},
                                  {"capped", a.capped},
                                  {"note", a.note}});
            }
            record["knobs"]["details"].push_back({{"name", "power_limit"},
                                                  {"params",
                                                   {{"watts", c.system.power_limit_w},
                                                    {"mechanism", limiter->supported().mechanism},
                                                    {"limits", limits}}}});
        }

        tracker_owner = std::make_unique<energy::Tracker>(config::tracker_options(c.energy));
        energy::Tracker& tracker = *tracker_owner;
#if defined(GK_WITH_CUDA) && TORCH_VERSION_MAJOR >= 2
        if (device.is_cuda()) {
            tracker.set_sync([] { torch::cuda::synchronize(); });
        }
#endif
        tracker.start();
        // A pending SIGINT/SIGTERM ends the run here (`where`: the stage it is in or about to
        // open).
        auto poll_stop = [](const std::string& where) {
            if (const int sig = g_stop_signal.load()) {
                throw Interrupted(sig, where);
            }
        };
        // One log line per stage boundary: what `greenknobs study` shows as the current stage of a
        // run.
        auto open_stage = [&tracker, &poll_stop](const std::string& name) {
            poll_stop(name);
            log::info("stage: " + name);
            return tracker.stage(name);
        };

        // 1. load_dataset
        data::Dataset ds;
        {
            auto s = open_stage("load_dataset");
            ds = data::load_dataset(c.data, c.train.seed);
            s.add_work("samples", static_cast<double>(ds.report.rows_read));
        }
        log::info("data: " + std::to_string(ds.train.size()) + " train / " +
                  std::to_string(ds.validation.size()) + " validation / " +
                  std::to_string(ds.test.size()) + " test samples");

        // 2. tokenize
        Tokenized tk;
        std::unique_ptr<text::Tokenizer> tok;
        {
            auto s = open_stage("tokenize");
            tok = std::make_unique<text::Tokenizer>(text::Tokenizer::from_file(c.tokenizer.path));
            tk = tokenize_all(c, ds, *tok);
            s.add_work("samples", static_cast<double>(tk.samples));
            s.add_work("tokens", static_cast<double>(tk.tokens));
        }
        if (c.tokenizer.cache || c.tokenizer.threads != 1) {
            record["knobs"]["details"].push_back({{"name", "tokenizer"},
                                                  {"params",
                                                   {{"cache", c.tokenizer.cache},
                                                    {"cache_hit", tk.cache_hit},
                                                    {"cache_splits", tk.cache_outcome},
                                                    {"threads", c.tokenizer.threads},
                                                    {"threads_run", tk.threads_run}}}});
        }

        for (const auto& why : tk.cache_rejected) {
            record["knobs"]["details"].push_back(
                fallback_detail("tokenizer_cache", "cache entry rejected: split re-encoded", why));
        }

        // 3. load_model
        ModernBertForSequenceClassification m{nullptr};
        adapters::ParamCounts
            trained_counts;  // as trained: adapters unmerged, quantized weights logical
        int64_t trained_weights_bytes = 0;
        json model_init;
        {
            auto s = open_stage("load_model");
            json applied = json::array();
            m = build_model(c, device, &applied, &model_init);
            check_vocab_fits(*tok, m->config(), c);
            for (auto& a : applied) {
                record["knobs"]["details"].push_back(a);
            }
            auto counts = model::count_params(*m);
            trained_counts = adapters::count_params(*m);
            trained_weights_bytes = counts.weights_bytes;
            s.add_work("params", static_cast<double>(counts.total));
        }
        // The arithmetic each stage needs, counted from the model as built (pruned layers gone)
        // and the splits' real lengths: stage work `model_flops`, and run.json's `model_flops`.
        const model::TrainedParts parts = trained_parts(c);
        const model::SequenceFlops train_flops = flops_of(m->config(), tk.train, parts);
        const double validation_forward = flops_of(m->config(), tk.validation).forward;
        const double test_forward = flops_of(m->config(), tk.test).forward;

        // 4. train (+ train/validate per epoch)
        train::TrainReport tr;
        std::string train_kernel;
        std::string train_mlp_kernel;
        std::string train_bf16_matmul;
        {
            auto s = open_stage("train");
            model::reset_bf16_matmul_ran();
            std::unique_ptr<energy::Stage> validate_scope;
            train::TrainHooks hooks;
            hooks.stage_begin = [&](const std::string& name) {
                validate_scope = std::make_unique<energy::Stage>(open_stage(name));
            };
            hooks.stage_end = [&](const std::string&, int64_t samples, int64_t tokens) {
                validate_scope->add_work("samples", static_cast<double>(samples));
                validate_scope->add_work("tokens", static_cast<double>(tokens));
                validate_scope->add_work("model_flops", validation_forward);
                validate_scope.reset();
                poll_stop("train");
            };
            hooks.after_batch = [&] { poll_stop("train"); };
            train::TrainerOptions topts;
            topts.pad_id = tok->pad_id();
            // The validation pass belongs to training: its batch is train.validation_batch_size,
            // never an inference knob's (V9/V24/V30 once changed the train stage through
            // inference.batch_size).
            topts.eval_batch_size = c.train.validation_batch_size;
            topts.eval_bucket_by_length = c.train.validation_bucket_by_length;
            train::Trainer trainer(
                *m,
                [m](const torch::Tensor& ids, const torch::Tensor& mask) mutable {
                    return m->forward(ids, mask);
                },
                c.train, device, topts);
            tr = trainer.fit(tk.train, tk.validation, hooks);
            if (!tr.pin_memory_note.empty()) {
                // Asked for, but a no-op on this device: recorded, never presented as applied.
                record["knobs"]["skipped"].push_back(
                    {{"name", "pin_memory"}, {"reason", tr.pin_memory_note}});
                record["knobs"]["details"].push_back(
                    fallback_detail("loader", "pin_memory skipped: batches in pageable memory",
                                    tr.pin_memory_note));
            }
            train_kernel = m->train_attention_kernel();  // not the validation's
            train_mlp_kernel = m->mlp_kernel();
            train_bf16_matmul = model::bf16_matmul_ran();
            s.add_work("samples", static_cast<double>(tk.train.ids.size()) * tr.epochs_run);
            s.add_work("tokens", static_cast<double>(tr.tokens));
            s.add_work("model_flops", train_flops.train * tr.epochs_run);
        }

        // 5. save: adapters folded into plain weights so the directory is a standard HF checkpoint.
        // The model in memory keeps its adapters (evaluate runs it as trained) unless lora.merge
        // asks to fold them.
        const std::string model_dir = fs::join(dir, "model");
        const bool has_adapters = c.lora.enabled || c.quantization.bits > 0;
        const bool merge_in_memory = has_adapters && c.lora.merge;
        int64_t trainable_after_merge = trained_counts.trainable;
        {
            auto s = open_stage("save");
            m->to(torch::kCPU);
            if (merge_in_memory) {
                adapters::merge_lora(*m);
                trainable_after_merge = adapters::count_params(*m).trainable;
                model::save_hf(model_dir, m);
            } else if (has_adapters) {
                trainable_after_merge = adapters::save_hf_merged(model_dir, m).trainable_params;
            } else {
                model::save_hf(model_dir, m);
            }
            fs::write_file_atomic(fs::join(model_dir, "tokenizer.json"),
                                  fs::read_file(c.tokenizer.path));
            // What `predict` needs beyond HF's files: the training sequence length and the run's
            // identity.
            json meta = {{"max_length", c.tokenizer.max_length},
                         {"config_hash", config::config_hash(c)},
                         {"name", c.name}};
            fs::write_file_atomic(fs::join(model_dir, "greenknobs.json"), meta.dump(2) + "\n");
            m->to(device);
            s.add_work("bytes", static_cast<double>(std::filesystem::file_size(
                                    fs::join(model_dir, "model.safetensors"))));
        }

        // 6. evaluate through the inference path the knobs chose, in evaluation_dtype(c)
        // (docs/knobs.md).
        train::Metrics ev;
        const std::string eval_dtype = adapters::evaluation_dtype(c);
        json evaluation = {{"requested_precision", eval_dtype},
                           {"adapters_merged", merge_in_memory},
                           {"fallbacks", json::array()}};
        // The engine outlives the evaluate stage when the validation split is scored with it too.
        std::optional<adapters::InferenceEngine> engine;
        const bool via_engine = c.inference.engine == config::Engine::kPacked ||
                                c.train.compile == config::Compile::kTorchscript;
        const train::Precision plain_precision =
            via_engine ? train::Precision::kFp32 : train::parse_precision(eval_dtype);
        // One split through the evaluation path: its metrics, and (plain engine) what it padded.
        const auto score = [&](const train::TokenizedSplit& split, json* plain) {
            if (via_engine) {
                auto out = engine->run(split.ids);
                std::vector<int> preds;
                preds.reserve(out.logits.size());
                for (const auto& l : out.logits) {
                    preds.push_back(l[1] > l[0] ? 1 : 0);
                }
                train::Metrics r = train::compute_metrics(split.labels, preds);
                r.samples_per_s = out.timing.samples_per_s;
                r.latency_ms_per_batch = out.timing.latency_ms_per_batch;
                return r;
            }
            auto r = train::evaluate(
                *m,
                [m](const torch::Tensor& ids, const torch::Tensor& mask) mutable {
                    return m->forward(ids, mask);
                },
                split, c.inference.batch_size, device, plain_precision, tok->pad_id(),
                c.inference.bucket_by_length);
            if (plain != nullptr) {
                *plain = {{"bucket_by_length", r.bucket_by_length},
                          {"tokens", {{"real", r.tokens}, {"padded", r.padded_tokens}}}};
            }
            return r.metrics;
        };
        {
            auto s = open_stage("evaluate");
            model::reset_bf16_matmul_ran();
            m->eval();
            if (via_engine) {
                engine.emplace(adapters::classifier_of(m.ptr()),
                               adapters::engine_options(c, tok->pad_id()));
                ev = score(tk.test, nullptr);
                // Asked of the engine while it still holds the model in its evaluation form.
                evaluation["engine"] =
                    engine->options().engine + (engine->compiled() ? "+torchscript" : "");
                evaluation["precision"] = engine->dtype();
                evaluation["batch_size"] = engine->options().batch_size;
                evaluation["bucket_by_length"] = engine->options().bucket_by_length;
                evaluation["linears"] = kinds_json(adapters::linear_kinds(*m));
                evaluation["packed_linears"] = engine->packed_linears();
                evaluation["description"] = engine->describe();
                if (const auto* cm = engine->compiled()) {
                    evaluation["torchscript"] = {{"traces", cm->traces()},
                                                 {"steps", cm->steps()},
                                                 {"trace_s", cm->trace_s()}};
                }
                for (const auto& f : engine->fallbacks()) {
                    const std::string knob =
                        f.step.find("->") != std::string::npos ? "inference_engine" : "compile";
                    const std::string what = knob == "compile" ? f.step + " skipped" : f.step;
                    evaluation["fallbacks"].push_back({{"step", what}, {"reason", f.reason}});
                    record["knobs"]["details"].push_back(fallback_detail(knob, what, f.reason));
                }
            } else {
                evaluation["linears"] = kinds_json(adapters::linear_kinds(*m));
                json plain;
                ev = score(tk.test, &plain);
                evaluation["engine"] = "plain";
                evaluation["precision"] = train::precision_name(plain_precision);
                evaluation["batch_size"] = c.inference.batch_size;
                evaluation["bucket_by_length"] = plain["bucket_by_length"];
                evaluation["tokens"] = plain["tokens"];
            }
            evaluation["attention_kernel"] = m->attention_kernel();
            evaluation["mlp_kernel"] = m->mlp_kernel();
            evaluation["bf16_matmul"] = model::bf16_matmul_ran();
            s.add_work("samples", static_cast<double>(tk.test.ids.size()));
            s.add_work("model_flops", test_forward);
        }
        // The same path on the validation split, metered apart: what a search selects on, so an
        // inference knob's effect on accuracy is seen before test (greenknobs tune sets it).
        if (c.inference.score_validation) {
            poll_stop("evaluate");
            auto s = open_stage(config::kScoreValidationStage);
            const train::Metrics v = score(tk.validation, nullptr);
            evaluation["validation_metrics"] = train::to_json(v);
            s.add_work("samples", static_cast<double>(tk.validation.ids.size()));
            s.add_work("model_flops", validation_forward);
        }
        poll_stop("evaluate");  // the last chance: after this the run completes
        if (via_engine) {
            record["knobs"]["details"].push_back(
                {{"name",
                  c.inference.engine == config::Engine::kPacked ? "inference_engine" : "compile"},
                 {"params",
                  {{"engine", evaluation["description"]},
                   {"dtype", evaluation["precision"]},
                   {"batch_size", evaluation["batch_size"]},
                   {"bucket_by_length", evaluation["bucket_by_length"]},
                   {"compile", c.train.compile}}}});
        }
        tracker.stop();

        json energy_report = tracker.report_json();
        for (const auto& st : energy_report["stages"]) {
            if (st["name"] == "evaluate" && st["energy_j"]["total"].is_number() &&
                !tk.test.ids.empty()) {
                ev.j_per_sample =
                    st["energy_j"]["total"].get<double>() / static_cast<double>(tk.test.ids.size());
            }
        }
        json metrics = train::to_json(ev);
        json data_json = ds.report.to_json();
        data_json["duplicates_removed"] = ds.report.removed_by_dedup();
        data_json["train"] = ds.report.train.samples;
        data_json["validation"] = ds.report.validation.samples;
        data_json["test"] = ds.report.test.samples;
        data_json["positives"] = {{"train", ds.report.train.positives},
                                  {"validation", ds.report.validation.positives},
                                  {"test", ds.report.test.positives}};
        data_json["truncated_share"] =
            tk.samples ? static_cast<double>(tk.truncated) / tk.samples : 0.0;
        data_json["tokens"] = tk.tokens;
        data_json["token_cache"] = {
            {"enabled", c.tokenizer.cache}, {"hit", tk.cache_hit}, {"splits", tk.cache_outcome}};
        data_json["max_sample_tokens"] = tk.max_sample_tokens;
        data_json["tokenizer_threads_run"] = tk.threads_run;

        record["data"] = data_json;
        // Counted as trained (before any merge): LoRA's adapters and a quantized base's logical
        // size included.
        record["model"] = {{"layers", m->num_layers()},
                           {"total_params", trained_counts.total},
                           {"trainable_params", trained_counts.trainable},
                           {"trainable_params_after_merge", trainable_after_merge},
                           {"weights_bytes", trained_weights_bytes},
                           {"optimizer_state_bytes", tr.optimizer_state_bytes},
                           {"init", model_init}};
        record["attention"] = {{"kernel", train_kernel},
                               {"evaluate_kernel", evaluation["attention_kernel"]}};
        record["mlp"] = {{"geglu_kernel", train_mlp_kernel},
                         {"evaluate_geglu_kernel", evaluation["mlp_kernel"]}};
        // Which path the bf16 matrix products took ("" = none ran in bf16; model/bf16_matmul.h).
        record["bf16_matmul"] = {{"setting", c.model.bf16_matmul},
                                 {"train", train_bf16_matmul},
                                 {"evaluate", evaluation["bf16_matmul"]}};
        record["evaluation"] = evaluation;
        record["model_flops"] = model_flops_json(energy_report, trained_name(parts), train_flops,
                                                 tr, validation_forward, test_forward);
        json train_json = tr.to_json();
        train_json["peak_rss_mb"] = peak_rss_mb();
        record["train"] = train_json;
        record["metrics"] = metrics;
        record["energy"] = energy_report;

        tracker.write_emissions_csv(fs::join(dir, "emissions.csv"));
        tracker.write_power_csv(fs::join(dir, "power.csv"));
        record["finished_at"] = utc_now_iso8601();
        record["status"] = "complete";
        write_status(dir, record);

        if (opt.print_summary) {
            std::cout << energy::format_summary(energy_report) << "\n";
            std::cout << "test: F1(vulnerable) " << fmt(metrics["f1_vul"].get<double>())
                      << "  precision " << fmt(metrics["precision_vul"].get<double>())
                      << "  recall " << fmt(metrics["recall_vul"].get<double>()) << "  accuracy "
                      << fmt(metrics["accuracy"].get<double>()) << "  MCC "
                      << fmt(metrics["mcc"].get<double>()) << "  weighted F1 "
                      << fmt(metrics["f1_weighted"].get<double>()) << "\n";
            std::cout << "evaluate ran: " << evaluation["engine"].get<std::string>() << ", "
                      << evaluation["precision"].get<std::string>() << ", batch "
                      << evaluation["batch_size"].get<int>()
                      << (evaluation["fallbacks"].empty()
                              ? ""
                              : " (fallbacks: see run.json knobs.details)")
                      << "\n";
            std::cout << "run directory: " << dir << "\n";
        }
        return record;
    } catch (const Interrupted& e) {
        // Every stage was closed while unwinding; what the tracker measured up to the signal is
        // reported like a complete run's, and the run is marked interrupted, never complete.
        record["interrupted"] = {
            {"signal", e.signal()}, {"name", signal_name(e.signal())}, {"stage", e.stage()}};
        if (tracker_owner && tracker_owner->started()) {
            try {
                tracker_owner->stop();
                record["energy"] = tracker_owner->report_json();
                tracker_owner->write_emissions_csv(fs::join(dir, "emissions.csv"));
                tracker_owner->write_power_csv(fs::join(dir, "power.csv"));
            } catch (const std::exception& te) {
                log::warn(std::string("interrupted run: the energy report failed: ") + te.what());
            }
        }
        write_final_status(dir, record, "interrupted", e.what());
        throw;
    } catch (const UnsupportedError& e) {
        write_final_status(dir, record, "skipped", e.what());
        throw;
    } catch (const std::exception& e) {
        write_final_status(dir, record, "failed", e.what());
        throw;
    } catch (...) {
        write_final_status(dir, record, "failed", "unknown exception (not a std::exception)");
        throw;
    }
}

}  // namespace gk::pipeline
