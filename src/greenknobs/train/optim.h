// Optimizers of the `optimizer` knob (V6) behind one small interface, plus the pieces of the update
// rule every one of them shares: HF's weight-decay grouping, the linear warm-up/decay schedule and
// global-norm gradient clipping. Each optimizer reports the bytes its state really holds.
// adamw: torch::optim::AdamW (decoupled weight decay), the baseline; on CPU its update runs as one
// fused pass per tensor (AdamWHyper::fused) instead of LibTorch's nine tensor operations.
// adamw_foreach: the same update with at::_foreach_* multi-tensor ops. LibTorch 1.13 has them, but
// on CPU they loop over per-tensor kernels (the fused kernels are CUDA only): no CPU gain.
// adamw8bit: bitsandbytes' recipe. Both moments are stored as uint8 codes of a dynamic (log-spaced)
// map with one fp32 absmax per block, dequantized, updated and requantized each step; fp32 weights.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace gk::train {

// HF Trainer's split: biases and normalisation weights get no weight decay.
struct ParamGroups {
    std::vector<torch::Tensor> decay;
    std::vector<torch::Tensor> no_decay;
    std::vector<std::string> decay_names;
    std::vector<std::string> no_decay_names;
};
// Trainable (requires_grad) parameters only. A parameter is "no decay" when its name is `bias` or
// contains "norm", or its module is a torch LayerNorm or has "norm" in its name (ModernBERT:
// embeddings.norm, attn_norm, mlp_norm, final_norm, head.norm) — the module-type rule of HF, by
// name because our norms are our own modules.
ParamGroups group_parameters(const torch::nn::Module& module);

struct AdamWHyper {
    double lr = 3e-4;
    double weight_decay = 0.01;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    // adamw: one fused pass per tensor where every parameter and gradient is a contiguous fp32 CPU
    // tensor (the update rule of LibTorch's AdamW, its state in LibTorch's format, so checkpoints
    // read either way); LibTorch's own loop of nine tensor operations elsewhere, or when false.
    bool fused = true;
};

class Optimizer {
  public:
    virtual ~Optimizer() = default;
    virtual void step() = 0;             // one update from the current .grad of every parameter
    virtual void set_lr(double lr) = 0;  // the schedule's value for the next step
    // Bytes of optimizer state held now (0 before the first step).
    virtual int64_t state_bytes() const = 0;
    virtual std::string name() const = 0;
    // How its steps ran, for the run record: "libtorch", "fused-cpu", or "fused-cpu+libtorch"
    // when some steps fell back.
    virtual std::string implementation() const { return "libtorch"; }
    // The whole optimizer state to / from a file (resumable pretraining). Optimizers without it
    // throw InputError naming `train.optimizer`.
    virtual void save_state(const std::string& path) const;
    virtual void load_state(const std::string& path);
    void zero_grad();  // grads set to undefined ("set_to_none")
    const std::vector<torch::Tensor>& params() const { return params_; }

  protected:
    std::vector<torch::Tensor> params_;  // decay group first, then no-decay
};

// kind: adamw | adamw_foreach | adamw8bit. block_size (8-bit only): 2048 (bitsandbytes' optimizer
// default) or 256. Unknown kinds throw InputError naming `train.optimizer`.
std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const ParamGroups& groups,
                                          const AdamWHyper& hyper, int block_size = 2048);

// HF get_linear_schedule_with_warmup: lr·step/warmup while warming up, then linearly to 0 at
// total_steps. As in HF the scheduler advances after each optimizer step, so step 0 runs at lr 0
// when warmup > 0.
class LinearSchedule {
  public:
    LinearSchedule(double peak_lr, int64_t warmup_steps, int64_t total_steps);
    double lr_at(int64_t step) const;
    int64_t warmup_steps() const { return warmup_steps_; }
    int64_t total_steps() const { return total_steps_; }

  private:
    double peak_lr_;
    int64_t warmup_steps_;
    int64_t total_steps_;
};
// HF TrainingArguments.get_warmup_steps: ceil(ratio × total).
int64_t warmup_steps_for(double warmup_ratio, int64_t total_steps);

// Scales all gradients so their global L2 norm is at most max_norm (max_norm <= 0: measure only).
// Returns the norm before clipping (may be inf/nan; callers with a GradScaler check first).
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// The 8-bit state codec, exposed for tests and benches.
namespace q8 {
// The 256 sorted code values: signed (first moment, in [-1, 1]) or unsigned (second moment, in [0,
// 1]). Dynamic map: 7 decades 1e-6…1 with 2^i (signed) or 2^(i+1) (unsigned) linear bins in decade
// i, plus 0 and 1 — bitsandbytes' "dynamic tree" idea: relative precision is what Adam's moments
// need, across magnitudes.
torch::Tensor dynamic_map(bool is_signed);  // [256] float
struct Blockwise {
    torch::Tensor codes;   // [blocks × block_size] uint8 (the tail of the last block is padding)
    torch::Tensor absmax;  // [blocks] float
    int64_t numel = 0;
    int64_t bytes() const;
};
// Reference codec in tensor ops (any device): block absmax, x / absmax, nearest code by bucketize.
Blockwise quantize(const torch::Tensor& x, const torch::Tensor& map, int block_size);
torch::Tensor dequantize(const Blockwise& q, const torch::Tensor& map, at::IntArrayRef shape);

// The codec the optimizer uses: bit-identical to the reference, ~10x faster on CPU through a
// 2^20-entry table indexed by a float's sign, exponent and top mantissa bits (other devices use the
// reference).
class Codec {
  public:
    explicit Codec(bool is_signed);
    const torch::Tensor& map() const { return map_; }
    Blockwise quantize(const torch::Tensor& x, int block_size) const;
    torch::Tensor dequantize(const Blockwise& q, at::IntArrayRef shape) const;

  private:
    uint8_t code_of(float v) const {
        uint32_t bits = 0;
        std::memcpy(&bits, &v, sizeof bits);
        uint8_t c = lut_[bits >> 12];
        return static_cast<uint8_t>(c + (mids_[c] < v ? 1 : 0));
    }
    torch::Tensor map_;              // [256]
    std::array<float, 256> mids_{};  // mid-points between codes; [255] = +inf
    std::vector<uint8_t> lut_;       // per cell: mid-points below the cell's lowest value
};
}  // namespace q8

}  // namespace gk::train
