// See quant.h. Quantization runs once at load; dequantization runs in every forward and
// (recomputed) in every backward, as bitsandbytes does, so only the packed weights stay resident.
#include "greenknobs/adapters/quant.h"

#include <algorithm>
#include <cmath>

#include "greenknobs/model/bf16_matmul.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"

namespace gk::adapters {

const std::array<float, 16> kNf4Levels = {-1.0f,
                                          -0.6961928009986877f,
                                          -0.5250730514526367f,
                                          -0.39491748809814453f,
                                          -0.28444138169288635f,
                                          -0.18477343022823334f,
                                          -0.09105003625154495f,
                                          0.0f,
                                          0.07958029955625534f,
                                          0.16093020141124725f,
                                          0.24611230194568634f,
                                          0.33791524171829224f,
                                          0.44070982933044434f,
                                          0.5626170039176941f,
                                          0.7229568362236023f,
                                          1.0f};

float nf4_max_half_gap() {
    float gap = 0;
    for (size_t i = 1; i < kNf4Levels.size(); ++i) {
        gap = std::max(gap, kNf4Levels[i] - kNf4Levels[i - 1]);
    }
    return gap / 2;
}

namespace {

torch::Tensor levels_on(const torch::Device& device) {
    return torch::tensor(std::vector<float>(kNf4Levels.begin(), kNf4Levels.end()),
                         torch::TensorOptions().dtype(torch::kFloat32).device(device));  // [16]
}

int64_t tensor_bytes(const torch::Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

}  // namespace

int64_t QuantizedTensor::numel() const {
    int64_t n = 1;
    for (auto d : shape) {
        n *= d;
    }
    return n;
}

int64_t QuantizedTensor::bytes() const {
    return tensor_bytes(data) + tensor_bytes(scale) + tensor_bytes(absmax_q) +
           tensor_bytes(absmax_scale) +
           (double_quant ? static_cast<int64_t>(sizeof(float)) : 0);  // the mean
}

QuantizedTensor quantize_int8(const torch::Tensor& w) {
    GK_CHECK(w.dim() == 2, "quantize_int8 expects [out, in]");
    torch::NoGradGuard no_grad;
    auto wf = w.detach().to(torch::kFloat32);
    QuantizedTensor q;
    q.bits = 8;
    q.shape = wf.sizes().vec();
    // Symmetric per output channel: scale = absmax/127, so |w - q·scale| <= scale/2 for every
    // element.
    auto absmax = wf.abs().amax(/*dim=*/1);                                    // [out]
    q.scale = (absmax / 127.0f).clamp_min(std::numeric_limits<float>::min());  // [out]
    q.data =
        torch::round(wf / q.scale.unsqueeze(1)).clamp(-127, 127).to(torch::kInt8);  // [out, in]
    return q;
}

torch::Tensor pack_nibbles(const torch::Tensor& codes) {
    auto c = codes.to(torch::kUInt8).flatten();
    if (c.numel() % 2 != 0) {
        c = torch::cat({c, torch::zeros({1}, c.options())});
    }
    auto pairs = c.view({-1, 2});                                           // [n/2, 2]
    return torch::bitwise_or(pairs.select(1, 0) * 16, pairs.select(1, 1));  // high nibble first
}

torch::Tensor unpack_nibbles(const torch::Tensor& packed, int64_t n) {
    auto hi = torch::bitwise_right_shift(packed, 4);
    auto lo = torch::bitwise_and(packed, 15);
    return torch::stack({hi, lo}, /*dim=*/1).flatten().slice(0, 0, n);  // [n] uint8
}

QuantizedTensor quantize_nf4(const torch::Tensor& w, int64_t block_size, bool double_quant) {
    if (block_size <= 0 || block_size % 2 != 0) {
        throw InputError("quantization.block_size", std::to_string(block_size),
                         "expected a positive even number of weights per NF4 block");
    }
    torch::NoGradGuard no_grad;
    auto wf = w.detach().to(torch::kFloat32).flatten();
    QuantizedTensor q;
    q.bits = 4;
    q.shape = w.sizes().vec();
    q.block_size = block_size;
    const int64_t n = wf.numel();
    const int64_t blocks = (n + block_size - 1) / block_size;
    auto padded = torch::zeros({blocks * block_size}, wf.options());
    padded.slice(0, 0, n).copy_(wf);
    auto grid = padded.view({blocks, block_size});  // [blocks, block]
    auto absmax = grid.abs().amax(/*dim=*/1);       // [blocks]
    auto normed =
        grid / absmax.clamp_min(std::numeric_limits<float>::min()).unsqueeze(1);  // in [-1, 1]
    // Nearest level: bucketize against the midpoints between adjacent levels.
    auto lv = levels_on(wf.device());
    auto mids = (lv.slice(0, 1) + lv.slice(0, 0, 15)) / 2;                 // [15]
    auto codes = torch::bucketize(normed.flatten(), mids).slice(0, 0, n);  // [n] int64, 0..15
    q.data = pack_nibbles(codes);
    if (!double_quant) {
        q.scale = absmax;
        return q;
    }
    q.double_quant = true;
    q.absmax_mean = absmax.mean().item<double>();
    auto centred = absmax - q.absmax_mean;
    const int64_t dq_blocks = (blocks + kDoubleQuantBlock - 1) / kDoubleQuantBlock;
    auto cpad = torch::zeros({dq_blocks * kDoubleQuantBlock}, centred.options());
    cpad.slice(0, 0, blocks).copy_(centred);
    auto cgrid = cpad.view({dq_blocks, kDoubleQuantBlock});
    q.absmax_scale = (cgrid.abs().amax(1) / 127.0f).clamp_min(std::numeric_limits<float>::min());
    q.absmax_q = torch::round(cgrid / q.absmax_scale.unsqueeze(1))
                     .clamp(-127, 127)
                     .to(torch::kInt8)
                     .flatten()
                     .slice(0, 0, blocks)
                     .clone();
    return q;
}

torch::Tensor nf4_absmax(const QuantizedTensor& q) {
    if (!q.double_quant) {
        return q.scale;
    }
    const int64_t blocks = q.absmax_q.numel();
    auto scale = q.absmax_scale.repeat_interleave(kDoubleQuantBlock).slice(0, 0, blocks);
    return q.absmax_q.to(torch::kFloat32) * scale + q.absmax_mean;  // [blocks]
}

torch::Tensor dequantize(const QuantizedTensor& q) {
    torch::NoGradGuard no_grad;
    if (q.bits == 8) {
        return q.data.to(torch::kFloat32) * q.scale.unsqueeze(1);  // [out, in]
    }
    GK_CHECK(q.bits == 4, "dequantize: unknown bit width " + std::to_string(q.bits));
    const int64_t n = q.numel();
    auto codes = unpack_nibbles(q.data, n).to(torch::kLong);          // [n]
    auto values = levels_on(q.data.device()).index_select(0, codes);  // [n]
    auto absmax = nf4_absmax(q);                                      // [blocks]
    const int64_t blocks = absmax.numel();
    auto padded = torch::zeros({blocks * q.block_size}, values.options());
    padded.slice(0, 0, n).copy_(values);
    auto w = padded.view({blocks, q.block_size}) * absmax.unsqueeze(1);
    return w.flatten().slice(0, 0, n).view(q.shape);
}

QuantStoreImpl::QuantStoreImpl(QuantizedTensor qt) : q(std::move(qt)) {
    // The buffers and q's members are the same tensors, so module.to(device) moves what q points
    // at.
    q.data = register_buffer("data", q.data);
    if (q.scale.defined()) {
        q.scale = register_buffer("scale", q.scale);
    }
    if (q.double_quant) {
        q.absmax_q = register_buffer("absmax_q", q.absmax_q);
        q.absmax_scale = register_buffer("absmax_scale", q.absmax_scale);
    }
}

namespace {

// y = x·dequant(W)ᵀ with nothing of W saved for backward but the packed tensors (held by the module
// anyway); backward dequantizes again. W is frozen: only x receives a gradient. The (frozen) bias
// is added outside: an undefined tensor cannot be a Function input.
struct DequantLinearFn : public torch::autograd::Function<DequantLinearFn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                                 const QuantizedTensor* q) {
        auto w = dequantize(*q);
        // Keep the quantized tensors (no copy: they are the module's buffers) and the few scalars.
        ctx->saved_data["bits"] = static_cast<int64_t>(q->bits);
        ctx->saved_data["shape"] = q->shape;
        ctx->saved_data["data"] = q->data;
        ctx->saved_data["block_size"] = q->block_size;
        ctx->saved_data["double_quant"] = q->double_quant;
        ctx->saved_data["absmax_mean"] = q->absmax_mean;
        ctx->saved_data["scale"] = q->scale.defined() ? q->scale : torch::Tensor();
        ctx->saved_data["absmax_q"] = q->absmax_q.defined() ? q->absmax_q : torch::Tensor();
        ctx->saved_data["absmax_scale"] =
            q->absmax_scale.defined() ? q->absmax_scale : torch::Tensor();
        ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
        // Under autocast, linear casts to the autocast dtype itself.
        return model::linear(x, w);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grad_out) {
        QuantizedTensor q;
        q.bits = static_cast<int>(ctx->saved_data["bits"].toInt());
        q.shape = ctx->saved_data["shape"].toIntVector();
        q.data = ctx->saved_data["data"].toTensor();
        q.block_size = ctx->saved_data["block_size"].toInt();
        q.double_quant = ctx->saved_data["double_quant"].toBool();
        q.absmax_mean = ctx->saved_data["absmax_mean"].toDouble();
        q.scale = ctx->saved_data["scale"].toTensor();
        q.absmax_q = ctx->saved_data["absmax_q"].toTensor();
        q.absmax_scale = ctx->saved_data["absmax_scale"].toTensor();
        auto x_dtype = static_cast<torch::ScalarType>(ctx->saved_data["x_dtype"].toInt());
        const auto& gy = grad_out[0];  // [..., out]
        auto w = dequantize(q).to(gy.scalar_type());
        auto gx = model::linear(gy, w.t()).to(x_dtype);  // [..., in]: gy·w
        return {gx, torch::Tensor()};
    }
};

}  // namespace

torch::Tensor QuantAdapter::forward(model::LinearImpl& base, const torch::Tensor& x) {
    auto y = DequantLinearFn::apply(x, &store_->q);  // [..., out]
    return base.bias.defined() ? y + base.bias : y;
}

torch::Tensor QuantAdapter::effective_weight(model::LinearImpl& /*base*/) {
    return dequantize(store_->q);
}

void QuantAdapter::merge(model::LinearImpl& base) {
    torch::NoGradGuard no_grad;
    auto w = dequantize(store_->q).to(base.weight.device());
    base.weight.set_(w);
    base.unregister_module("quant");
}

QuantReport quantize_model(torch::nn::Module& model, const config::QuantizationConfig& cfg,
                           bool double_quant) {
    QuantReport rep;
    rep.bits = cfg.bits;
    rep.block_size = cfg.bits == 4 ? cfg.block_size : 0;
    rep.double_quant = cfg.bits == 4 && double_quant;
    if (cfg.bits == 0) {
        return rep;
    }
    if (cfg.bits != 8 && cfg.bits != 4) {
        throw InputError("quantization.bits", std::to_string(cfg.bits),
                         "expected 0 (off), 8 (int8 per channel) or 4 (NF4)");
    }
    torch::NoGradGuard no_grad;
    for (auto& item : model.named_parameters()) {
        item.value().set_requires_grad(is_head_param(item.key()));
    }
    for (const auto& [name, lin] : named_linears(model)) {
        if (is_head_param(name + ".weight")) {
            rep.skipped.push_back(name);
            continue;
        }
        GK_CHECK(!lin->adapter, name + " already has an adapter (" +
                                    (lin->adapter ? lin->adapter->kind() : "") +
                                    "): quantize before apply_lora");
        GK_CHECK(lin->weight.numel() > 0, name + " has no fp32 weight to quantize");
        rep.weight_bytes_before +=
            lin->weight.numel() * static_cast<int64_t>(lin->weight.element_size());
        QuantizedTensor q = cfg.bits == 8 ? quantize_int8(lin->weight)
                                          : quantize_nf4(lin->weight, cfg.block_size, double_quant);
        rep.weight_bytes_after += q.bytes();
        auto store = lin->register_module("quant", QuantStore(std::move(q)));
        lin->adapter = std::make_shared<QuantAdapter>(QuantStore(store));
        // Free the fp32 weight in place: the registered parameter and the member share one
        // TensorImpl.
        lin->weight.set_requires_grad(false);
        lin->weight.set_();
        ++rep.layers;
    }
    log::info("quantization: " + std::to_string(rep.layers) + " Linears to " +
              (cfg.bits == 8 ? std::string("int8") : std::string("nf4")) + ", weights " +
              std::to_string(rep.weight_bytes_before / 1024) + " KiB -> " +
              std::to_string(rep.weight_bytes_after / 1024) + " KiB");
    return rep;
}

}  // namespace gk::adapters
