// See adapter.h.
#include "greenknobs/adapters/adapter.h"

#include "greenknobs/util/error.h"

namespace gk::adapters {

torch::Tensor Adapter::base_forward(const std::shared_ptr<model::LinearAdapter>& inner,
                                    model::LinearImpl& base, const torch::Tensor& x) {
    return inner ? inner->forward(base, x) : base.forward_base(x);
}

torch::Tensor Adapter::base_weight(const std::shared_ptr<model::LinearAdapter>& inner,
                                   model::LinearImpl& base) {
    if (!inner) {
        return base.weight.detach();
    }
    auto* ours = dynamic_cast<Adapter*>(inner.get());
    GK_CHECK(ours != nullptr, "adapter '" + inner->kind() + "' cannot report its effective weight");
    return ours->effective_weight(base);
}

std::vector<std::pair<std::string, std::shared_ptr<model::LinearImpl>>> named_linears(
    torch::nn::Module& root) {
    std::vector<std::pair<std::string, std::shared_ptr<model::LinearImpl>>> out;
    for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
        if (auto lin = std::dynamic_pointer_cast<model::LinearImpl>(item.value())) {
            out.emplace_back(item.key(), lin);
        }
    }
    return out;
}

bool name_matches(const std::string& name, const std::string& target) {
    if (name == target) {
        return true;
    }
    return name.size() > target.size() &&
           name.compare(name.size() - target.size(), target.size(), target) == 0 &&
           name[name.size() - target.size() - 1] == '.';
}

bool is_head_param(const std::string& param_name) {
    return param_name.rfind("head.", 0) == 0 || param_name.rfind("classifier.", 0) == 0;
}

ParamCounts count_params(torch::nn::Module& root) {
    ParamCounts c;
    for (const auto& p : root.parameters()) {
        c.total += p.numel();
        if (p.requires_grad()) {
            c.trainable += p.numel();
            c.trainable_bytes += p.numel() * static_cast<int64_t>(p.element_size());
        }
    }
    // A quantized Linear's fp32 weight was freed (0 elements); it still holds out×in parameters.
    for (const auto& [name, lin] : named_linears(root)) {
        if (lin->weight.numel() == 0) {
            c.total += lin->in_features * lin->out_features;
        }
    }
    return c;
}

int merge_adapters(torch::nn::Module& root) {
    int merged = 0;
    for (const auto& [name, lin] : named_linears(root)) {
        if (lin->adapter) {
            lin->adapter->merge(*lin);
            lin->adapter.reset();
            ++merged;
        }
    }
    return merged;
}

}  // namespace gk::adapters
