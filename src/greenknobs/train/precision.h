// The `precision` knob (V7): fp32 (autocast off), bf16 autocast (CPU and CUDA), fp16 autocast with
// dynamic loss scaling (CUDA only). AutocastGuard is the RAII scope LibTorch 1.13 lacks in C++;
// GradScaler is the dynamic loss scaler of torch.cuda.amp (scale, unscale before clipping, skip on
// inf/nan, grow/backoff).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace gk::train {

enum class Precision { kFp32, kBf16, kFp16 };

// "fp32" | "bf16" | "fp16"; anything else is an InputError naming `train.precision`.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision p);
// Throws UnsupportedError with the reason when `p` cannot run on `device` (fp16 needs CUDA: there
// is no fp16 autocast on CPU here, and the knob catalog maps the paper's fp16 to bf16 on CPU).
void check_precision_supported(Precision p, const torch::Device& device);

// Enables autocast for `device` while alive and restores the previous state (enabled flag, dtype,
// nesting) on destruction, also during stack unwinding. fp32 is a no-op guard. Loss code should run
// in fp32 (cast the logits) — autocast does not do that for us.
class AutocastGuard {
  public:
    AutocastGuard(Precision p, const torch::Device& device);
    ~AutocastGuard();
    AutocastGuard(const AutocastGuard&) = delete;
    AutocastGuard& operator=(const AutocastGuard&) = delete;

  private:
    bool active_ = false;
    bool cuda_ = false;
    bool prev_enabled_ = false;
    at::ScalarType prev_dtype_ = at::kFloat;
};

// Dynamic loss scaling (torch.cuda.amp.GradScaler semantics). Disabled scalers pass everything
// through.
class GradScaler {
  public:
    struct Options {
        double init_scale = 65536.0;
        double growth_factor = 2.0;
        double backoff_factor = 0.5;
        int growth_interval = 2000;
    };
    explicit GradScaler(bool enabled) : GradScaler(enabled, Options()) {}
    GradScaler(bool enabled, Options options);

    bool enabled() const { return enabled_; }
    double scale() const { return scale_; }
    torch::Tensor scale_loss(const torch::Tensor& loss) const;  // loss × scale
    // Divides grads by the scale (once per step) and records whether any is inf/nan.
    void unscale(const std::vector<torch::Tensor>& params);
    bool found_inf() const { return found_inf_; }
    // Call after the (possibly skipped) optimizer step: backoff on inf, grow after growth_interval
    // clean steps.
    void update();
    int64_t skipped_steps() const { return skipped_steps_; }

  private:
    bool enabled_;
    Options options_;
    double scale_;
    bool unscaled_ = false;
    bool found_inf_ = false;
    int growth_tracker_ = 0;
    int64_t skipped_steps_ = 0;
};

}  // namespace gk::train
