// The knob registry and apply_knob. Each knob's apply function touches only the config::RunConfig
// fields its parameters name (tests diff the JSON to prove it); the mechanisms themselves live in
// data/, text/, model/ and train/, which read those fields. The paper's confounds are documented
// per knob in docs/knobs.md.
#include "greenknobs/knobs/knob.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "greenknobs/util/error.h"

namespace gk::knobs {

namespace {

using nlohmann::json;

ParamSpec p_int(std::string name, int64_t def, double min, double max, std::string key,
                std::string help, std::vector<std::string> choices = {}) {
    return ParamSpec{std::move(name), "int",          def, min, max, std::move(choices),
                     std::move(key),  std::move(help)};
}
ParamSpec p_float(std::string name, double def, double min, double max, std::string key,
                  std::string help) {
    return ParamSpec{std::move(name), "float", def, min, max, {}, std::move(key), std::move(help)};
}
ParamSpec p_bool(std::string name, bool def, std::string key, std::string help) {
    return ParamSpec{std::move(name), "bool", def, 0, 0, {}, std::move(key), std::move(help)};
}
ParamSpec p_str(std::string name, std::string def, std::vector<std::string> choices,
                std::string key, std::string help) {
    return ParamSpec{std::move(name),    "string",       std::move(def), 0, 0,
                     std::move(choices), std::move(key), std::move(help)};
}
ParamSpec p_list(std::string name, std::vector<std::string> def, std::vector<std::string> choices,
                 std::string key, std::string help) {
    return ParamSpec{std::move(name), "list",         def, 0, 0, std::move(choices),
                     std::move(key),  std::move(help)};
}

Support ok() { return Support{}; }
Support no(std::string why) { return Support{false, std::move(why)}; }

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (const auto& x : v) {
        s += (s.empty() ? "" : sep) + x;
    }
    return s;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

std::string format_number(double v) {
    std::ostringstream ss;
    ss << v;
    return ss.str();
}

std::vector<Knob> build_registry() {
    std::vector<Knob> r;

    // ---- data ----
    {
        Knob k;
        k.name = "dedup";
        k.phase = Phase::kData;
        k.targets = "compute";
        k.summary =
            "remove exact (whitespace-normalised) or near (MinHash Jaccard) duplicate functions "
            "before the split";
        k.params = {
            p_str("mode", "near", config::spellings<config::Dedup>(), "data.dedup",
                  "which duplicates to remove"),
            p_float("threshold", 0.9, 0.5, 1.0, "data.near_dup_threshold",
                    "Jaccard similarity above which two functions are near-duplicates (mode = "
                    "near only)")};
        k.notes =
            "Not a numbered paper variant (Figure 1's data phase); the paper's pipeline never "
            "deduplicated. Fewer training samples means less training compute, and removes "
            "leakage between splits.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            c.data.dedup = config::parse_or_throw<config::Dedup>(p["mode"].get<std::string>(),
                                                                 origin, "dedup.mode");
            if (c.data.dedup == config::Dedup::kNear) {
                c.data.near_dup_threshold = p["threshold"].get<double>();
            }
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "tokenizer_cache";
        k.phase = Phase::kData;
        k.targets = "compute";
        k.summary =
            "content-addressed on-disk cache of the encoded splits (keyed by data, tokenizer and "
            "settings hashes)";
        k.params = {p_bool("enabled", true, "tokenizer.cache", "read/write the token cache")};
        k.notes =
            "The paper's V4 (use_fast=True) was a no-op: ModernBERT ships only tokenizer.json, so "
            "both settings loaded the same fast tokenizer. The first run of a configuration fills "
            "the cache; later runs hit it.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.tokenizer.cache = p["enabled"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "tokenizer_threads";
        k.phase = Phase::kData;
        k.targets = "idle power";
        k.summary = "encode the splits in parallel";
        k.params = {p_int("threads", 0, 0, 256, "tokenizer.threads",
                          "encoding threads (0 = all hardware threads)")};
        k.notes =
            "The same encoding work on more cores: the saving is the static (idle) energy of a "
            "shorter stage.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.tokenizer.threads = p["threads"].get<int>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "max_length";
        k.phase = Phase::kData;
        k.targets = "compute";
        k.summary = "truncate every sample to at most this many tokens (incl. [CLS]/[SEP])";
        k.params = {
            p_int("tokens", 512, 8, 8192, "tokenizer.max_length", "maximum tokens per sample")};
        k.notes =
            "Paper V8: 2048 -> 512. Attention cost is quadratic and the rest linear in length; "
            "the run reports the share of truncated samples.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.tokenizer.max_length = p["tokens"].get<int>();
        };
        r.push_back(std::move(k));
    }

    // ---- model ----
    {
        Knob k;
        k.name = "attention";
        k.phase = Phase::kModel;
        k.targets = "memory traffic";
        k.summary =
            "fused scaled-dot-product attention kernel instead of eager matmul-softmax-matmul; "
            "optional unpadding";
        k.params = {p_str("impl", "sdpa", config::spellings<config::Attention>(), "model.attention",
                          "attention implementation"),
                    p_bool("unpad", false, "model.unpad",
                           "drop pad tokens before the encoder (ModernBERT's unpadding)")};
        k.conflicts = {"compile.mode=torchscript"};
        k.notes =
            "Paper V12: attn_implementation sdpa. Unpadding is ours (ModernBERT does it with "
            "flash-attention): no compute is spent on pad tokens.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            c.model.attention = config::parse_or_throw<config::Attention>(
                p["impl"].get<std::string>(), origin, "attention.impl");
            c.model.unpad = p["unpad"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "init";
        k.phase = Phase::kModel;
        k.targets = "control";
        k.summary =
            "where the encoder's weights start: the shipped pretrained checkpoint of the preset, "
            "or HF's random initialisation";
        k.params = {p_str("weights", "scratch", {"scratch", "pretrained"}, "model.init",
                          "scratch = random init (the control), pretrained = the preset's "
                          "checkpoint under data/pretrained/ (an error if there is none)")};
        k.notes =
            "Not a saving: the control that shows what pretraining is worth to every other knob "
            "(docs/pretraining.md). The pretraining's own energy is paid once and stated in the "
            "checkpoint's MODEL_CARD.md.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            if (!c.model.init_from.empty()) {
                throw InputError(origin, "init",
                                 "model.init_from is set (" + c.model.init_from +
                                     "): it decides the weights, so the init knob "
                                     "would do nothing");
            }
            c.model.init = config::parse_or_throw<config::WeightsInit>(
                p["weights"].get<std::string>(), origin, "init.weights");
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "prune_layers";
        k.phase = Phase::kModel;
        k.targets = "compute";
        k.summary =
            "remove n encoder layers before training; each kept layer keeps its original "
            "global/local type";
        k.params = {p_int("n", 12, 1, 21, "model.prune_layers",
                          "layers to remove (the 22-layer presets keep >= 1)"),
                    p_str("from", "top", config::spellings<config::PruneFrom>(), "model.prune_from",
                          "top = the last n (nearest the output), bottom = the first n")};
        k.notes =
            "Paper V13-V22. Unlike the paper, the saved config.json states the remaining depth "
            "and the original layer ids.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            c.model.prune_layers = p["n"].get<int>();
            c.model.prune_from = config::parse_or_throw<config::PruneFrom>(
                p["from"].get<std::string>(), origin, "prune_layers.from");
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "quantization";
        k.phase = Phase::kModel;
        k.targets = "memory traffic";
        k.summary =
            "store the frozen base weights quantized (int8 per channel or 4-bit NF4 block-wise), "
            "dequantized on the fly; LoRA adapters train on top (QLoRA)";
        k.params = {p_int("bits", 4, 4, 8, "quantization.bits",
                          "4 = NF4 block-wise, 8 = int8 per output channel", {"4", "8"}),
                    p_int("block_size", 64, 16, 4096, "quantization.block_size",
                          "weights per NF4 scale (bits = 4 only)")};
        k.notes =
            "Requires the lora knob. Paper V3 also enabled gradient checkpointing, a cosine "
            "schedule, group_by_length, double quantization and bf16 compute; this knob changes "
            "only the weights' storage.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            if (!c.lora.enabled) {
                throw InputError(
                    origin, "quantization",
                    "quantized base weights are frozen, so nothing would train: add the lora "
                    "knob (applied before quantization) — the QLoRA recipe");
            }
            c.quantization.bits = p["bits"].get<int>();
            if (c.quantization.bits == 4) {
                c.quantization.block_size = p["block_size"].get<int>();
            }
        };
        r.push_back(std::move(k));
    }

    // ---- training ----
    {
        Knob k;
        k.name = "lora";
        k.phase = Phase::kTraining;
        k.targets = "compute";
        k.summary =
            "low-rank adapters on the encoder's projections; base frozen, head and classifier "
            "trained; evaluated unmerged unless merge = true; the saved model is merged";
        k.params = {
            p_int("r", 8, 1, 1024, "lora.r", "adapter rank"),
            p_float("alpha", 16.0, 0.01, 4096, "lora.alpha", "scale = alpha / r"),
            p_float("dropout", 0.05, 0.0, 0.9, "lora.dropout", "dropout on the adapter input"),
            p_list("targets", {"attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo"},
                   {"attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo", "head.dense"}, "lora.targets",
                   "ModernBERT modules that get adapters"),
            p_bool(
                "merge", false, "lora.merge",
                "fold the adapters into dense weights before evaluate (off: evaluate as trained, "
                "a quantized base stays quantized)")};
        k.notes =
            "Paper V2/V24/V30 targeted BERT names (query, key, value, dense...) that ModernBERT "
            "lacks: only head.dense matched and the encoder never trained. Ours targets the real "
            "projections.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            auto targets = p["targets"].get<std::vector<std::string>>();
            if (targets.empty()) {
                throw InputError(origin, "lora.targets", "LoRA needs at least one target module");
            }
            c.lora.enabled = true;
            c.lora.r = p["r"].get<int>();
            c.lora.alpha = p["alpha"].get<double>();
            c.lora.dropout = p["dropout"].get<double>();
            c.lora.targets = targets;
            c.lora.merge = p["merge"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "grad_checkpointing";
        k.phase = Phase::kTraining;
        k.targets = "memory traffic";
        k.summary =
            "recompute each encoder layer's activations in backward instead of storing them";
        k.params = {
            p_bool("enabled", true, "train.grad_checkpointing", "checkpoint every encoder layer")};
        k.notes =
            "Paper V1: trades one extra forward per layer for lower peak memory; expect more "
            "energy, not less.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.train.grad_checkpointing = p["enabled"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "optimizer";
        k.phase = Phase::kTraining;
        k.targets = "memory traffic";
        k.summary =
            "AdamW variant: plain, 8-bit block-wise quantized moments, or multi-tensor (foreach) "
            "updates";
        k.params = {p_str("name", "adamw8bit", config::spellings<config::Optimizer>(),
                          "train.optimizer", "optimizer implementation")};
        k.notes =
            "Paper V6: adamw_bnb_8bit. Ours quantizes both moments block-wise as bitsandbytes "
            "does.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            c.train.optimizer = config::parse_or_throw<config::Optimizer>(
                p["name"].get<std::string>(), origin, "optimizer.name");
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "precision";
        k.phase = Phase::kTraining;
        k.targets = "precision";
        k.summary = "autocast the forward/backward to a 16-bit type (fp32 master weights)";
        k.params = {p_str("precision", "bf16", {"fp32", "bf16", "fp16", "half"}, "train.precision",
                          "half = fp16 on CUDA (the paper's), bf16 on CPU")};
        k.supported = [](const config::RunConfig& c, const Capabilities& caps) {
            if (c.train.precision == config::Precision::kFp16 &&
                (c.system.device != config::Device::kCuda || !caps.cuda)) {
                return no(
                    "fp16 needs CUDA: CPU autocast has no fp16 and loss scaling (GradScaler) needs "
                    "CUDA; use bf16 or half");
            }
            return ok();
        };
        k.notes =
            "Paper V7: fp16 AMP with loss scaling. On CPU this catalog uses bf16 ('half' picks by "
            "device).";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            const std::string v = p["precision"].get<std::string>();
            if (v == "half") {
                c.train.precision = c.system.device == config::Device::kCuda
                                        ? config::Precision::kFp16
                                        : config::Precision::kBf16;
            } else {
                c.train.precision =
                    config::parse_or_throw<config::Precision>(v, origin, "precision.precision");
            }
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "grad_accum";
        k.phase = Phase::kTraining;
        k.targets = "memory traffic";
        k.summary =
            "split each optimizer step into `steps` micro-batches; the effective batch stays the "
            "same";
        k.params = {
            p_int("steps", 2, 1, 1024, "train.grad_accum",
                  "micro-batches per step; per-device batch = effective batch / steps (sets "
                  "train.batch_size)")};
        k.notes =
            "Paper V23/V25 called it gradient accumulation but went from 2x4 to 4x2, raising the "
            "padded batch. Ours keeps batch_size x grad_accum fixed, so only the micro-batch size "
            "changes.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            const int steps = p["steps"].get<int>();
            const int effective = c.train.batch_size * c.train.grad_accum;
            if (effective % steps != 0) {
                throw InputError(origin, "grad_accum.steps",
                                 "effective batch " + std::to_string(effective) + " (batch_size " +
                                     std::to_string(c.train.batch_size) + " x grad_accum " +
                                     std::to_string(c.train.grad_accum) + ") is not divisible by " +
                                     std::to_string(steps) + " steps");
            }
            c.train.batch_size = effective / steps;
            c.train.grad_accum = steps;
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "group_by_length";
        k.phase = Phase::kTraining;
        k.targets = "compute";
        k.summary = "batch samples of similar length together (less padding per batch)";
        k.params = {p_bool("enabled", true, "train.group_by_length", "length-grouped batching")};
        k.notes = "Not a numbered paper variant; the paper's V3 switched it on silently.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.train.group_by_length = p["enabled"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "early_stopping";
        k.phase = Phase::kTraining;
        k.targets = "compute";
        k.summary =
            "stop training when validation F1 (vulnerable class) has not improved for `patience` "
            "epochs";
        k.params = {p_int("patience", 1, 1, 100, "train.early_stopping_patience",
                          "epochs without improvement")};
        k.notes =
            "Not a numbered paper variant (the paper trained one epoch). Needs train.epochs >= 2.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            if (c.train.epochs < 2) {
                throw InputError(origin, "early_stopping",
                                 "early stopping needs at least 2 epochs to act (train.epochs = " +
                                     std::to_string(c.train.epochs) + ")");
            }
            c.train.early_stopping_patience = p["patience"].get<int>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "epoch_validation";
        k.phase = Phase::kTraining;
        k.targets = "compute";
        k.summary =
            "validate after each epoch or not (HF's eval_strategy \"epoch\" or \"no\"): off, the "
            "last epoch is the model";
        k.params = {p_bool("enabled", false, "train.validate_epochs",
                           "score the validation split after each epoch")};
        k.conflicts = {"early_stopping"};
        k.notes =
            "Not a numbered paper variant (the paper's Trainer validated each epoch). The pass "
            "chooses the best epoch and feeds early stopping; with one epoch the model is the "
            "same without it. Lost: the per-epoch validation metrics in run.json (a tune scores "
            "validation apart, outside the run's energy; inference.score_validation does it for "
            "any run).";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.train.validate_epochs = p["enabled"].get<bool>();
        };
        r.push_back(std::move(k));
    }

    // ---- system ----
    {
        Knob k;
        k.name = "loader";
        k.phase = Phase::kSystem;
        k.targets = "idle power";
        k.summary = "collate batches on background threads ahead of the step; pinned host memory";
        k.params = {
            p_int("workers", 2, 0, 64, "train.loader_workers", "background collation threads"),
            p_bool("pin_memory", true, "train.pin_memory", "page-locked batch memory")};
        k.params[1].cuda_only = true;
        k.notes =
            "Paper V10 (4 workers + pin memory) also switched on fp16; ours changes nothing else. "
            "Pin memory only matters on CUDA (faster host-to-device copies).";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.train.loader_workers = p["workers"].get<int>();
            c.train.pin_memory = p["pin_memory"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "threads";
        k.phase = Phase::kSystem;
        k.targets = "idle power";
        k.summary = "intra-op threads for the model's kernels";
        k.params = {p_int("threads", 1, 0, 1024, "system.threads",
                          "intra-op threads (0 = all hardware threads)")};
        k.notes =
            "Not a numbered paper variant. Fewer threads draw less power for longer; more threads "
            "finish sooner and cut the static share.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.system.threads = p["threads"].get<int>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "attention_kernel";
        k.phase = Phase::kSystem;
        k.targets = "memory traffic";
        k.summary =
            "the same attention computed as one fused CPU kernel per sequence and head, training "
            "and evaluation; padded rows grouped by length where it cannot fuse";
        k.params = {p_bool("fused", true, "model.fused_attention",
                           "one kernel: rotary, scores, fp32 softmax and values in one pass, "
                           "backward from each row's log-sum-exp (model/fused_attention.h)"),
                    p_bool("group_rows", true, "model.group_rows",
                           "where a batch cannot fuse: eager attention per group of rows of "
                           "similar length instead of HF's full [B, S, S]")};
        k.supported = [](const config::RunConfig& c, const Capabilities&) {
            if (contains(c.knobs, "attention_kernel") && c.model.fused_attention &&
                c.system.device == config::Device::kCuda) {
                return no(
                    "the fused attention kernel is CPU code: on CUDA LibTorch's kernels run, so "
                    "the knob would change nothing");
            }
            return ok();
        };
        k.notes =
            "Not a numbered paper variant: the implementation of V0's own attention (the same "
            "logits and gradients, within fp32 rounding), what a practitioner gets from a fused "
            "kernel such as FlashAttention. The pipeline's default; the paper's catalog pins both "
            "off so its V0 is HF's eager computation (decisions 0009, 0011). run.json "
            "attention.kernel / evaluate_kernel say which kernel ran.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.model.fused_attention = p["fused"].get<bool>();
            c.model.group_rows = p["group_rows"].get<bool>();
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "compile";
        k.phase = Phase::kSystem;
        k.targets = "compute";
        k.summary =
            "graph-level optimisation of the model: TorchScript trace, freeze and "
            "optimize_for_inference";
        k.params = {p_str("mode", "torchscript", config::spellings<config::Compile>(),
                          "train.compile", "graph compiler")};
        k.conflicts = {"attention.unpad=true"};
        k.notes =
            "evaluation only: LibTorch 1.13 on Debian has no NNC/LLVM fuser, so training stays "
            "eager and TorchScript gives no CPU speed-up here. Paper V11 used torch.compile "
            "(inductor) for training. Works with the packed inference engine (its int8/bf16 "
            "weights are traced in).";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            c.train.compile = config::parse_or_throw<config::Compile>(p["mode"].get<std::string>(),
                                                                      origin, "compile.mode");
        };
        r.push_back(std::move(k));
    }
    {
        Knob k;
        k.name = "power_limit";
        k.phase = Phase::kSystem;
        k.targets = "power draw";
        k.summary =
            "cap the device's power: GPU through NVML, CPU through a RAPL powercap constraint; "
            "verified and restored on exit";
        k.params = {
            p_float("watts", 100.0, 1.0, 2000.0, "system.power_limit_w", "the limit to enforce")};
        k.supported = [](const config::RunConfig& c, const Capabilities& caps) {
            if (c.system.power_limit_w <= 0) {
                return ok();
            }
            if ((c.system.device == config::Device::kCuda && caps.cuda && caps.gpu_power_limit) ||
                caps.cpu_power_limit) {
                return ok();
            }
            return no(caps.power_limit_reason.empty() ? "no settable power limit on this machine"
                                                      : caps.power_limit_reason);
        };
        k.notes =
            "Paper V5 set the cap by hand (nvidia-smi) and half its runs were uncapped. Where no "
            "limit can be set the variant is skipped with the reason, never run as if capped. 100 "
            "W is the paper's GPU value.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string&) {
            c.system.power_limit_w = p["watts"].get<double>();
        };
        r.push_back(std::move(k));
    }

    // ---- inference ----
    {
        Knob k;
        k.name = "inference_engine";
        k.phase = Phase::kInference;
        k.targets = "compute";
        k.summary =
            "separate evaluate path: inference mode, frozen pre-packed weights (bf16 or dynamic "
            "int8), length-bucketed large batches";
        k.params = {
            p_str("dtype", "auto", {"fp32", "bf16", "int8", "auto"}, "inference.dtype",
                  "packed weight type; auto = int8 on CPU, bf16 on CUDA"),
            p_int("batch_size", 64, 1, 4096, "inference.batch_size", "samples per evaluate batch"),
            p_bool("bucket_by_length", true, "inference.bucket_by_length",
                   "batch samples of similar length")};
        k.supported = [](const config::RunConfig& c, const Capabilities&) {
            if (c.inference.engine == config::Engine::kPacked &&
                c.inference.dtype == config::EvalDtype::kInt8 &&
                c.system.device == config::Device::kCuda) {
                return no(
                    "dynamic int8 quantization runs on CPU only in LibTorch; use dtype bf16 or "
                    "auto");
            }
            return ok();
        };
        k.notes =
            "Paper V9 used vLLM (and charged its start-up to the save stage). Ours charges "
            "everything to evaluate and reports samples/s, latency and J/sample.";
        k.apply = [](config::RunConfig& c, const json& p, const std::string& origin) {
            const std::string dtype = p["dtype"].get<std::string>();
            if (dtype == "auto") {
                c.inference.dtype = c.system.device == config::Device::kCuda
                                        ? config::EvalDtype::kBf16
                                        : config::EvalDtype::kInt8;
            } else {
                c.inference.dtype = config::parse_or_throw<config::EvalDtype>(
                    dtype, origin, "inference_engine.dtype");
            }
            c.inference.engine = config::Engine::kPacked;
            c.inference.batch_size = p["batch_size"].get<int>();
            c.inference.bucket_by_length = p["bucket_by_length"].get<bool>();
        };
        r.push_back(std::move(k));
    }

    // Application order (resolve applies a variant's knobs in it): lora must precede quantization,
    // and grad_accum reads the batch size no other knob changes. Phases then keep the table
    // readable.
    const std::vector<std::string> order = {"dedup",
                                            "tokenizer_cache",
                                            "tokenizer_threads",
                                            "max_length",
                                            "attention",
                                            "init",
                                            "prune_layers",
                                            "lora",
                                            "quantization",
                                            "grad_checkpointing",
                                            "optimizer",
                                            "precision",
                                            "grad_accum",
                                            "group_by_length",
                                            "early_stopping",
                                            "epoch_validation",
                                            "loader",
                                            "threads",
                                            "attention_kernel",
                                            "compile",
                                            "power_limit",
                                            "inference_engine"};
    std::vector<Knob> sorted;
    for (const auto& name : order) {
        for (auto& k : r) {
            if (k.name == name) {
                sorted.push_back(k);
            }
        }
    }
    GK_CHECK(sorted.size() == r.size(), "knob order list is missing a knob");
    return sorted;
}

const std::vector<std::string>& known_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (const auto& k : registry()) {
            n.push_back(k.name);
        }
        return n;
    }();
    return names;
}

const Knob* lookup(const std::string& name) {
    for (const auto& k : registry()) {
        if (k.name == name) {
            return &k;
        }
    }
    return nullptr;
}

std::string value_text(const json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_array()) {
        std::string s;
        for (const auto& e : v) {
            s += (s.empty() ? "" : ",") + value_text(e);
        }
        return "[" + s + "]";
    }
    if (v.is_number_float()) {
        return format_number(v.get<double>());
    }
    return v.dump();
}

// Checks one parameter value against its spec; returns it in canonical form (floats as double).
json check_param(const ParamSpec& spec, const json& v, const std::string& origin,
                 const std::string& place) {
    auto fail = [&](const std::string& expected) {
        throw InputError(origin, place, "got " + v.dump() + ", expected " + expected);
    };
    const bool ranged = spec.min < spec.max;
    const std::string range = "[" + format_number(spec.min) + ", " + format_number(spec.max) + "]";
    if (spec.type == "int") {
        if (!v.is_number_integer()) {
            fail("an integer");
        }
        const auto x = v.get<int64_t>();
        if (!spec.choices.empty() && !contains(spec.choices, std::to_string(x))) {
            fail("one of " + join(spec.choices, " | "));
        }
        if (ranged && (x < spec.min || x > spec.max)) {
            fail("an integer in " + range);
        }
        return x;
    }
    if (spec.type == "float") {
        if (!v.is_number()) {
            fail("a number");
        }
        const double x = v.get<double>();
        if (!std::isfinite(x) || (ranged && (x < spec.min || x > spec.max))) {
            fail("a number in " + range);
        }
        return x;
    }
    if (spec.type == "bool") {
        if (!v.is_boolean()) {
            fail("true or false");
        }
        return v;
    }
    if (spec.type == "string") {
        if (!v.is_string()) {
            fail("a string");
        }
        if (!spec.choices.empty() && !contains(spec.choices, v.get<std::string>())) {
            fail("one of " + join(spec.choices, " | "));
        }
        return v;
    }
    GK_CHECK(spec.type == "list", "unknown parameter type " + spec.type);
    if (!v.is_array()) {
        fail("an array of strings");
    }
    std::vector<std::string> seen;
    for (const auto& e : v) {
        if (!e.is_string()) {
            fail("an array of strings");
        }
        if (!spec.choices.empty() && !contains(spec.choices, e.get<std::string>())) {
            throw InputError(origin, place,
                             "got '" + e.get<std::string>() + "', expected items from " +
                                 join(spec.choices, " | "));
        }
        if (contains(seen, e.get<std::string>())) {
            throw InputError(origin, place, "'" + e.get<std::string>() + "' listed twice");
        }
        seen.push_back(e.get<std::string>());
    }
    return v;
}

// Conflicts that depend on parameter values are rules over the resulting fields (the fields are the
// truth, whichever knob or base set them). `knob` is the one being applied, for the message.
void check_field_conflicts(const config::RunConfig& c, const std::string& knob,
                           const std::string& origin) {
    if (c.train.compile == config::Compile::kTorchscript && c.model.unpad) {
        throw InputError(
            origin, knob,
            "compile (torchscript) cannot be combined with attention unpad = true: a trace records "
            "one batch's shapes and unpadding gathers the real tokens with data-dependent shapes");
    }
}

std::vector<std::string> param_names(const Knob& k) {
    std::vector<std::string> n;
    for (const auto& p : k.params) {
        n.push_back(p.name);
    }
    return n;
}

}  // namespace

nlohmann::json::json_pointer config_pointer(const std::string& config_key) {
    std::string s = "/" + config_key;
    std::replace(s.begin(), s.end(), '.', '/');
    return nlohmann::json::json_pointer(s);
}

std::string to_string(Phase p) {
    switch (p) {
        case Phase::kData:
            return "data";
        case Phase::kModel:
            return "model";
        case Phase::kTraining:
            return "training";
        case Phase::kSystem:
            return "system";
        case Phase::kInference:
            return "inference";
    }
    return "?";
}

const std::vector<Knob>& registry() {
    static const std::vector<Knob> knobs = build_registry();
    return knobs;
}

const Knob& find_knob(const std::string& name) {
    const Knob* k = lookup(name);
    if (k == nullptr) {
        throw InputError("unknown knob '" + name + "'; known: " + join(known_names(), ", "));
    }
    return *k;
}

nlohmann::json normalized_params(const std::string& knob, const nlohmann::json& params,
                                 const std::string& origin) {
    using nlohmann::json;
    const Knob* k = lookup(knob);
    if (k == nullptr) {
        throw InputError(origin, knob, "unknown knob; known: " + join(known_names(), ", "));
    }
    // Defaults, then the given values (an object, or a scalar for a one-parameter knob).
    json full = json::object();
    for (const auto& p : k->params) {
        full[p.name] = p.default_value;
    }
    if (params.is_object()) {
        for (auto it = params.begin(); it != params.end(); ++it) {
            auto spec = std::find_if(k->params.begin(), k->params.end(),
                                     [&](const ParamSpec& p) { return p.name == it.key(); });
            if (spec == k->params.end()) {
                throw InputError(
                    origin, knob + "." + it.key(),
                    "unknown parameter; " + knob + " takes " + join(param_names(*k), ", "));
            }
            full[it.key()] = check_param(*spec, it.value(), origin, knob + "." + it.key());
        }
    } else if (!params.is_null()) {  // a scalar sets the primary (first) parameter; the rest keep
                                     // defaults
        full[k->params[0].name] =
            check_param(k->params[0], params, origin, knob + "." + k->params[0].name);
    }
    for (const auto& p :
         k->params) {  // defaults pass the same checks (catches a bad registry entry)
        check_param(p, full[p.name], "knob registry", knob + "." + p.name);
    }

    return full;
}

void apply_knob(config::RunConfig& c, const std::string& knob, const nlohmann::json& params,
                const std::string& origin) {
    const Knob* k = lookup(knob);
    if (k == nullptr) {
        throw InputError(origin, knob, "unknown knob; known: " + join(known_names(), ", "));
    }
    if (contains(c.knobs, knob)) {
        throw InputError(origin, knob, "knob applied twice");
    }
    for (const auto& applied : c.knobs) {
        const Knob* other = lookup(applied);
        if (contains(k->conflicts, applied) ||
            (other != nullptr && contains(other->conflicts, knob))) {
            throw InputError(origin, knob,
                             "cannot be combined with knob '" + applied + "' (already applied)");
        }
    }

    const nlohmann::json full = normalized_params(knob, params, origin);

    config::RunConfig next = c;  // all or nothing: c is untouched when anything throws
    k->apply(next, full, origin);
    check_field_conflicts(next, knob, origin);
    config::validate(next, origin);
    next.knobs.push_back(knob);
    c = next;
}

std::vector<std::pair<std::string, Support>> unsupported_knobs(const config::RunConfig& c,
                                                               const Capabilities& caps) {
    std::vector<std::pair<std::string, Support>> out;
    for (const auto& k : registry()) {
        Support s = k.supported(c, caps);
        if (!s.ok) {
            out.emplace_back(k.name, s);
        }
    }
    return out;
}

nlohmann::json knob_settings(const config::RunConfig& c) {
    const nlohmann::json config = config::to_json(c);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& name : c.knobs) {
        const Knob* k = lookup(name);
        if (k == nullptr) {
            continue;  // config::RunConfig.knobs is informational; an unknown label has no fields
                       // to read
        }
        nlohmann::json params = nlohmann::json::object();
        for (const auto& p : k->params) {
            params[p.name] = config.at(config_pointer(p.config_key));
        }
        out.push_back({{"name", name}, {"params", params}});
    }
    return out;
}

std::string describe_param(const ParamSpec& p) {
    std::string s = p.name + "=" + value_text(p.default_value);
    if (!p.choices.empty()) {
        s += " {" + join(p.choices, "|") + "}";
    } else if (p.min < p.max) {
        s += " [" + format_number(p.min) + ".." + format_number(p.max) + "]";
    }
    return s;
}

std::string describe_application(const std::string& knob, const nlohmann::json& params) {
    if (!params.is_object()) {
        return params.is_null() ? knob : knob + "=" + value_text(params);
    }
    if (params.empty()) {
        return knob;
    }
    if (params.size() == 1 && lookup(knob) != nullptr && lookup(knob)->params.size() == 1) {
        return knob + "=" + value_text(params.begin().value());
    }
    std::string s;
    for (auto it = params.begin(); it != params.end(); ++it) {
        s += (s.empty() ? "" : ", ") + it.key() + "=" + value_text(it.value());
    }
    return knob + "(" + s + ")";
}

}  // namespace gk::knobs
