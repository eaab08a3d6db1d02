// See compile.h. The trace is taken with `self` = a jit::Module whose attributes are the C++
// module's own parameter and buffer tensors (no copies), so the graph reads weights through
// prim::GetAttr and torch::jit::freeze can fold them in as constants, as torch.jit.trace + freeze
// does in Python.
#include "greenknobs/adapters/compile.h"

#include <algorithm>
#include <chrono>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include "greenknobs/model/modernbert.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/log.h"

namespace gk::adapters {
namespace {

std::string attr_name(const std::string& dotted) {
    std::string s = dotted;
    for (auto& ch : s) {
        if (ch == '.') {
            ch = '_';
        }
    }
    return s;
}

}  // namespace

CompiledModel::CompiledModel(Classifier model, at::ScalarType autocast, Objects objects)
    : model_(std::move(model)), autocast_(autocast), objects_(std::move(objects)) {
    GK_CHECK(model_.module && model_.forward, "CompiledModel needs a module and its forward");
    auto* mb = dynamic_cast<model::ModernBertForSequenceClassificationImpl*>(model_.module.get());
    if (mb != nullptr && mb->unpad()) {
        // Unpadding gathers the real tokens with nonzero(mask): a trace would bake one batch's
        // indices in.
        throw InputError(
            "train.compile", "torchscript",
            "conflicts with model.unpad = true (data-dependent shapes cannot be traced)");
    }
}

CompiledModel::~CompiledModel() = default;

std::shared_ptr<torch::jit::Module> CompiledModel::trace_shape(int64_t batch, int64_t seq,
                                                               const torch::Device& device) {
    auto t0 = std::chrono::steady_clock::now();
    steps_.clear();
    auto jm = std::make_shared<torch::jit::Module>("gk_compiled_b" + std::to_string(batch) + "_s" +
                                                   std::to_string(seq));
    jm->register_attribute("training", c10::BoolType::get(), false);
    for (const auto& p : model_.module->named_parameters()) {
        jm->register_parameter(attr_name(p.key()), p.value(), /*is_buffer=*/false);
    }
    for (const auto& b : model_.module->named_buffers()) {
        jm->register_buffer(attr_name(b.key()), b.value());
    }
    for (const auto& [name, obj] : objects_) {
        jm->register_attribute(attr_name(name), obj.type(), obj);
    }
    // Example inputs: any ids, and a mask with one padded position so the model's padded-mask
    // branch is the one recorded (valid for unpadded rows too; a no-padding trace would drop the
    // mask entirely).
    auto ids = torch::ones({batch, seq}, torch::TensorOptions().dtype(torch::kLong).device(device));
    auto mask = torch::ones({batch, seq}, ids.options());
    if (seq > 1) {
        mask.index_put_({0, seq - 1}, 0);
    }
    const bool was_training = model_.module->is_training();
    model_.module->eval();
    std::shared_ptr<torch::jit::tracer::TracingState> state;
    try {
        torch::NoGradGuard no_grad;
        AutocastScope autocast(device, autocast_);
        auto fn = [this](torch::jit::Stack in) -> torch::jit::Stack {
            return {model_.forward(in.at(0).toTensor(), in.at(1).toTensor())};
        };
        state = torch::jit::tracer::trace(
                    {ids, mask}, fn, [](const torch::Tensor&) { return std::string(); },
                    /*strict=*/true, /*force_outplace=*/false, jm.get())
                    .first;
    } catch (...) {
        model_.module->train(was_training);
        throw;
    }
    model_.module->train(was_training);
    steps_.push_back("trace");
    auto graph = state->graph;
    auto cu = jm->_ivalue()->compilation_unit();
    auto fn = cu->create_function(c10::QualifiedName(*jm->type()->name(), "forward"), graph);
    jm->type()->addMethod(fn);
    jm->eval();
    std::shared_ptr<torch::jit::Module> out = jm;
    // A failed freeze or optimize leaves a model that still computes the same logits, slower: the
    // step is skipped, and recorded (failures()) so the run says so instead of presenting it as
    // compiled.
    auto skipped = [this](const std::string& step, const std::exception& e) {
        std::string why = e.what();
        why = why.substr(0, why.find('\n'));  // TorchScript errors carry a multi-line backtrace
        steps_.push_back(step + " skipped: " + why);
        const auto entry = std::make_pair(step, why);
        if (std::find(failures_.begin(), failures_.end(), entry) == failures_.end()) {
            failures_.push_back(entry);
            log::warn("torchscript: " + step + " failed (" + why + "); running without it");
        }
    };
    try {
        out = std::make_shared<torch::jit::Module>(torch::jit::freeze(*jm));
        steps_.push_back("freeze");
        try {
            out = std::make_shared<torch::jit::Module>(torch::jit::optimize_for_inference(*out));
            steps_.push_back("optimize_for_inference");
        } catch (const std::exception& e) {
            skipped("optimize_for_inference", e);
        }
    } catch (const std::exception& e) {
        skipped("freeze", e);
    }
    trace_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

torch::Tensor CompiledModel::forward(const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask) {
    GK_CHECK(input_ids.dim() == 2 && attention_mask.sizes() == input_ids.sizes(),
             "CompiledModel expects ids and mask of one [B, S] shape");
    const auto key = std::make_pair(input_ids.size(0), input_ids.size(1));
    auto it = cache_.find(key);
    if (it == cache_.end()) {
        it = cache_.emplace(key, trace_shape(key.first, key.second, input_ids.device())).first;
    }
    AutocastScope autocast(input_ids.device(), autocast_);
    return it->second->forward({input_ids, attention_mask}).toTensor();
}

}  // namespace gk::adapters
