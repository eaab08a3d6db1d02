// See engine.h. Packing swaps each projection's adapter for an engine adapter that holds the
// pre-packed weight; the swap is undone in the destructor. int8 goes through the dispatcher because
// LibTorch's C++ API has no wrapper for quantized::linear_dynamic, and Debian's 1.13 has no FBGEMM
// (libtorch-notes §4f).
#include "greenknobs/adapters/engine.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <ATen/autocast_mode.h>

#include "greenknobs/adapters/adapter.h"
#include "greenknobs/adapters/compile.h"
#include "greenknobs/model/autocast.h"
#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/order.h"

namespace gk::adapters {
namespace {

using model::autocast_dtype;
using model::autocast_enabled;
using model::set_autocast_dtype;
using model::set_autocast_enabled;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The weight a projection computes with now: its adapter's effective weight, or the plain weight.
torch::Tensor current_weight(model::LinearImpl& lin) {
    torch::NoGradGuard no_grad;
    if (!lin.adapter) {
        return lin.weight.detach();
    }
    return Adapter::base_weight(lin.adapter, lin);
}

// Engine adapters: temporary, never merged.
class PackedDense : public model::LinearAdapter {
  public:
    PackedDense(torch::Tensor w, torch::Tensor b) : w_(std::move(w)), b_(std::move(b)) {}
    torch::Tensor forward(model::LinearImpl& /*base*/, const torch::Tensor& x) override {
        // bf16 weights: the input follows (under autocast it already is bf16).
        auto xin = x.scalar_type() == w_.scalar_type() ? x : x.to(w_.scalar_type());
        return model::linear(xin, w_, b_);
    }
    void merge(model::LinearImpl& /*base*/) override {
        GK_CHECK(false, "engine adapters are never merged");
    }
    std::string kind() const override {
        return w_.scalar_type() == torch::kBFloat16 ? "packed-bf16" : "packed-fp32";
    }

  private:
    torch::Tensor w_;  // [out, in]
    torch::Tensor b_;  // [out] or undefined
};

struct Int8Ops {
    c10::OperatorHandle prepack;
    c10::OperatorHandle linear_dynamic;
};

// Looks the ops up and selects the oneDNN engine; throws with the reason when this build lacks
// them.
const Int8Ops& int8_ops() {
    static const Int8Ops ops = [] {
        const auto& engines = at::globalContext().supportedQEngines();
        if (std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) == engines.end()) {
            throw UnsupportedError("this LibTorch build has no oneDNN quantized engine");
        }
        at::globalContext().setQEngine(at::QEngine::ONEDNN);
        auto& d = c10::Dispatcher::singleton();
        return Int8Ops{d.findSchemaOrThrow("quantized::linear_prepack", ""),
                       d.findSchemaOrThrow("quantized::linear_dynamic", "")};
    }();
    return ops;
}

// Whether activations are quantized to 7 bits (LibTorch's reduce_range). Without VNNI, x86 int8
// GEMMs multiply u8 activations by s8 weights with vpmaddubsw, which adds pairs of products in
// saturating int16: with full 8-bit activations the sums clip and logits go wrong (measured on an
// AVX2-only EPYC: errors of 6x the test's bound, 7 % of argmaxes flipped). 7-bit activations keep
// every pair sum in range, at a bit of precision; VNNI accumulates in int32 and needs no such cut.
bool int8_reduce_range() {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    static const bool reduce = !__builtin_cpu_supports("avx512vnni");
    return reduce;
#else
    return false;
#endif
}

// Symmetric per-output-channel int8 weight, prepacked for oneDNN; activations are quantized per
// call (7-bit where int8_reduce_range()).
class PackedInt8 : public model::LinearAdapter {
  public:
    PackedInt8(const torch::Tensor& w, const torch::Tensor& b) : out_(w.size(0)) {
        const auto& ops = int8_ops();
        auto wf = w.to(torch::kFloat32).contiguous();
        auto scales = (wf.abs().amax(1) / 127.0).clamp_min(1e-12).to(torch::kDouble);  // [out]
        auto zero = torch::zeros({wf.size(0)}, torch::kLong);
        auto wq = at::quantize_per_channel(wf, scales, zero, /*axis=*/0, torch::kQInt8);
        std::vector<c10::IValue> stack{
            wq, b.defined() ? c10::IValue(b.to(torch::kFloat32).contiguous()) : c10::IValue()};
        ops.prepack.callBoxed(&stack);
        packed_ = stack.at(0);
    }
    torch::Tensor forward(model::LinearImpl& /*base*/, const torch::Tensor& x) override {
        auto sizes = x.sizes().vec();
        auto x2 = x.to(torch::kFloat32).reshape({-1, sizes.back()}).contiguous();  // [N, in]
        std::vector<c10::IValue> stack{x2, packed_, int8_reduce_range()};
        int8_ops().linear_dynamic.callBoxed(&stack);
        sizes.back() = out_;
        return stack.at(0).toTensor().view(sizes);  // [..., out]
    }
    void merge(model::LinearImpl& /*base*/) override {
        GK_CHECK(false, "engine adapters are never merged");
    }
    std::string kind() const override { return "packed-int8"; }
    const c10::IValue& packed() const { return packed_; }

  private:
    c10::IValue packed_;  // LinearPackedParamsBase
    int64_t out_;
};

}  // namespace

bool int8_dynamic_supported(std::string* why_not) {
    try {
        (void)int8_ops();
        auto w = torch::randn({4, 8});
        PackedInt8 probe(w, torch::Tensor());
        model::LinearImpl dummy(8, 4, false);
        auto y = probe.forward(dummy, torch::randn({2, 8}));
        GK_CHECK(y.sizes() == torch::IntArrayRef({2, 4}), "int8 probe returned a wrong shape");
        return true;
    } catch (const std::exception& e) {
        if (why_not) {
            *why_not = e.what();
            why_not->resize(std::min<size_t>(why_not->size(), 300));
        }
        return false;
    }
}

at::ScalarType autocast_type_of(const std::string& dtype) {
    if (dtype == "bf16") {
        return at::kBFloat16;
    }
    if (dtype == "fp16") {
        return at::kHalf;
    }
    return at::kFloat;
}

AutocastScope::AutocastScope(const torch::Device& device, at::ScalarType dtype)
    : enabled_(dtype == at::kBFloat16 || dtype == at::kHalf), cuda_(device.is_cuda()) {
    if (!enabled_) {
        return;
    }
    prev_enabled_ = autocast_enabled(cuda_);
    prev_dtype_ = autocast_dtype(cuda_);
    set_autocast_enabled(cuda_, true);
    set_autocast_dtype(cuda_, dtype);
    at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
    if (!enabled_) {
        return;
    }
    if (at::autocast::decrement_nesting() == 0) {
        at::autocast::clear_cache();
    }
    set_autocast_enabled(cuda_, prev_enabled_);
    set_autocast_dtype(cuda_, prev_dtype_);
}

std::map<std::string, int> linear_kinds(torch::nn::Module& root) {
    std::map<std::string, int> kinds;
    for (const auto& [name, lin] : named_linears(root)) {
        ++kinds[lin->adapter ? lin->adapter->kind() : "dense"];
    }
    return kinds;
}

Classifier classifier_of(const std::shared_ptr<model::ModernBertForSequenceClassificationImpl>& m) {
    return {m, [m](const torch::Tensor& ids, const torch::Tensor& mask) {
                return m->forward(ids, mask);
            }};
}

std::string evaluation_dtype(const config::RunConfig& cfg) {
    return cfg.inference.dtype == config::EvalDtype::kTrain
               ? config::to_string(cfg.train.precision)
               : config::to_string(cfg.inference.dtype);
}

EngineOptions engine_options(const config::RunConfig& cfg, int64_t pad_id) {
    EngineOptions o;
    o.engine = config::to_string(cfg.inference.engine);
    o.dtype = evaluation_dtype(cfg);
    o.batch_size = cfg.inference.batch_size;
    o.bucket_by_length = cfg.inference.bucket_by_length;
    o.pad_id = pad_id;
    o.compile = cfg.train.compile == config::Compile::kTorchscript;
    return o;
}

InferenceEngine::InferenceEngine(Classifier model, EngineOptions opts)
    : model_(std::move(model)), opts_(std::move(opts)), dtype_(opts_.dtype) {
    GK_CHECK(model_.module && model_.forward, "InferenceEngine needs a module and its forward");
    if (opts_.engine != "plain" && opts_.engine != "packed") {
        throw InputError("inference.engine", opts_.engine, "expected plain or packed");
    }
    if (dtype_ != "fp32" && dtype_ != "bf16" && dtype_ != "fp16" && dtype_ != "int8") {
        throw InputError("inference.dtype", dtype_, "expected fp32, bf16, fp16 or int8");
    }
    if (opts_.engine == "plain" && dtype_ == "int8") {
        throw InputError("inference.dtype", dtype_, "int8 needs inference.engine = packed");
    }
    if (opts_.batch_size <= 0) {
        throw InputError("inference.batch_size", std::to_string(opts_.batch_size), "expected > 0");
    }
    auto params = model_.module->parameters();
    if (!params.empty()) {
        device_ = params.front().device();
    }
    if (dtype_ == "fp16" && !device_.is_cuda()) {
        // CPU autocast has no fp16 here (train::check_precision_supported says the same for
        // training).
        throw UnsupportedError("fp16 evaluation needs CUDA: CPU autocast has no fp16; use bf16");
    }
    was_training_ = model_.module->is_training();
    model_.module->eval();
    if (dtype_ == "int8" && device_.is_cuda()) {
        fallback_reason_ =
            "int8 dynamic quantization runs on CPU only; the model is on " + device_.str();
    } else if (dtype_ == "int8") {
        int8_dynamic_supported(&fallback_reason_);
    }
    if (!fallback_reason_.empty()) {
        log::warn("inference engine: int8 is unavailable (" + fallback_reason_ +
                  "); FALLING BACK to fp32");
        dtype_ = "fp32";
    }
    auto t0 = std::chrono::steady_clock::now();
    if (opts_.engine == "packed") {
        pack();
    }
    if (opts_.compile) {
        CompiledModel::Objects objects;
        for (const auto& [lin, old] : restore_) {
            if (auto* p = dynamic_cast<PackedInt8*>(lin->adapter.get())) {
                objects.emplace_back("packed_int8_" + std::to_string(objects.size()), p->packed());
            }
        }
        compiled_ =
            std::make_unique<CompiledModel>(model_, autocast_type_of(dtype_), std::move(objects));
    }
    pack_s_ = seconds_since(t0);
}

void InferenceEngine::pack() {
    c10::InferenceMode guard;
    for (const auto& [name, lin] : named_linears(*model_.module)) {
        auto w = current_weight(*lin).to(torch::kFloat32).contiguous();  // [out, in]
        auto b = lin->bias.defined() ? lin->bias.detach() : torch::Tensor();
        std::shared_ptr<model::LinearAdapter> packed;
        if (dtype_ == "int8") {
            packed = std::make_shared<PackedInt8>(w, b);
        } else if (dtype_ == "bf16" && opts_.bf16_weights) {
            packed = std::make_shared<PackedDense>(w.to(torch::kBFloat16),
                                                   b.defined() ? b.to(torch::kBFloat16) : b);
        } else if (lin->adapter) {
            // fp32 (or bf16 via autocast): fold LoRA / dequantize once instead of on every call.
            packed = std::make_shared<PackedDense>(w, b);
        } else {
            continue;  // a plain fp32 projection is already in its packed form
        }
        restore_.emplace_back(lin, lin->adapter);
        lin->adapter = packed;
    }
}

InferenceEngine::~InferenceEngine() {
    compiled_.reset();
    for (auto& [lin, adapter] : restore_) {
        lin->adapter = adapter;
    }
    model_.module->train(was_training_);
}

std::vector<EngineFallback> InferenceEngine::fallbacks() const {
    std::vector<EngineFallback> out;
    if (!fallback_reason_.empty()) {
        out.push_back({opts_.dtype + " -> " + dtype_, fallback_reason_});
    }
    if (compiled_) {
        for (const auto& [step, why] : compiled_->failures()) {
            out.push_back({step, why});
        }
    }
    return out;
}

std::string InferenceEngine::describe() const {
    std::string s = opts_.engine + " " + dtype_;
    if (dtype_ == "bf16") {
        s += opts_.engine == "packed" && opts_.bf16_weights ? " (bf16 weights + autocast)"
                                                            : " (autocast)";
    } else if (dtype_ == "fp16") {
        s += " (autocast)";
    } else if (dtype_ == "int8" && int8_reduce_range()) {
        s += " (7-bit activations: no VNNI on this CPU)";
    }
    s += ", batch " + std::to_string(opts_.batch_size) +
         (opts_.bucket_by_length ? ", length-bucketed" : "");
    if (opts_.compile) {
        s += ", torchscript";
    }
    if (!fallback_reason_.empty()) {
        s += " [fallback from " + opts_.dtype + ": " + fallback_reason_ + "]";
    }
    return s;
}

torch::Tensor InferenceEngine::forward_batch(const torch::Tensor& ids, const torch::Tensor& mask) {
    AutocastScope autocast(device_, autocast_type_of(dtype_));
    if (compiled_) {
        return compiled_->forward(ids, mask);
    }
    return model_.forward(ids, mask);
}

torch::Tensor InferenceEngine::forward(const torch::Tensor& input_ids,
                                       const torch::Tensor& attention_mask) {
    c10::InferenceMode guard(opts_.engine == "packed");
    torch::NoGradGuard no_grad;
    auto out = forward_batch(input_ids.to(device_), attention_mask.to(device_));
    return out.to(torch::kFloat32).cpu();
}

EngineResult InferenceEngine::run(const std::vector<std::vector<int32_t>>& sequences) {
    EngineResult res;
    const int64_t n = static_cast<int64_t>(sequences.size());
    res.logits.resize(sequences.size());
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) {
        GK_CHECK(!sequences[i].empty(),
                 "sequence " + std::to_string(i) + " is empty (no [CLS]/[SEP])");
    }
    std::vector<int64_t> order;
    if (opts_.bucket_by_length) {
        order = util::longest_first(sequences);
    } else {
        order.resize(sequences.size());
        std::iota(order.begin(), order.end(), 0);
    }
    // A traced graph is specialized to its shape: round lengths up and keep the batch size fixed,
    // so a few traces serve every batch.
    const int64_t round_to = compiled_ ? CompiledModel::kSeqMultiple : 1;
    for (int64_t start = 0; start < n; start += opts_.batch_size) {
        const int64_t end = std::min<int64_t>(n, start + opts_.batch_size);
        const int64_t rows = compiled_ ? opts_.batch_size : end - start;
        int64_t len = 1;
        for (int64_t k = start; k < end; ++k) {
            len = std::max<int64_t>(len, static_cast<int64_t>(sequences[order[k]].size()));
        }
        len = (len + round_to - 1) / round_to * round_to;
        auto ids = torch::full({rows, len}, opts_.pad_id, torch::kLong);
        auto mask = torch::zeros({rows, len}, torch::kLong);
        auto ids_a = ids.accessor<int64_t, 2>();
        auto mask_a = mask.accessor<int64_t, 2>();
        for (int64_t k = start; k < end; ++k) {
            const auto& seq = sequences[order[k]];
            for (size_t j = 0; j < seq.size(); ++j) {
                ids_a[k - start][j] = seq[j];
                mask_a[k - start][j] = 1;
            }
            res.timing.real_tokens += static_cast<int64_t>(seq.size());
        }
        for (int64_t r = end - start; r < rows; ++r) {
            mask_a[r][0] =
                1;  // filler rows of a fixed-size compiled batch: one pad token each, discarded
        }
        res.timing.padded_tokens += (end - start) * len;
        auto tb = std::chrono::steady_clock::now();
        auto logits = forward(ids, mask);  // [rows, 2]
        res.timing.forward_s += seconds_since(tb);
        ++res.timing.batches;
        GK_CHECK(logits.dim() == 2 && logits.size(1) == 2, "the engine expects [B, 2] logits");
        auto la = logits.accessor<float, 2>();
        for (int64_t k = start; k < end; ++k) {
            res.logits[order[k]] = {la[k - start][0], la[k - start][1]};
        }
    }
    res.timing.samples = n;
    res.timing.duration_s = seconds_since(t0);
    res.timing.samples_per_s = res.timing.duration_s > 0 ? n / res.timing.duration_s : 0;
    res.timing.latency_ms_per_batch =
        res.timing.batches > 0 ? 1000.0 * res.timing.forward_s / res.timing.batches : 0;
    return res;
}

}  // namespace gk::adapters
