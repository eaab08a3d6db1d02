// See precision.h. LibTorch renamed the autocast state functions in 2.x (device-generic
// is_autocast_enabled(device_type) / set_autocast_dtype since 2.4); each version keeps one code
// path.
#include "greenknobs/train/precision.h"

#include <cmath>

#include <ATen/autocast_mode.h>

#include "greenknobs/model/autocast.h"
#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

using model::autocast_dtype;
using model::autocast_enabled;
using model::set_autocast_dtype;
using model::set_autocast_enabled;

}  // namespace

Precision parse_precision(const std::string& name) {
    if (name == "fp32") {
        return Precision::kFp32;
    }
    if (name == "bf16") {
        return Precision::kBf16;
    }
    if (name == "fp16") {
        return Precision::kFp16;
    }
    throw InputError("train.precision", "",
                     "unknown precision '" + name + "' (expected fp32, bf16 or fp16)");
}

std::string precision_name(Precision p) {
    switch (p) {
        case Precision::kFp32:
            return "fp32";
        case Precision::kBf16:
            return "bf16";
        case Precision::kFp16:
            return "fp16";
    }
    return "?";
}

void check_precision_supported(Precision p, const torch::Device& device) {
    if (p == Precision::kFp16 && !device.is_cuda()) {
        throw UnsupportedError(
            "precision fp16 needs a CUDA device: CPU autocast has no fp16 path and fp16 loss "
            "scaling exists to "
            "protect GPU fp16 gradients; use precision bf16 on CPU (the knob catalog maps the "
            "paper's fp16 to bf16)");
    }
}

AutocastGuard::AutocastGuard(Precision p, const torch::Device& device) {
    if (p == Precision::kFp32) {
        return;
    }
    check_precision_supported(p, device);
    cuda_ = device.is_cuda();
    prev_enabled_ = autocast_enabled(cuda_);
    prev_dtype_ = autocast_dtype(cuda_);
    set_autocast_enabled(cuda_, true);
    set_autocast_dtype(cuda_, p == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
    at::autocast::increment_nesting();
    active_ = true;
}

AutocastGuard::~AutocastGuard() {
    if (!active_) {
        return;
    }
    // The cast cache holds low-precision copies of the weights; it must not outlive the outermost
    // scope.
    if (at::autocast::decrement_nesting() == 0) {
        at::autocast::clear_cache();
    }
    set_autocast_enabled(cuda_, prev_enabled_);
    set_autocast_dtype(cuda_, prev_dtype_);
}

GradScaler::GradScaler(bool enabled, Options options)
    : enabled_(enabled), options_(options), scale_(options.init_scale) {}

torch::Tensor GradScaler::scale_loss(const torch::Tensor& loss) const {
    return enabled_ ? loss * scale_ : loss;
}

void GradScaler::unscale(const std::vector<torch::Tensor>& params) {
    if (!enabled_ || unscaled_) {
        return;
    }
    torch::NoGradGuard no_grad;
    const double inv = 1.0 / scale_;
    found_inf_ = false;
    std::vector<torch::Tensor> finite_checks;
    for (const auto& p : params) {
        if (!p.grad().defined()) {
            continue;
        }
        p.grad().mul_(inv);
        finite_checks.push_back(torch::isfinite(p.grad()).all());
    }
    if (!finite_checks.empty()) {
        // One host sync for all parameters.
        found_inf_ = !torch::stack(finite_checks).all().item<bool>();
    }
    unscaled_ = true;
}

void GradScaler::update() {
    if (!enabled_) {
        return;
    }
    if (found_inf_) {
        scale_ *= options_.backoff_factor;
        growth_tracker_ = 0;
        ++skipped_steps_;
    } else if (++growth_tracker_ >= options_.growth_interval) {
        scale_ *= options_.growth_factor;
        growth_tracker_ = 0;
    }
    unscaled_ = false;
    found_inf_ = false;
}

}  // namespace gk::train
