// V3 quantization (the QLoRA recipe): a Linear's base weight is stored as int8 (per-output-channel
// absmax) or NF4 (block-wise absmax, two 4-bit codes per byte, optionally double-quantized absmax),
// its fp32 copy is freed, and forward dequantizes on the fly. The base is frozen; LoRA (lora.h)
// trains on top of it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "greenknobs/adapters/adapter.h"
#include "greenknobs/config/run_config.h"

namespace gk::adapters {

// The 16 NormalFloat levels of QLoRA (Dettmers et al. 2023, appendix E): quantiles of N(0,1) scaled
// to
// [-1, 1], with an exact zero. Ascending.
extern const std::array<float, 16> kNf4Levels;
// Half the widest gap between adjacent levels: the worst-case error of one code, in units of the
// block absmax.
float nf4_max_half_gap();

// A quantized weight and everything needed to dequantize it. Tensors live on the weight's device.
struct QuantizedTensor {
    int bits = 0;                // 8 = int8 per output channel | 4 = NF4 block-wise
    std::vector<int64_t> shape;  // the original shape, [out, in]
    torch::Tensor
        data;  // int8: int8 [out, in] | nf4: uint8 [ceil(n/2)], element 2i in the high nibble
    torch::Tensor
        scale;  // int8: fp32 [out] (absmax/127) | nf4: fp32 absmax [blocks] (undefined if dq)
    int64_t block_size = 0;  // nf4 only
    // NF4 double quantization (QLoRA §3): the fp32 block absmax is itself stored as int8 in blocks
    // of 256, symmetric around its mean: the absmax overhead drops from 32/64 = 0.5 to ~0.127 bits
    // per weight.
    bool double_quant = false;
    torch::Tensor absmax_q;      // int8 [blocks]
    torch::Tensor absmax_scale;  // fp32 [ceil(blocks/256)]
    double absmax_mean = 0.0;

    int64_t numel() const;
    int64_t bytes() const;  // storage of all tensors above
};

constexpr int64_t kDoubleQuantBlock = 256;

QuantizedTensor quantize_int8(const torch::Tensor& w);  // w: [out, in] fp32
QuantizedTensor quantize_nf4(const torch::Tensor& w, int64_t block_size, bool double_quant);
torch::Tensor dequantize(const QuantizedTensor& q);  // -> fp32, q.shape
// NF4 block absmax, undoing double quantization when present.
torch::Tensor nf4_absmax(const QuantizedTensor& q);  // [blocks] fp32

// Two 4-bit codes per byte: codes uint8 [n] (values 0..15) -> uint8 [ceil(n/2)]; unpack takes n
// back.
torch::Tensor pack_nibbles(const torch::Tensor& codes);
torch::Tensor unpack_nibbles(const torch::Tensor& packed, int64_t n);

// Holds a QuantizedTensor's tensors as buffers of a child module ("quant") of the Linear, so
// model.to(...) moves them and named_buffers() shows them. Registered as
// `<linear>.quant.{data,scale,absmax_q,...}`.
class QuantStoreImpl : public torch::nn::Module {
  public:
    explicit QuantStoreImpl(QuantizedTensor q);
    QuantizedTensor q;
};
TORCH_MODULE(QuantStore);

// The adapter: y = x·dequant(W)ᵀ + b, with W frozen. Backward recomputes dequant(W) instead of
// keeping an fp32 copy alive per layer, so training memory really holds only the packed weights.
class QuantAdapter : public Adapter {
  public:
    explicit QuantAdapter(QuantStore store) : store_(std::move(store)) {}
    torch::Tensor forward(model::LinearImpl& base, const torch::Tensor& x) override;
    // Writes dequant(W) as fp32 into base.weight and drops the packed store: saved weights are the
    // dequantized values (fp32), not the original ones.
    void merge(model::LinearImpl& base) override;
    std::string kind() const override { return store_->q.bits == 8 ? "int8" : "nf4"; }
    torch::Tensor effective_weight(model::LinearImpl& base) override;
    const QuantizedTensor& quantized() const { return store_->q; }

  private:
    QuantStore store_;
};

struct QuantReport {
    int bits = 0;
    int64_t block_size = 0;
    bool double_quant = false;
    int layers = 0;                    // Linears quantized
    int64_t weight_bytes_before = 0;   // their fp32 weights
    int64_t weight_bytes_after = 0;    // their packed weights + scales
    std::vector<std::string> skipped;  // head.* / classifier: trained in full, never quantized
};

// Quantizes every Linear's base weight except the head and classifier (which stay fp32 and
// trainable, as in QLoRA), frees the fp32 copies and freezes every base parameter. cfg.bits 0 =
// no-op; 8 or 4 else InputError. Call before apply_lora (LoRA then sits on the quantized base).
// Embeddings and norms stay fp32.
QuantReport quantize_model(torch::nn::Module& model, const config::QuantizationConfig& cfg,
                           bool double_quant = false);

}  // namespace gk::adapters
