// See trainer.h. One optimizer step = `grad_accum` micro-batches of `batch_size` (the last group of
// an epoch may be shorter and still steps); each micro-batch's mean loss is divided by its group's
// size, so a group computes the gradient of the mean loss over the group — the same as one big
// batch of the same samples.
#include "greenknobs/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>

#include "greenknobs/model/autocast.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/order.h"
#include "greenknobs/util/progress.h"

namespace gk::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string human_rate(double per_s) {
    char buf[32];
    if (per_s >= 1e6) {
        std::snprintf(buf, sizeof buf, "%.1fM", per_s / 1e6);
    } else if (per_s >= 1e3) {
        std::snprintf(buf, sizeof buf, "%.1fk", per_s / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%.0f", per_s);
    }
    return buf;
}

// A copy of every trainable parameter and every buffer, to keep the best epoch's weights in memory.
struct Snapshot {
    std::vector<torch::Tensor> targets;
    std::vector<torch::Tensor> copies;

    void take(torch::nn::Module& m) {
        torch::NoGradGuard no_grad;
        if (targets.empty()) {
            // Frozen parameters (LoRA's base, quantized stores) cannot change during training: not
            // copied.
            for (auto& p : m.parameters(/*recurse=*/true)) {
                if (p.requires_grad()) {
                    targets.push_back(p);
                }
            }
            for (auto& b : m.buffers(/*recurse=*/true)) {
                targets.push_back(b);
            }
            for (auto& t : targets) {
                copies.push_back(t.detach().clone());
            }
            return;
        }
        for (size_t i = 0; i < targets.size(); ++i) {
            copies[i].copy_(targets[i]);
        }
    }
    void restore() {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < targets.size(); ++i) {
            targets[i].copy_(copies[i]);
        }
    }
};

// The autocast dtype in force now, as a precision name (the guard's effect, read back from
// LibTorch).
std::string autocast_now(const torch::Device& device) {
    const bool cuda = device.is_cuda();
    if (!model::autocast_enabled(cuda)) {
        return "fp32";
    }
    const at::ScalarType t = model::autocast_dtype(cuda);
    return t == at::kBFloat16 ? "bf16" : t == at::kHalf ? "fp16" : c10::toString(t);
}

// Walks the autograd graph behind `root`: every node once; counts the nodes and the checkpointed
// layers (the model's LayerCheckpoint function, whose backward recomputes the layer).
void count_graph(const torch::Tensor& root, int64_t* nodes, int64_t* checkpoints) {
    std::vector<torch::autograd::Node*> stack;
    std::set<torch::autograd::Node*> seen;
    if (root.grad_fn()) {
        stack.push_back(root.grad_fn().get());
    }
    while (!stack.empty()) {
        torch::autograd::Node* n = stack.back();
        stack.pop_back();
        if (!seen.insert(n).second) {
            continue;
        }
        ++*nodes;
        if (n->name().find("LayerCheckpoint") != std::string::npos) {
            ++*checkpoints;
        }
        for (const auto& e : n->next_edges()) {
            if (e.function) {
                stack.push_back(e.function.get());
            }
        }
    }
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device, bool non_blocking) {
    return t.device() == device ? t : t.to(device, non_blocking);
}

}  // namespace

double peak_rss_mb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) {
            std::istringstream in(line.substr(6));
            double kb = 0;
            in >> kb;
            return kb / 1024.0;
        }
    }
    return 0.0;
}

nlohmann::json TrainReport::to_json() const {
    nlohmann::json val = nlohmann::json::array();
    for (const auto& v : validation) {
        val.push_back({{"epoch", v.epoch},
                       {"loss", v.loss},
                       {"f1_vul", v.metrics.f1_vul},
                       {"precision_vul", v.metrics.precision_vul},
                       {"recall_vul", v.metrics.recall_vul},
                       {"accuracy", v.metrics.accuracy},
                       {"f1_weighted", v.metrics.f1_weighted},
                       {"mcc", v.metrics.mcc},
                       {"samples", v.metrics.samples},
                       {"confusion",
                        {{"tn", v.metrics.confusion.tn},
                         {"fp", v.metrics.confusion.fp},
                         {"fn", v.metrics.confusion.fn},
                         {"tp", v.metrics.confusion.tp}}},
                       {"train_loss", v.train_loss},
                       {"duration_s", v.duration_s}});
    }
    return nlohmann::json{
        {"steps", steps},
        {"epochs_run", epochs_run},
        {"final_loss", final_loss},
        {"tokens_per_s", tokens_per_s},
        {"peak_rss_mb", peak_rss_mb},
        {"best_epoch", best_epoch},
        {"validation", val},
        {"early_stopped", early_stopped},
        {"tokens", tokens},
        {"padded_tokens", padded_tokens},
        {"padded_tokens_without_grouping", padded_tokens_without_grouping},
        {"effective_batch_size", effective_batch_size},
        {"skipped_steps", skipped_steps},
        {"validation_batch_size", validation_batch_size},
        {"validation_bucket_by_length", validation_bucket_by_length},
        {"epoch_validation", epoch_validation},
        {"precision", precision},
        {"micro_batches", micro_batches},
        {"micro_batch_size", max_micro_batch},
        {"autograd", {{"nodes", autograd_nodes}, {"checkpointed_layers", checkpointed_layers}}},
        {"optimizer",
         {{"name", optimizer_name},
          {"implementation", optimizer_impl},
          {"state_bytes", optimizer_state_bytes}}},
        {"loader",
         {{"workers_started", loader.workers_started},
          {"workers_used", loader.workers_used},
          {"batches_from_workers", loader.batches_from_workers},
          {"batches_inline", loader.batches_inline},
          {"pinned", pin_memory_effective}}}};
}

EvalResult evaluate(torch::nn::Module& module, const ForwardFn& forward,
                    const TokenizedSplit& split, int batch_size, const torch::Device& device,
                    Precision precision, int32_t pad_id, bool bucket_by_length) {
    GK_CHECK(batch_size > 0, "evaluate: batch_size must be positive");
    check_precision_supported(precision, device);
    EvalResult r;
    const int64_t n = static_cast<int64_t>(split.ids.size());
    const bool has_labels = !split.labels.empty();
    const bool was_training = module.is_training();
    module.eval();
    std::vector<torch::Tensor> logits_parts;
    double loss_sum = 0;
    int64_t batches = 0;
    auto t0 = Clock::now();
    std::vector<int64_t> order;
    if (bucket_by_length) {
        order = util::longest_first(split.ids);
    } else {
        order.resize(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), int64_t{0});
    }
    {
        c10::InferenceMode inference;
        // One autocast scope around the whole pass, not one per batch: autocast keeps its
        // low-precision copies of the weights until its outermost scope ends, so each weight is
        // cast once per evaluation instead of once per batch (the weights do not change during
        // it). The loss below sees fp32 logits, which autocast leaves in fp32.
        AutocastGuard autocast(precision, device);
        for (int64_t start = 0; start < n; start += batch_size) {
            const auto first = order.begin() + start;
            std::vector<int64_t> idx(first, first + std::min<int64_t>(batch_size, n - start));
            Batch b = collate(split, idx, pad_id);
            torch::Tensor logits = forward(to_device(b.input_ids, device, false),
                                           to_device(b.attention_mask, device, false));
            logits = logits.to(torch::kCPU, torch::kFloat);  // [B, 2]
            if (has_labels) {
                loss_sum +=
                    torch::nn::functional::cross_entropy(
                        logits, b.labels,
                        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                        .item<double>();
            }
            logits_parts.push_back(logits);
            r.tokens += b.real_tokens;
            r.padded_tokens += b.padded_tokens;
            ++batches;
        }
    }
    r.duration_s = seconds_since(t0);
    module.train(was_training);
    r.bucket_by_length = bucket_by_length;
    if (logits_parts.empty()) {
        r.logits = torch::zeros({0, 2});
    } else {
        // Back to split order: row k of the batches' logits belongs to sample order[k].
        torch::Tensor batched = torch::cat(logits_parts, 0);  // [N, 2], in `order`
        r.logits = torch::empty_like(batched);
        r.logits.index_copy_(0, torch::tensor(order, torch::kLong), batched);
    }
    torch::Tensor pred = r.logits.argmax(1);
    torch::Tensor p1 =
        n > 0 ? torch::softmax(r.logits, 1).select(1, 1).contiguous() : torch::zeros({0});
    r.predictions.resize(static_cast<size_t>(n));
    r.p_vul.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        r.predictions[static_cast<size_t>(i)] = static_cast<int>(pred[i].item<int64_t>());
        r.p_vul[static_cast<size_t>(i)] = p1.data_ptr<float>()[i];
    }
    if (has_labels) {
        r.metrics = compute_metrics(split.labels, r.predictions);
        r.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0.0;
    } else {
        r.metrics.samples = n;
    }
    if (r.duration_s > 0 && n > 0) {
        r.metrics.samples_per_s = static_cast<double>(n) / r.duration_s;
        r.metrics.latency_ms_per_batch = 1000.0 * r.duration_s / static_cast<double>(batches);
    }
    return r;
}

Trainer::Trainer(torch::nn::Module& module, ForwardFn forward, config::TrainConfig config,
                 torch::Device device, TrainerOptions options)
    : module_(module),
      forward_(std::move(forward)),
      config_(std::move(config)),
      device_(device),
      options_(options) {
    GK_CHECK(config_.epochs > 0, "train.epochs must be positive");
    GK_CHECK(config_.batch_size > 0, "train.batch_size must be positive");
    GK_CHECK(config_.grad_accum > 0, "train.grad_accum must be positive");
}

TrainReport Trainer::fit(const TokenizedSplit& train, const TokenizedSplit& validation,
                         const TrainHooks& hooks) {
    GK_CHECK(!train.ids.empty(), "fit: the training split is empty");
    GK_CHECK(train.labels.size() == train.ids.size(),
             "fit: training ids and labels differ in length");
    const Precision precision = parse_precision(config::to_string(config_.precision));
    check_precision_supported(precision, device_);
    torch::manual_seed(config_.seed);

    LoaderOptions lo;
    lo.batch_size = config_.batch_size;
    lo.shuffle = true;
    lo.group_by_length = config_.group_by_length;
    lo.workers = config_.loader_workers;
    lo.pin_memory = config_.pin_memory;
    lo.seed = config_.seed;
    lo.pad_id = options_.pad_id;
    BatchLoader loader(train, lo, device_);
    TrainReport report;
    if (!config_.validate_epochs) {
        report.epoch_validation = "off: train.validate_epochs = false";
        log::info("epoch validation off (train.validate_epochs = false): the last epoch is kept");
    } else if (validation.ids.empty()) {
        report.epoch_validation = "off: no validation split";
    }
    report.pin_memory_note = loader.pin_memory_note();
    if (!report.pin_memory_note.empty()) {
        log::info(report.pin_memory_note);
    }

    const int64_t batches = loader.batches_per_epoch();
    const int64_t accum = config_.grad_accum;
    const int64_t steps_per_epoch = (batches + accum - 1) / accum;
    const int64_t total_steps = steps_per_epoch * config_.epochs;
    LinearSchedule schedule(config_.lr, warmup_steps_for(config_.warmup_ratio, total_steps),
                            total_steps);

    AdamWHyper hyper;
    hyper.lr = config_.lr;
    hyper.weight_decay = config_.weight_decay;
    hyper.fused = options_.fused_adamw;
    auto optimizer = make_optimizer(config::to_string(config_.optimizer), group_parameters(module_),
                                    hyper, options_.optimizer_block_size);
    GradScaler scaler(precision == Precision::kFp16);
    const bool non_blocking = loader.pin_memory_effective();

    std::unique_ptr<Progress> progress;
    if (options_.progress) {
        progress = std::make_unique<Progress>("train", total_steps);
    }
    Snapshot best;
    double best_f1 = -1;
    int epochs_without_gain = 0;
    double train_s = 0;
    optimizer->zero_grad();

    for (int epoch = 0; epoch < config_.epochs; ++epoch) {
        module_.train();
        loader.start_epoch(epoch);
        if (config_.group_by_length) {
            LoaderOptions ungrouped = lo;
            ungrouped.group_by_length = false;
            ungrouped.workers = 0;
            report.padded_tokens_without_grouping +=
                plan_padding(train, BatchLoader(train, ungrouped).plan(epoch)).padded_tokens;
        }
        auto t_epoch = Clock::now();
        double epoch_loss_sum = 0;
        int64_t epoch_samples = 0;
        int64_t micro = 0;  // micro-batch index within the epoch
        Batch batch;
        while (loader.next(batch)) {
            const int64_t group_start = (micro / accum) * accum;
            const int64_t group_size = std::min(accum, batches - group_start);
            torch::Tensor labels = to_device(batch.labels, device_, non_blocking);
            torch::Tensor logits;
            {
                AutocastGuard autocast(precision, device_);
                if (report.micro_batches == 0) {
                    report.precision = autocast_now(device_);
                }
                logits =
                    forward_(to_device(batch.input_ids, device_, non_blocking),
                             to_device(batch.attention_mask, device_, non_blocking));  // [B, 2]
            }
            // The loss in fp32 whatever the autocast dtype of the logits.
            torch::Tensor loss =
                torch::nn::functional::cross_entropy(logits.to(torch::kFloat), labels);
            if (report.micro_batches == 0) {
                count_graph(loss, &report.autograd_nodes, &report.checkpointed_layers);
            }
            ++report.micro_batches;
            report.max_micro_batch = std::max(report.max_micro_batch, batch.size());
            scaler.scale_loss(loss / static_cast<double>(group_size)).backward();
            epoch_loss_sum += loss.item<double>() * static_cast<double>(batch.size());
            epoch_samples += batch.size();
            report.tokens += batch.real_tokens;
            report.padded_tokens += batch.padded_tokens;
            ++micro;
            if (micro - group_start == group_size) {
                scaler.unscale(optimizer->params());
                clip_grad_norm(optimizer->params(), config_.max_grad_norm);
                if (!scaler.found_inf()) {
                    optimizer->set_lr(schedule.lr_at(report.steps));
                    optimizer->step();
                }
                scaler.update();
                optimizer->zero_grad();
                ++report.steps;
                if (progress) {
                    double elapsed = train_s + seconds_since(t_epoch);
                    char status[128];
                    std::snprintf(
                        status, sizeof status, "epoch %d · loss %.4f · %s tok/s · lr %.2e",
                        epoch + 1,
                        epoch_loss_sum / static_cast<double>(std::max<int64_t>(1, epoch_samples)),
                        human_rate(static_cast<double>(report.tokens) / std::max(elapsed, 1e-9))
                            .c_str(),
                        schedule.lr_at(report.steps - 1));
                    progress->update(report.steps, status);
                }
            }
            if (hooks.after_batch) {
                hooks.after_batch();
            }
        }
        train_s += seconds_since(t_epoch);
        report.epochs_run = epoch + 1;
        report.final_loss =
            epoch_loss_sum / static_cast<double>(std::max<int64_t>(1, epoch_samples));

        if (validation.ids.empty() || !config_.validate_epochs) {
            report.best_epoch = epoch + 1;  // nothing to choose by: keep the last
            continue;
        }
        if (hooks.stage_begin) {
            hooks.stage_begin("validate");
        }
        EvalResult r = evaluate(module_, forward_, validation, options_.eval_batch_size, device_,
                                precision, options_.pad_id, options_.eval_bucket_by_length);
        if (hooks.stage_end) {
            hooks.stage_end("validate", r.metrics.samples, r.tokens);
        }
        EpochValidation ev;
        ev.epoch = epoch + 1;
        ev.train_loss = report.final_loss;
        ev.loss = r.loss;
        ev.metrics = r.metrics;
        ev.duration_s = r.duration_s;
        report.validation.push_back(ev);
        log::info("epoch " + std::to_string(epoch + 1) + ": train loss " +
                  std::to_string(report.final_loss) + ", validation loss " +
                  std::to_string(r.loss) + ", f1_vul " + std::to_string(r.metrics.f1_vul));
        if (r.metrics.f1_vul > best_f1) {
            best_f1 = r.metrics.f1_vul;
            report.best_epoch = epoch + 1;
            best.take(module_);
            epochs_without_gain = 0;
        } else {
            ++epochs_without_gain;
            if (config_.early_stopping_patience > 0 &&
                epochs_without_gain >= config_.early_stopping_patience) {
                report.early_stopped = true;
                break;
            }
        }
    }
    if (progress) {
        progress->finish();
    }
    if (!best.targets.empty() && report.best_epoch != report.epochs_run) {
        best.restore();
    }
    if (!config_.group_by_length) {
        report.padded_tokens_without_grouping = report.padded_tokens;
    } else if (report.padded_tokens_without_grouping > 0) {
        log::info("group_by_length: " + std::to_string(report.padded_tokens) +
                  " padded tokens instead of " +
                  std::to_string(report.padded_tokens_without_grouping));
    }
    report.effective_batch_size = static_cast<int64_t>(config_.batch_size) * config_.grad_accum;
    report.train_duration_s = train_s;
    report.tokens_per_s = train_s > 0 ? static_cast<double>(report.tokens) / train_s : 0.0;
    report.skipped_steps = scaler.skipped_steps();
    report.optimizer_state_bytes = optimizer->state_bytes();
    report.optimizer_name = optimizer->name();
    report.optimizer_impl = optimizer->implementation();
    report.validation_batch_size = options_.eval_batch_size;
    report.validation_bucket_by_length = options_.eval_bucket_by_length;
    report.loader = loader.stats();
    report.pin_memory_effective = loader.pin_memory_effective();
    report.peak_rss_mb = peak_rss_mb();
    return report;
}

}  // namespace gk::train
