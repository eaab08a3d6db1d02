// See optim.h. All three AdamW variants compute PyTorch's AdamW step (decoupled decay p ← p·(1 −
// lr·wd), bias-corrected moments, denom = √v̂ + eps); they differ only in how the moments are stored
// and launched.
#include "greenknobs/train/optim.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "greenknobs/model/parallel.h"
#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

using model::parallel_chunks;

bool contains_norm(const std::string& name) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower.find("norm") != std::string::npos;
}

void add_param(ParamGroups& g, const std::string& module_path, bool module_is_norm,
               const std::string& pname, const torch::Tensor& p) {
    if (!p.requires_grad()) {
        return;
    }
    std::string full = module_path.empty() ? pname : module_path + "." + pname;
    if (pname == "bias" || module_is_norm || contains_norm(pname)) {
        g.no_decay.push_back(p);
        g.no_decay_names.push_back(full);
    } else {
        g.decay.push_back(p);
        g.decay_names.push_back(full);
    }
}

std::vector<torch::Tensor> concat(const ParamGroups& g) {
    std::vector<torch::Tensor> all = g.decay;
    all.insert(all.end(), g.no_decay.begin(), g.no_decay.end());
    return all;
}

int64_t tensor_bytes(const torch::Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

// LibTorch keys an optimizer's state by the parameter's TensorImpl: a string of its address in
// 1.13, the address itself in later versions. Whichever this LibTorch uses.
template <class Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
    if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
        return c10::guts::to_string(p.unsafeGetTensorImpl());
    } else {
        return p.unsafeGetTensorImpl();
    }
}

// PyTorch's AdamW step on one contiguous fp32 tensor in a single pass over memory (LibTorch runs
// it as nine tensor operations, two of them allocating a temporary the size of the tensor):
//   p ← p·decay;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − step·m / (√v / √bc2 + eps)
// in the same order of float operations, so results agree with LibTorch's to rounding.
struct FusedAdamWStep {
    float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, neg_step;
    void run(float* p, const float* g, float* m, float* v, int64_t n) const {
        parallel_chunks(n, 1 << 16, [&](int64_t begin, int64_t end) {
            span(p + begin, g + begin, m + begin, v + begin, end - begin);
        });
    }
    // Four lanes at a time with SSE where the target has it (every x86-64 does), the same float
    // operations in the same order as the scalar tail, so both give the same bits. Compilers do
    // not vectorize the scalar loop themselves: sqrtf may set errno.
    void span(float* __restrict p, const float* __restrict g, float* __restrict m,
              float* __restrict v, int64_t n) const {
        int64_t i = 0;
#if defined(__SSE2__)
        const __m128 b1 = _mm_set1_ps(beta1), omb1 = _mm_set1_ps(one_minus_beta1);
        const __m128 b2 = _mm_set1_ps(beta2), omb2 = _mm_set1_ps(one_minus_beta2);
        const __m128 sbc2 = _mm_set1_ps(sqrt_bc2), e = _mm_set1_ps(eps);
        const __m128 dec = _mm_set1_ps(decay), ns = _mm_set1_ps(neg_step);
        for (; i + 4 <= n; i += 4) {
            const __m128 gi = _mm_loadu_ps(g + i);
            const __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), b1), _mm_mul_ps(omb1, gi));
            const __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), b2),
                                         _mm_mul_ps(_mm_mul_ps(omb2, gi), gi));
            _mm_storeu_ps(m + i, mi);
            _mm_storeu_ps(v + i, vi);
            const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), sbc2), e);
            _mm_storeu_ps(p + i, _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(p + i), dec),
                                            _mm_mul_ps(ns, _mm_div_ps(mi, denom))));
        }
#endif
        for (; i < n; ++i) {
            const float gi = g[i];
            const float mi = m[i] * beta1 + one_minus_beta1 * gi;
            const float vi = v[i] * beta2 + one_minus_beta2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            const float denom = std::sqrt(vi) / sqrt_bc2 + eps;
            p[i] = p[i] * decay + neg_step * (mi / denom);
        }
    }
};

bool fusable(const torch::Tensor& p) {
    const torch::Tensor& g = p.grad();
    return p.device().is_cpu() && p.scalar_type() == torch::kFloat && p.is_contiguous() &&
           !g.is_sparse() && g.device().is_cpu() && g.scalar_type() == torch::kFloat &&
           g.is_contiguous() && g.sizes() == p.sizes();
}

// ---- adamw: LibTorch's own, its update fused on CPU
// ----------------------------------------------------------------------------
class TorchAdamW : public Optimizer {
  public:
    TorchAdamW(const ParamGroups& g, const AdamWHyper& h) : fused_(h.fused) {
        params_ = concat(g);
        std::vector<torch::optim::OptimizerParamGroup> groups;
        auto make_opts = [&](double wd) {
            return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(h.lr)
                                                                    .betas({h.beta1, h.beta2})
                                                                    .eps(h.eps)
                                                                    .weight_decay(wd));
        };
        if (!g.decay.empty()) {
            groups.emplace_back(g.decay, make_opts(h.weight_decay));
        }
        if (!g.no_decay.empty()) {
            groups.emplace_back(g.no_decay, make_opts(0.0));
        }
        opt_ = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(h.lr)
                                                                 .betas({h.beta1, h.beta2})
                                                                 .eps(h.eps)
                                                                 .weight_decay(h.weight_decay));
    }
    void step() override {
        if (!fused_ || !all_fusable()) {
            opt_->step();
            ++libtorch_steps_;
            return;
        }
        torch::NoGradGuard no_grad;
        auto& state = opt_->state();
        for (auto& group : opt_->param_groups()) {
            const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
            const double b1 = std::get<0>(o.betas());
            const double b2 = std::get<1>(o.betas());
            for (auto& p : group.params()) {
                if (!p.grad().defined()) {
                    continue;  // as LibTorch: no update, the step count kept
                }
                const auto key = state_key(state, p);
                auto it = state.find(key);
                if (it == state.end()) {
                    auto s = std::make_unique<torch::optim::AdamWParamState>();
                    s->step(0);
                    s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
                    s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
                    it = state.emplace(key, std::move(s)).first;
                }
                auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
                s.step(s.step() + 1);
                const double bc1 = 1 - std::pow(b1, static_cast<double>(s.step()));
                const double bc2 = 1 - std::pow(b2, static_cast<double>(s.step()));
                FusedAdamWStep k{};
                k.decay = static_cast<float>(1 - o.lr() * o.weight_decay());
                k.beta1 = static_cast<float>(b1);
                k.one_minus_beta1 = static_cast<float>(1 - b1);
                k.beta2 = static_cast<float>(b2);
                k.one_minus_beta2 = static_cast<float>(1 - b2);
                k.sqrt_bc2 = static_cast<float>(std::sqrt(bc2));
                k.eps = static_cast<float>(o.eps());
                k.neg_step = static_cast<float>(-(o.lr() / bc1));
                k.run(p.data_ptr<float>(), p.grad().data_ptr<float>(),
                      s.exp_avg().data_ptr<float>(), s.exp_avg_sq().data_ptr<float>(), p.numel());
            }
        }
        ++fused_steps_;
    }
    std::string implementation() const override {
        if (fused_steps_ > 0) {
            return libtorch_steps_ > 0 ? "fused-cpu+libtorch" : "fused-cpu";
        }
        return "libtorch";
    }
    void set_lr(double lr) override {
        for (auto& group : opt_->param_groups()) {
            group.options().set_lr(lr);
        }
    }
    int64_t state_bytes() const override {
        int64_t bytes = 0;
        for (const auto& kv : opt_->state()) {
            const auto& s = static_cast<const torch::optim::AdamWParamState&>(*kv.second);
            bytes += tensor_bytes(s.exp_avg()) + tensor_bytes(s.exp_avg_sq()) +
                     tensor_bytes(s.max_exp_avg_sq());
        }
        return bytes;
    }
    std::string name() const override { return "adamw"; }
    void save_state(const std::string& path) const override { torch::save(*opt_, path); }
    void load_state(const std::string& path) override { torch::load(*opt_, path); }

  private:
    // Every parameter with a gradient can take the fused pass, and no option asks for what it
    // does not do (amsgrad); a moment buffer LibTorch made (a loaded checkpoint) is fp32 and
    // contiguous like the parameter.
    bool all_fusable() const {
        for (const auto& group : opt_->param_groups()) {
            if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) {
                return false;
            }
            for (const auto& p : group.params()) {
                if (p.grad().defined() && !fusable(p)) {
                    return false;
                }
            }
        }
        for (const auto& kv : opt_->state()) {
            const auto& s = static_cast<const torch::optim::AdamWParamState&>(*kv.second);
            for (const torch::Tensor* t : {&s.exp_avg(), &s.exp_avg_sq()}) {
                if (!t->defined() || t->scalar_type() != torch::kFloat || !t->is_contiguous() ||
                    !t->device().is_cpu()) {
                    return false;
                }
            }
        }
        return true;
    }

    std::unique_ptr<torch::optim::AdamW> opt_;
    bool fused_ = true;
    int64_t fused_steps_ = 0, libtorch_steps_ = 0;
};

// ---- adamw_foreach: multi-tensor ops
// --------------------------------------------------------------------
class ForeachAdamW : public Optimizer {
  public:
    ForeachAdamW(const ParamGroups& g, const AdamWHyper& h) : h_(h), lr_(h.lr) {
        params_ = concat(g);
        decays_.assign(g.decay.size(), true);
        decays_.resize(params_.size(), false);
        steps_.assign(params_.size(), 0);
        m_.resize(params_.size());
        v_.resize(params_.size());
    }
    void step() override {
        torch::NoGradGuard no_grad;
        // Parameters without a gradient this step are skipped and keep their step count, as torch
        // does.
        std::vector<torch::Tensor> p_decay, p_all, g_all, m_all, v_all;
        std::vector<at::Scalar> neg_step_size, sqrt_bc2;
        for (size_t i = 0; i < params_.size(); ++i) {
            const auto& p = params_[i];
            if (!p.grad().defined()) {
                continue;
            }
            if (!m_[i].defined()) {
                m_[i] = torch::zeros_like(p, torch::MemoryFormat::Preserve);
                v_[i] = torch::zeros_like(p, torch::MemoryFormat::Preserve);
            }
            const int64_t step = ++steps_[i];
            const double bc1 = 1 - std::pow(h_.beta1, static_cast<double>(step));
            const double bc2 = 1 - std::pow(h_.beta2, static_cast<double>(step));
            neg_step_size.emplace_back(-lr_ / bc1);
            sqrt_bc2.emplace_back(std::sqrt(bc2));
            if (decays_[i]) {
                p_decay.push_back(p);
            }
            p_all.push_back(p);
            g_all.push_back(p.grad());
            m_all.push_back(m_[i]);
            v_all.push_back(v_[i]);
        }
        if (p_all.empty()) {
            return;
        }
        if (!p_decay.empty() && h_.weight_decay != 0) {
            at::_foreach_mul_(p_decay, 1 - lr_ * h_.weight_decay);
        }
        at::_foreach_mul_(m_all, h_.beta1);
        at::_foreach_add_(m_all, g_all, 1 - h_.beta1);
        at::_foreach_mul_(v_all, h_.beta2);
        at::_foreach_addcmul_(v_all, g_all, g_all, 1 - h_.beta2);
        std::vector<torch::Tensor> denom = at::_foreach_sqrt(v_all);
        at::_foreach_div_(denom, sqrt_bc2);
        at::_foreach_add_(denom, h_.eps);
        at::_foreach_addcdiv_(p_all, m_all, denom, neg_step_size);
    }
    void set_lr(double lr) override { lr_ = lr; }
    int64_t state_bytes() const override {
        int64_t bytes = 0;
        for (size_t i = 0; i < m_.size(); ++i) {
            bytes += tensor_bytes(m_[i]) + tensor_bytes(v_[i]);
        }
        return bytes;
    }
    std::string name() const override { return "adamw_foreach"; }

  private:
    AdamWHyper h_;
    double lr_;
    std::vector<bool> decays_;
    std::vector<int64_t> steps_;
    std::vector<torch::Tensor> m_, v_;
};

// ---- adamw8bit: block-wise dynamic quantization of both moments
// -----------------------------------------
class AdamW8bit : public Optimizer {
  public:
    // bitsandbytes keeps 32-bit state for tensors under 4096 elements (biases, norms): quantizing
    // them saves almost nothing and costs accuracy.
    static constexpr int64_t kMin8bitNumel = 4096;

    AdamW8bit(const ParamGroups& g, const AdamWHyper& h, int block_size)
        : h_(h), lr_(h.lr), block_size_(block_size) {
        GK_CHECK(block_size > 0, "adamw8bit: block size must be positive");
        params_ = concat(g);
        decays_.assign(g.decay.size(), true);
        decays_.resize(params_.size(), false);
        states_.resize(params_.size());
    }
    void step() override {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < params_.size(); ++i) {
            auto& p = params_[i];
            if (!p.grad().defined()) {
                continue;
            }
            State& s = states_[i];
            const bool quantized = p.numel() >= kMin8bitNumel;
            torch::Tensor grad = p.grad().to(torch::kFloat);
            torch::Tensor m, v;
            if (s.step == 0) {
                m = torch::zeros_like(p, torch::kFloat);
                v = torch::zeros_like(p, torch::kFloat);
            } else if (quantized) {
                m = signed_.dequantize(s.m8, p.sizes());
                v = unsigned_.dequantize(s.v8, p.sizes());
            } else {
                m = s.m32;
                v = s.v32;
            }
            s.step += 1;
            const double bc1 = 1 - std::pow(h_.beta1, static_cast<double>(s.step));
            const double bc2 = 1 - std::pow(h_.beta2, static_cast<double>(s.step));
            if (decays_[i] && h_.weight_decay != 0) {
                p.mul_(1 - lr_ * h_.weight_decay);
            }
            m.mul_(h_.beta1).add_(grad, 1 - h_.beta1);
            v.mul_(h_.beta2).addcmul_(grad, grad, 1 - h_.beta2);
            torch::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(h_.eps);
            p.addcdiv_(m, denom, -lr_ / bc1);
            if (quantized) {
                s.m8 = signed_.quantize(m, block_size_);
                s.v8 = unsigned_.quantize(v, block_size_);
            } else {
                s.m32 = m;
                s.v32 = v;
            }
        }
    }
    void set_lr(double lr) override { lr_ = lr; }
    int64_t state_bytes() const override {
        int64_t bytes = 0;
        for (const auto& s : states_) {
            bytes += s.m8.bytes() + s.v8.bytes() + tensor_bytes(s.m32) + tensor_bytes(s.v32);
        }
        return bytes;
    }
    std::string name() const override { return "adamw8bit"; }

  private:
    struct State {
        int64_t step = 0;
        q8::Blockwise m8, v8;    // quantized moments (tensors >= kMin8bitNumel)
        torch::Tensor m32, v32;  // fp32 moments (small tensors)
    };
    AdamWHyper h_;
    double lr_;
    int block_size_;
    std::vector<bool> decays_;
    std::vector<State> states_;
    q8::Codec signed_{/*is_signed=*/true};     // first moment
    q8::Codec unsigned_{/*is_signed=*/false};  // second moment
};

}  // namespace

ParamGroups group_parameters(const torch::nn::Module& module) {
    ParamGroups g;
    for (const auto& kv : module.named_parameters(/*recurse=*/false)) {
        add_param(g, "", /*module_is_norm=*/false, kv.key(), kv.value());
    }
    for (const auto& item : module.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
        const std::string& path = item.key();
        const auto& sub = item.value();
        std::string last =
            path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
        bool is_norm = dynamic_cast<const torch::nn::LayerNormImpl*>(sub.get()) != nullptr ||
                       contains_norm(last);
        for (const auto& kv : sub->named_parameters(/*recurse=*/false)) {
            add_param(g, path, is_norm, kv.key(), kv.value());
        }
    }
    return g;
}

void Optimizer::zero_grad() {
    for (auto& p : params_) {
        if (p.grad().defined()) {
            p.mutable_grad().reset();
        }
    }
}

void Optimizer::save_state(const std::string&) const {
    throw InputError("train.optimizer", name(), "cannot be checkpointed (use adamw)");
}

void Optimizer::load_state(const std::string&) {
    throw InputError("train.optimizer", name(), "cannot be checkpointed (use adamw)");
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const ParamGroups& groups,
                                          const AdamWHyper& hyper, int block_size) {
    GK_CHECK(!groups.decay.empty() || !groups.no_decay.empty(),
             "optimizer: the model has no trainable parameters");
    if (kind == "adamw") {
        return std::make_unique<TorchAdamW>(groups, hyper);
    }
    if (kind == "adamw_foreach") {
        return std::make_unique<ForeachAdamW>(groups, hyper);
    }
    if (kind == "adamw8bit") {
        return std::make_unique<AdamW8bit>(groups, hyper, block_size);
    }
    throw InputError(
        "train.optimizer", "",
        "unknown optimizer '" + kind + "' (expected adamw, adamw_foreach or adamw8bit)");
}

LinearSchedule::LinearSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps)
    : peak_lr_(peak_lr),
      warmup_steps_(std::max<int64_t>(0, warmup_steps)),
      total_steps_(total_steps) {}

double LinearSchedule::lr_at(int64_t step) const {
    if (step < warmup_steps_) {
        return peak_lr_ * static_cast<double>(step) /
               static_cast<double>(std::max<int64_t>(1, warmup_steps_));
    }
    double left = static_cast<double>(total_steps_ - step) /
                  static_cast<double>(std::max<int64_t>(1, total_steps_ - warmup_steps_));
    return peak_lr_ * std::max(0.0, left);
}

int64_t warmup_steps_for(double warmup_ratio, int64_t total_steps) {
    return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> norms;
    for (const auto& p : params) {
        if (p.grad().defined()) {
            norms.push_back(p.grad().detach().to(torch::kFloat).norm(2));
        }
    }
    if (norms.empty()) {
        return 0.0;
    }
    double total = torch::stack(norms).norm(2).item<double>();
    if (max_norm > 0 && std::isfinite(total)) {
        double coef = max_norm / (total + 1e-6);  // torch's clip_grad_norm_ epsilon
        if (coef < 1.0) {
            for (const auto& p : params) {
                if (p.grad().defined()) {
                    p.grad().mul_(coef);
                }
            }
        }
    }
    return total;
}

namespace q8 {

torch::Tensor dynamic_map(bool is_signed) {
    std::vector<float> codes;
    const int decades = 7;  // 1e-6 … 1
    for (int i = 0; i < decades; ++i) {
        const int bins = is_signed ? (1 << i) : (1 << (i + 1));
        const double scale = std::pow(10.0, i - (decades - 1));
        for (int k = 0; k < bins; ++k) {
            // Mid-points of `bins` equal slices of [0.1, 1] within this decade.
            double fraction = 0.1 + (k + 0.5) * 0.9 / bins;
            codes.push_back(static_cast<float>(scale * fraction));
            if (is_signed) {
                codes.push_back(static_cast<float>(-scale * fraction));
            }
        }
    }
    codes.push_back(0.0f);
    codes.push_back(1.0f);
    GK_CHECK(codes.size() == 256, "dynamic map must have 256 codes");
    std::sort(codes.begin(), codes.end());
    return torch::tensor(codes, torch::kFloat);
}

int64_t Blockwise::bytes() const { return tensor_bytes(codes) + tensor_bytes(absmax); }

Blockwise quantize(const torch::Tensor& x, const torch::Tensor& map, int block_size) {
    Blockwise q;
    q.numel = x.numel();
    const int64_t blocks = (q.numel + block_size - 1) / block_size;
    torch::Tensor flat = x.detach().to(torch::kFloat).reshape({-1});
    if (blocks * block_size != q.numel) {
        flat = torch::cat({flat, torch::zeros({blocks * block_size - q.numel}, flat.options())});
    }
    torch::Tensor view = flat.view({blocks, block_size});  // [blocks, block]
    q.absmax = std::get<0>(view.abs().max(/*dim=*/1));     // [blocks]
    torch::Tensor normed =
        view / q.absmax.clamp_min(1e-30f).unsqueeze(1);  // [blocks, block] in [-1, 1]
    // Nearest code: the number of mid-points between consecutive codes that lie below the value.
    torch::Tensor mids = (map.slice(0, 0, 255) + map.slice(0, 1, 256)) * 0.5;  // [255]
    q.codes = torch::bucketize(normed, mids.to(flat.device())).to(torch::kUInt8).reshape({-1});
    return q;
}

torch::Tensor dequantize(const Blockwise& q, const torch::Tensor& map, at::IntArrayRef shape) {
    const int64_t blocks = q.absmax.numel();
    torch::Tensor values = map.to(q.codes.device())
                               .index_select(0, q.codes.to(torch::kLong))
                               .view({blocks, -1});  // [blocks, block]
    values.mul_(q.absmax.unsqueeze(1));
    return values.reshape({-1}).slice(0, 0, q.numel).reshape(shape).contiguous();
}

Codec::Codec(bool is_signed) : map_(dynamic_map(is_signed)) {
    const float* codes = map_.data_ptr<float>();
    for (size_t i = 0; i < 255; ++i) {
        mids_[i] =
            0.5f * (codes[i] + codes[i + 1]);  // the same float expression as quantize()'s mids
    }
    mids_[255] = std::numeric_limits<float>::infinity();
    // Cell = sign, exponent and the top 11 mantissa bits of a float (2^20 cells, relative width
    // 2^-11). The closest two mid-points sit 0.7 % apart (relative), so a cell holds at most one:
    // the count of mid-points below the cell's lowest value, plus one comparison, is the exact
    // count below any value in the cell.
    lut_.resize(size_t{1} << 20);
    for (uint32_t key = 0; key < (1u << 20); ++key) {
        uint32_t bits = key << 12;
        if (key & (1u << 19)) {
            bits |= 0xFFFu;  // negative cell: its lowest value has the largest magnitude
        }
        float lowest = 0;
        std::memcpy(&lowest, &bits, sizeof lowest);
        size_t below =
            std::isnan(lowest)
                ? 255
                : static_cast<size_t>(std::lower_bound(mids_.begin(), mids_.begin() + 255, lowest) -
                                      mids_.begin());
        lut_[key] = static_cast<uint8_t>(below);
    }
}

Blockwise Codec::quantize(const torch::Tensor& x, int block_size) const {
    if (!x.is_cpu()) {
        return q8::quantize(x, map_, block_size);
    }
    Blockwise q;
    q.numel = x.numel();
    const int64_t blocks = (q.numel + block_size - 1) / block_size;
    torch::Tensor flat = x.detach().to(torch::kFloat).contiguous().reshape({-1});
    q.codes = torch::empty({blocks * block_size}, torch::kUInt8);
    q.absmax = torch::empty({blocks}, torch::kFloat);
    const float* src = flat.data_ptr<float>();
    uint8_t* out = q.codes.data_ptr<uint8_t>();
    float* absmax = q.absmax.data_ptr<float>();
    const int64_t n = q.numel;
    const uint8_t zero_code = code_of(0.0f);
    parallel_chunks(blocks, /*min_chunk=*/16, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t lo = b * block_size;
            const int64_t hi = std::min(n, lo + block_size);
            float amax = 0.0f;
            for (int64_t i = lo; i < hi; ++i) {
                amax = std::max(amax, std::fabs(src[i]));
            }
            absmax[b] = amax;
            const float denom = std::max(amax, 1e-30f);
            for (int64_t i = lo; i < hi; ++i) {
                out[i] = code_of(src[i] / denom);  // a division, as the reference does
            }
            for (int64_t i = hi; i < lo + block_size; ++i) {
                out[i] = zero_code;  // padding of the last block
            }
        }
    });
    return q;
}

torch::Tensor Codec::dequantize(const Blockwise& q, at::IntArrayRef shape) const {
    if (!q.codes.is_cpu()) {
        return q8::dequantize(q, map_, shape);
    }
    const int64_t blocks = q.absmax.numel();
    const int64_t block_size = blocks > 0 ? q.codes.numel() / blocks : 1;
    torch::Tensor out = torch::empty({q.numel}, torch::kFloat);
    const float* table = map_.data_ptr<float>();
    const uint8_t* codes = q.codes.data_ptr<uint8_t>();
    const float* absmax = q.absmax.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const int64_t n = q.numel;
    parallel_chunks(blocks, /*min_chunk=*/16, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t hi = std::min(n, (b + 1) * block_size);
            for (int64_t i = b * block_size; i < hi; ++i) {
                dst[i] = table[codes[i]] * absmax[b];
            }
        }
    });
    return out.reshape(shape);
}

}  // namespace q8

}  // namespace gk::train
