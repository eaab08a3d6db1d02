// Masked-LM pretraining (see pretrain.h). Everything a resume needs is either in the last
// checkpoint (weights, optimizer state, step, history) or a pure function of (config, step): the
// order of rows and their masks are drawn from counter-based streams, so a resumed run sees exactly
// the batches an uninterrupted one would have seen.
#include "greenknobs/pretrain/pretrain.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "greenknobs/config/tracker_options.h"
#include "greenknobs/energy/tracker.h"
#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/masked_lm.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/pretrain/corpus_stage.h"
#include "greenknobs/pretrain/packing.h"
#include "greenknobs/text/tokenizer.h"
#include "greenknobs/train/optim.h"
#include "greenknobs/train/precision.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/progress.h"
#include "greenknobs/util/utc_time.h"

#ifndef GK_GIT_COMMIT
#define GK_GIT_COMMIT "unknown"
#endif

namespace gk::pretrain {

namespace stdfs = std::filesystem;
using nlohmann::json;

std::string checkpoints_dir(const std::string& run_dir) { return fs::join(run_dir, "checkpoints"); }

std::string latest_checkpoint(const std::string& run_dir) {
    const std::string pointer = fs::join(checkpoints_dir(run_dir), "latest");
    if (!fs::exists(pointer)) {
        return "";
    }
    std::string name = fs::read_file(pointer);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) {
        name.pop_back();
    }
    const std::string dir = fs::join(checkpoints_dir(run_dir), name);
    return fs::exists(fs::join(dir, "state.json")) ? dir : "";
}

namespace {

struct Data {
    std::string key;  // identity of the rows: corpus digest, tokenizer, row length, held-out share
    PackedRows train, heldout;
    int64_t dropped_tokens = 0;
    bool cache_hit = false;
};

// The held-out share is chosen by a hash of the document text, so it does not depend on order.
bool is_heldout(const std::string& text, double fraction) {
    const std::string h = sha256_hex(text).substr(0, 15);
    const double u =
        static_cast<double>(std::stoull(h, nullptr, 16)) / static_cast<double>(1ull << 60);
    return u < fraction;
}

Data tokenize_stage(const PretrainConfig& c, const std::vector<std::string>& texts,
                    const std::string& corpus_digest, const text::Tokenizer& tok,
                    const std::string& run_dir, int threads) {
    Data d;
    const std::string key = sha256_hex(corpus_digest + "|" + tok.fingerprint() + "|" +
                                       std::to_string(c.tokenizer.max_length) + "|" +
                                       std::to_string(c.corpus.heldout_fraction));
    const std::string data_dir = fs::join(run_dir, "data");
    const std::string train_path = fs::join(data_dir, "train.rows");
    const std::string heldout_path = fs::join(data_dir, "heldout.rows");
    d.key = key;
    if (read_rows(train_path, key, &d.train) && read_rows(heldout_path, key, &d.heldout)) {
        d.cache_hit = true;
        return d;
    }
    std::vector<text::Encoding> enc =
        tok.encode_batch(texts, /*add_special_tokens=*/true, /*max_length=*/0, threads);
    std::vector<std::vector<int32_t>> train_docs, heldout_docs;
    for (size_t i = 0; i < texts.size(); ++i) {
        (is_heldout(texts[i], c.corpus.heldout_fraction) ? heldout_docs : train_docs)
            .push_back(std::move(enc[i].ids));
    }
    int64_t dropped_train = 0, dropped_heldout = 0;
    d.train = pack(train_docs, c.tokenizer.max_length, &dropped_train);
    d.heldout = pack(heldout_docs, c.tokenizer.max_length, &dropped_heldout);
    d.dropped_tokens = dropped_train + dropped_heldout;
    if (d.train.rows() == 0 || d.heldout.rows() == 0) {
        throw InputError("corpus", "",
                         "too small: " + std::to_string(d.train.rows()) + " training and " +
                             std::to_string(d.heldout.rows()) + " held-out rows of " +
                             std::to_string(c.tokenizer.max_length) + " tokens");
    }
    fs::make_dirs(data_dir);
    write_rows(train_path, d.train, key);
    write_rows(heldout_path, d.heldout, key);
    return d;
}

// Row r of the infinite, epoch-shuffled stream of training rows.
class RowOrder {
  public:
    RowOrder(int64_t rows, uint64_t seed) : rows_(rows), seed_(seed) {}
    int64_t row(int64_t global_index) {
        const int64_t epoch = global_index / rows_;
        if (epoch != epoch_) {
            perm_.resize(static_cast<size_t>(rows_));
            std::iota(perm_.begin(), perm_.end(), 0);
            std::mt19937_64 rng(seed_ * 1000003ull + static_cast<uint64_t>(epoch));
            std::shuffle(perm_.begin(), perm_.end(), rng);
            epoch_ = epoch;
        }
        return perm_[static_cast<size_t>(global_index % rows_)];
    }

  private:
    int64_t rows_;
    uint64_t seed_;
    int64_t epoch_ = -1;
    std::vector<int64_t> perm_;
};

struct Batch {
    torch::Tensor input;   // [B, L] int64, corrupted
    torch::Tensor select;  // [B, L] bool, where the loss applies
    torch::Tensor labels;  // [N] int64, the original ids at `select` (row-major)
};

Batch make_batch(const PackedRows& rows, const std::vector<int64_t>& row_ids,
                 const std::vector<uint64_t>& row_keys, const MaskSpec& spec, uint64_t seed) {
    const int64_t b = static_cast<int64_t>(row_ids.size());
    const int len = rows.max_length;
    std::vector<int32_t> input(static_cast<size_t>(b * len));
    std::vector<uint8_t> sel(static_cast<size_t>(b * len));
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < b; ++i) {
        const int32_t* src = rows.row(row_ids[static_cast<size_t>(i)]);
        mask_row(src, len, spec, seed, row_keys[static_cast<size_t>(i)], input.data() + i * len,
                 sel.data() + i * len);
        for (int k = 0; k < len; ++k) {
            if (sel[static_cast<size_t>(i * len + k)]) {
                labels.push_back(src[k]);
            }
        }
    }
    Batch out;
    out.input = torch::from_blob(input.data(), {b, len}, torch::kInt32).to(torch::kInt64);
    out.select = torch::from_blob(sel.data(), {b, len}, torch::kUInt8).to(torch::kBool);
    out.labels = torch::tensor(labels, torch::kInt64);
    return out;
}

struct EvalResult {
    double loss = 0;
    double accuracy = 0;
    int64_t tokens = 0;
};

EvalResult evaluate_heldout(model::ModernBertForMaskedLM& m, const PackedRows& heldout,
                            const MaskSpec& spec, const PretrainConfig& c, train::Precision prec,
                            const torch::Device& device) {
    m->eval();
    torch::NoGradGuard no_grad;
    const int64_t n = std::min<int64_t>(c.train.eval_rows, heldout.rows());
    const uint64_t seed = c.train.seed ^ 0x5EEDE7A1ull;  // fixed masks: evaluations compare
    double loss_sum = 0;
    int64_t correct = 0, count = 0;
    for (int64_t start = 0; start < n; start += c.train.batch_size) {
        std::vector<int64_t> ids;
        std::vector<uint64_t> keys;
        for (int64_t r = start; r < std::min<int64_t>(n, start + c.train.batch_size); ++r) {
            ids.push_back(r);
            keys.push_back(static_cast<uint64_t>(r));
        }
        Batch bt = make_batch(heldout, ids, keys, spec, seed);
        if (bt.labels.numel() == 0) {
            continue;
        }
        torch::Tensor logits;
        {
            train::AutocastGuard ac(prec, device);
            logits = m->forward_at(bt.input.to(device), torch::ones_like(bt.input).to(device),
                                   bt.select.to(device));
        }
        auto labels = bt.labels.to(device);
        loss_sum += torch::nn::functional::cross_entropy(
                        logits, labels,
                        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                        .item<double>();
        correct += logits.argmax(-1).eq(labels).sum().item<int64_t>();
        count += labels.numel();
    }
    m->train();
    EvalResult r;
    r.tokens = count;
    r.loss = count ? loss_sum / static_cast<double>(count) : 0.0;
    r.accuracy = count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0;
    return r;
}

void remove_all(const std::string& path) {
    std::error_code ec;
    stdfs::remove_all(path, ec);
}

// Writes checkpoint `step` (weights as an HF masked-LM directory, optimizer state, state.json) into
// a temporary directory, renames it into place and only then moves the `latest` pointer: a kill at
// any moment leaves the previous checkpoint intact and pointed to.
void save_checkpoint(const std::string& run_dir, int64_t step, model::ModernBertForMaskedLM& m,
                     const train::Optimizer& opt, const json& state, int keep) {
    const std::string root = checkpoints_dir(run_dir);
    char name[32];
    std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
    const std::string final_dir = fs::join(root, name);
    const std::string tmp = final_dir + ".tmp";
    remove_all(tmp);
    fs::make_dirs(tmp);
    torch::Device device = m->parameters().front().device();
    if (!device.is_cpu()) {
        m->to(torch::kCPU);
    }
    model::save_hf_masked_lm(tmp, m);
    if (!device.is_cpu()) {
        m->to(device);
    }
    opt.save_state(fs::join(tmp, "optimizer.pt"));
    fs::write_file_atomic(fs::join(tmp, "state.json"), state.dump(2) + "\n");
    remove_all(final_dir);
    stdfs::rename(tmp, final_dir);
    fs::write_file_atomic(fs::join(root, "latest"), std::string(name) + "\n");
    // Keep the newest `keep` checkpoints.
    std::vector<std::string> names;
    for (const auto& e : stdfs::directory_iterator(root)) {
        const std::string n = e.path().filename().string();
        if (e.is_directory() && n.rfind("step-", 0) == 0 && n.find(".tmp") == std::string::npos) {
            names.push_back(n);
        }
    }
    std::sort(names.begin(), names.end());
    for (size_t i = 0; i + static_cast<size_t>(keep) < names.size(); ++i) {
        remove_all(fs::join(root, names[i]));
    }
}

void write_record(const std::string& dir, const json& record) {
    fs::write_file_atomic(fs::join(dir, "run.json"), record.dump(2) + "\n");
}

// history.csv: one line per evaluation, rewritten whole from the state (so a resume that repeats
// steps after a kill never leaves duplicate lines).
void write_history_csv(const std::string& dir, const json& history) {
    std::string out = "step,tokens,train_loss,heldout_loss,heldout_accuracy,lr,wall_s\n";
    for (const auto& h : history) {
        char line[256];
        std::snprintf(line, sizeof line, "%lld,%lld,%.6f,%.6f,%.6f,%.8g,%.1f\n",
                      static_cast<long long>(h["step"].get<int64_t>()),
                      static_cast<long long>(h["tokens"].get<int64_t>()),
                      h["train_loss"].get<double>(), h["heldout_loss"].get<double>(),
                      h["heldout_accuracy"].get<double>(), h["lr"].get<double>(),
                      h["wall_s"].get<double>());
        out += line;
    }
    fs::write_file_atomic(fs::join(dir, "history.csv"), out);
}

std::string fmt(double v, int prec) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

}  // namespace

json run_pretrain(const PretrainConfig& c, const PretrainOptions& opt) {
    GK_CHECK(!opt.out_dir.empty(), "run directory");
    const std::string dir = opt.out_dir;
    const std::string hash = config_hash(c);
    const std::string run_json = fs::join(dir, "run.json");
    json prev;
    if (fs::exists(run_json)) {
        prev = json::parse(fs::read_file(run_json), nullptr, /*allow_exceptions=*/false);
        if (opt.overwrite) {
            remove_all(checkpoints_dir(dir));
            remove_all(fs::join(dir, "model"));
            remove_all(fs::join(dir, "invocations"));
            prev = json();
        } else if (prev.is_object() && prev.value("status", "") == "complete") {
            throw InputError(run_json, "status",
                             "this directory holds a complete pretraining run (use --overwrite, "
                             "or raise train.max_steps in a new directory)");
        }
    }
    const std::string ckpt = opt.overwrite ? "" : latest_checkpoint(dir);
    json state;
    if (!ckpt.empty()) {
        const std::string sp = fs::join(ckpt, "state.json");
        state = json::parse(fs::read_file(sp), nullptr, /*allow_exceptions=*/false);
        if (!state.is_object() || !state.contains("step")) {
            throw InputError(sp, "", "unreadable checkpoint state");
        }
        if (state.value("config_hash", "") != hash) {
            throw InputError(dir, "config_hash",
                             "its checkpoints were made with another configuration (hash " +
                                 state.value("config_hash", "?").substr(0, 12) + ", this one " +
                                 hash.substr(0, 12) +
                                 "): run the same config, or use --overwrite to start over");
        }
    }
    fs::make_dirs(dir);
    const int64_t start_step = state.is_object() ? state["step"].get<int64_t>() : 0;
    json invocations =
        state.is_object() && state.contains("invocations") ? state["invocations"] : json::array();
    json history =
        state.is_object() && state.contains("history") ? state["history"] : json::array();
    double wall_before_s = state.is_object() ? state.value("wall_s", 0.0) : 0.0;

    json record = {{"schema", "greenknobs.pretrain/1"},
                   {"status", "running"},
                   {"error", nullptr},
                   {"name", c.name},
                   {"config", to_json(c)},
                   {"config_hash", hash},
                   {"greenknobs_version", "0.1.0"},
                   {"git_commit", GK_GIT_COMMIT},
                   {"started_at", utc_now_iso8601()},
                   {"resumed_from_step", start_step},
                   {"resumed_from", ckpt.empty() ? json(nullptr) : json(ckpt)}};
    json machine = to_json(machine_info());
    write_record(dir, record);
    fs::write_file_atomic(fs::join(dir, "config.toml"), to_toml(c));
    const auto t_start = std::chrono::steady_clock::now();
    auto elapsed_s = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    };

    try {
        model::RuntimeInfo rt =
            model::init_runtime(config::to_string(c.system.device), c.system.threads);
        machine["torch_version"] = rt.torch_version;
        machine["blas"] = rt.blas;
        machine["device"] = rt.device;
        machine["threads"] = rt.threads;
        record["machine"] = machine;
        torch::Device device(rt.device);
        const train::Precision prec = train::parse_precision(c.train.precision);
        train::check_precision_supported(prec, device);

        energy::Tracker tracker(config::tracker_options(c.energy));
#if defined(GK_WITH_CUDA) && TORCH_VERSION_MAJOR >= 2
        if (device.is_cuda()) {
            tracker.set_sync([] { torch::cuda::synchronize(); });
        }
#endif
        tracker.start();
        auto open_stage = [&tracker](const std::string& name) {
            log::info("stage: " + name);
            return tracker.stage(name);
        };

        // 1. load_corpus
        CorpusDocs corpus;
        {
            auto s = open_stage("load_corpus");
            corpus = load_corpus_docs(c.corpus);
            s.add_work("documents", static_cast<double>(corpus.texts.size()));
            s.add_work("bytes", static_cast<double>(corpus.bytes));
        }
        log::info("corpus: " + std::to_string(corpus.texts.size()) + " documents, " +
                  std::to_string(corpus.bytes / 1000000) + " MB");

        // 2. tokenize (cached in DIR/data under a key of corpus, tokenizer and row length)
        Data data;
        std::unique_ptr<text::Tokenizer> tok;
        {
            auto s = open_stage("tokenize");
            tok = std::make_unique<text::Tokenizer>(text::Tokenizer::from_file(c.tokenizer.path));
            if (tok->mask_id() < 0) {
                throw InputError(c.tokenizer.path, "added_tokens", "no [MASK] token");
            }
            data = tokenize_stage(c, corpus.texts, corpus.digest, *tok, dir,
                                  c.tokenizer.threads > 0 ? c.tokenizer.threads : rt.threads);
            s.add_work("tokens",
                       static_cast<double>(data.train.ids.size() + data.heldout.ids.size()));
        }
        if (state.is_object() && state.value("data_key", data.key) != data.key) {
            throw InputError(c.corpus.jsonl.empty() ? "corpus.sources" : c.corpus.jsonl, "",
                             "differs from the corpus the checkpoints in " + dir +
                                 " were trained on (data key " +
                                 state.value("data_key", "?").substr(0, 12) + ", now " +
                                 data.key.substr(0, 12) + "): use the same corpus or --overwrite");
        }
        const int64_t corpus_docs = static_cast<int64_t>(corpus.texts.size());
        json corpus_json = corpus.stats;
        corpus = CorpusDocs{};  // the rows are all training needs
        log::info("rows: " + std::to_string(data.train.rows()) + " training, " +
                  std::to_string(data.heldout.rows()) + " held out, " +
                  std::to_string(c.tokenizer.max_length) + " tokens each" +
                  (data.cache_hit ? " (cached)" : ""));

        // 3. load_model: the checkpoint when resuming, else init_from or the preset.
        model::ModernBertForMaskedLM m{nullptr};
        std::unique_ptr<train::Optimizer> optimizer;
        {
            auto s = open_stage("load_model");
            if (!ckpt.empty()) {
                m = model::load_hf_masked_lm(ckpt);
            } else if (!c.model.init_from.empty()) {
                m = model::load_hf_masked_lm(c.model.init_from);
            } else {
                model::ModernBertConfig mc = model::preset(c.model.preset);
                if (mc.vocab_size < tok->vocab_size()) {
                    throw InputError(c.tokenizer.path, "",
                                     "has " + std::to_string(tok->vocab_size()) +
                                         " ids but the model's vocabulary is " +
                                         std::to_string(mc.vocab_size));
                }
                torch::manual_seed(c.train.seed);
                m = model::ModernBertForMaskedLM(mc);
            }
            m->to(device);
            m->train();
            train::AdamWHyper hyper;
            hyper.lr = c.train.lr;
            hyper.weight_decay = c.train.weight_decay;
            optimizer =
                train::make_optimizer(c.train.optimizer, train::group_parameters(*m), hyper);
            if (!ckpt.empty()) {
                optimizer->load_state(fs::join(ckpt, "optimizer.pt"));
            }
            s.add_work("params", static_cast<double>(model::count_params(*m).total));
        }

        MaskSpec spec;
        spec.mask_prob = c.train.mask_prob;
        spec.mask_id = tok->mask_id();
        spec.vocab_size = static_cast<int32_t>(tok->vocab_size());
        spec.never_mask = {tok->cls_id(), tok->sep_id(), tok->pad_id(), tok->mask_id()};

        // 4. train
        const int64_t end_step =
            opt.stop_after_steps > 0
                ? std::min(c.train.max_steps, start_step + opt.stop_after_steps)
                : c.train.max_steps;
        int64_t step = start_step;
        int64_t tokens_this = 0;
        double train_time_s = 0;
        train::LinearSchedule schedule(c.train.lr, c.train.warmup_steps, c.train.max_steps);
        RowOrder order(data.train.rows(), c.train.seed);
        const std::vector<torch::Tensor> params = optimizer->params();
        double loss_acc = 0;
        int64_t loss_n = 0;
        EvalResult last_eval;
        bool stopped_early = false;  // by the time limit or a signal: checkpoint where we are
        std::string stopped_by = "max_steps";
        auto state_json = [&]() {
            return json{{"step", step},
                        {"config_hash", hash},
                        {"data_key", data.key},
                        {"tokens_seen", step * c.tokens_per_step()},
                        {"history", history},
                        {"invocations", invocations},
                        {"wall_s", wall_before_s + elapsed_s()}};
        };
        {
            auto s = open_stage("train");
            std::unique_ptr<Progress> progress;
            if (opt.progress) {
                progress = std::make_unique<Progress>("pretrain", end_step - start_step);
            }
            const auto t_train = std::chrono::steady_clock::now();
            while (step < end_step) {
                if (opt.time_limit_s > 0 && elapsed_s() >= opt.time_limit_s) {
                    stopped_early = true;
                    stopped_by = "time_limit";
                    break;
                }
                if (opt.stop_signal != nullptr && *opt.stop_signal != 0) {
                    stopped_early = true;
                    stopped_by = *opt.stop_signal == SIGTERM ? "SIGTERM" : "SIGINT";
                    break;
                }
                torch::manual_seed(c.train.seed + static_cast<uint64_t>(step));  // dropout, if any
                optimizer->zero_grad();
                double step_loss = 0;
                for (int a = 0; a < c.train.grad_accum; ++a) {
                    const int64_t micro = step * c.train.grad_accum + a;
                    std::vector<int64_t> ids;
                    std::vector<uint64_t> keys;
                    for (int j = 0; j < c.train.batch_size; ++j) {
                        const int64_t g = micro * c.train.batch_size + j;
                        ids.push_back(order.row(g));
                        keys.push_back(static_cast<uint64_t>(g));
                    }
                    Batch bt = make_batch(data.train, ids, keys, spec, c.train.seed);
                    if (bt.labels.numel() == 0) {
                        continue;
                    }
                    torch::Tensor logits;
                    {
                        train::AutocastGuard ac(prec, device);
                        logits = m->forward_at(bt.input.to(device),
                                               torch::ones_like(bt.input).to(device),
                                               bt.select.to(device));  // [N, vocab] float
                    }
                    torch::Tensor loss =
                        torch::nn::functional::cross_entropy(logits, bt.labels.to(device)) /
                        static_cast<double>(c.train.grad_accum);
                    loss.backward();
                    step_loss += loss.item<double>();
                }
                if (c.train.max_grad_norm > 0) {
                    train::clip_grad_norm(params, c.train.max_grad_norm);
                }
                const double lr = schedule.lr_at(step);
                optimizer->set_lr(lr);
                optimizer->step();
                ++step;
                tokens_this += c.tokens_per_step();
                loss_acc += step_loss;
                ++loss_n;
                if (!std::isfinite(step_loss)) {
                    throw std::runtime_error("pretraining diverged: loss " +
                                             std::to_string(step_loss) + " at step " +
                                             std::to_string(step));
                }
                const bool last = step == end_step;
                if (step % c.train.eval_every == 0 || (last && step == c.train.max_steps)) {
                    auto v = open_stage("validate");
                    last_eval = evaluate_heldout(m, data.heldout, spec, c, prec, device);
                    v.add_work("tokens", static_cast<double>(last_eval.tokens));
                    v.end();
                    history.push_back({{"step", step},
                                       {"tokens", step * c.tokens_per_step()},
                                       {"train_loss", loss_n ? loss_acc / loss_n : 0.0},
                                       {"heldout_loss", last_eval.loss},
                                       {"heldout_accuracy", last_eval.accuracy},
                                       {"lr", lr},
                                       {"wall_s", wall_before_s + elapsed_s()}});
                    loss_acc = 0;
                    loss_n = 0;
                    write_history_csv(dir, history);
                }
                if (step % c.train.checkpoint_every == 0 || last) {
                    auto k = open_stage("checkpoint");
                    save_checkpoint(dir, step, m, *optimizer, state_json(),
                                    c.train.keep_checkpoints);
                }
                if (progress) {
                    std::string status =
                        "loss " + fmt(step_loss, 3) + "  lr " + fmt(lr * 1e3, 3) + "e-3";
                    if (last_eval.tokens > 0) {
                        status += "  held-out acc " + fmt(last_eval.accuracy, 3);
                    }
                    progress->update(step - start_step, status);
                }
            }
            if (!stopped_early && step < c.train.max_steps) {
                stopped_by = "stop_after_steps";
            }
            if (stopped_early && step > start_step && step % c.train.checkpoint_every != 0) {
                auto k = open_stage("checkpoint");
                save_checkpoint(dir, step, m, *optimizer, state_json(), c.train.keep_checkpoints);
            }
            if (progress) {
                progress->finish();
            }
            train_time_s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
            s.add_work("tokens", static_cast<double>(tokens_this));
            s.add_work("steps", static_cast<double>(step - start_step));
        }
        const bool complete = step >= c.train.max_steps;

        // 5. save: the final model as an HF masked-LM directory (only when the schedule is done).
        const std::string model_dir = fs::join(dir, "model");
        if (complete) {
            auto s = open_stage("save");
            m->to(torch::kCPU);
            model::save_hf_masked_lm(model_dir, m);
            fs::write_file_atomic(fs::join(model_dir, "tokenizer.json"),
                                  fs::read_file(c.tokenizer.path));
            json meta = {{"max_length", c.tokenizer.max_length},
                         {"mask_token_id", tok->mask_id()},
                         {"config_hash", hash},
                         {"name", c.name},
                         {"pretrain_steps", step},
                         {"pretrain_tokens", step * c.tokens_per_step()}};
            fs::write_file_atomic(fs::join(model_dir, "greenknobs.json"), meta.dump(2) + "\n");
            s.add_work("bytes", static_cast<double>(
                                    stdfs::file_size(fs::join(model_dir, "model.safetensors"))));
        }
        tracker.stop();

        json energy_report = tracker.report_json();
        const double energy_j = energy_report["total"]["energy_j"]["total"].is_number()
                                    ? energy_report["total"]["energy_j"]["total"].get<double>()
                                    : 0.0;
        invocations.push_back({{"started_at", record["started_at"]},
                               {"finished_at", utc_now_iso8601()},
                               {"steps", {start_step, step}},
                               {"duration_s", elapsed_s()},
                               {"energy_j", energy_j},
                               {"machine", machine.value("cpu_model", "")},
                               {"device", rt.device},
                               {"threads", rt.threads}});
        // The invocation list lives in the checkpoint too, so the next resume carries it on.
        if (step > start_step || complete) {
            auto latest = latest_checkpoint(dir);
            if (!latest.empty()) {
                json st = json::parse(fs::read_file(fs::join(latest, "state.json")));
                st["invocations"] = invocations;
                fs::write_file_atomic(fs::join(latest, "state.json"), st.dump(2) + "\n");
            }
        }
        const std::string inv_dir =
            fs::join(fs::join(dir, "invocations"), std::to_string(invocations.size()));
        fs::make_dirs(inv_dir);
        tracker.write_emissions_csv(fs::join(inv_dir, "emissions.csv"));
        tracker.write_power_csv(fs::join(inv_dir, "power.csv"));
        tracker.write_emissions_csv(fs::join(dir, "emissions.csv"));
        tracker.write_power_csv(fs::join(dir, "power.csv"));

        double all_j = 0, all_s = 0;
        for (const auto& inv : invocations) {
            all_j += inv.value("energy_j", 0.0);
            all_s += inv.value("duration_s", 0.0);
        }
        auto counts = model::count_params(*m);
        record["corpus"] = corpus_json;
        record["corpus"]["documents"] = corpus_docs;
        record["data"] = {{"train_rows", data.train.rows()},
                          {"heldout_rows", data.heldout.rows()},
                          {"row_tokens", c.tokenizer.max_length},
                          {"train_tokens", static_cast<int64_t>(data.train.ids.size())},
                          {"heldout_tokens", static_cast<int64_t>(data.heldout.ids.size())},
                          {"dropped_tokens", data.dropped_tokens},
                          {"token_cache_hit", data.cache_hit}};
        record["model"] = {{"layers", m->num_layers()},
                           {"total_params", counts.total},
                           {"trainable_params", counts.trainable},
                           {"weights_bytes", counts.weights_bytes}};
        // The kernel the last training step ran (fused-cpu on the CPU: packed rows have no pads).
        record["attention"] = {{"kernel", m->encoder()->train_attention_kernel()}};
        // The path this invocation's bf16 products took ("" = none in bf16; model/bf16_matmul.h).
        record["bf16_matmul"] = {{"setting", "auto"}, {"train", model::bf16_matmul_ran()}};
        record["train"] = {
            {"steps", step},
            {"max_steps", c.train.max_steps},
            {"steps_this_invocation", step - start_step},
            {"tokens_seen", step * c.tokens_per_step()},
            {"epochs_seen", static_cast<double>(step) * c.train.batch_size * c.train.grad_accum /
                                static_cast<double>(data.train.rows())},
            {"tokens_per_s", train_time_s > 0 ? tokens_this / train_time_s : 0.0},
            {"peak_rss_mb", peak_rss_mb()},
            {"history", history}};
        record["energy"] = energy_report;
        record["invocations"] = invocations;
        record["totals"] = {{"energy_j", all_j},
                            {"duration_s", all_s},
                            {"note", "sum over this run's finished invocations"}};
        record["finished_at"] = utc_now_iso8601();
        record["status"] = complete ? "complete" : "paused";
        record["stopped_by"] = stopped_by;
        write_record(dir, record);

        if (opt.print_summary) {
            std::cout << energy::format_summary(energy_report) << "\n";
            std::cout << "pretrain: step " << step << " / " << c.train.max_steps << ", "
                      << step * c.tokens_per_step() / 1000000.0 << " M tokens seen";
            if (last_eval.tokens > 0) {
                std::cout << ", held-out masked-token loss " << fmt(last_eval.loss, 3)
                          << " accuracy " << fmt(last_eval.accuracy, 3);
            }
            std::cout << "\n"
                      << (complete
                              ? "complete: " + model_dir
                              : "paused (" + stopped_by + "): run the same command to continue")
                      << "\n";
        }
        return record;
    } catch (const UnsupportedError& e) {
        record["status"] = "skipped";
        record["error"] = e.what();
        record["finished_at"] = utc_now_iso8601();
        write_record(dir, record);
        throw;
    } catch (const std::exception& e) {
        record["status"] = "failed";
        record["error"] = e.what();
        record["finished_at"] = utc_now_iso8601();
        write_record(dir, record);
        throw;
    }
}

}  // namespace gk::pretrain
