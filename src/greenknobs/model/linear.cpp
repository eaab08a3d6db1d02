// See linear.h. Initialisation follows HF ModernBERT's truncated normal (std 0.02, cutoff 2 std) in
// the model's init routine; here only shapes are created.
#include "greenknobs/model/linear.h"

#include "greenknobs/model/bf16_matmul.h"

namespace gk::model {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias)
    : in_features(in), out_features(out) {
    weight = register_parameter("weight", torch::empty({out, in}));
    torch::nn::init::normal_(weight, 0.0, 0.02);
    if (with_bias) {
        bias = register_parameter("bias", torch::zeros({out}));
    }
}

torch::Tensor LinearImpl::forward_base(const torch::Tensor& x) {
    return model::linear(x, weight, bias);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
    if (adapter) {
        return adapter->forward(*this, x);
    }
    return forward_base(x);
}

}  // namespace gk::model
