// Activation recomputation of one encoder layer (recompute.h): a custom autograd function that
// saves the layer's input, the per-batch tables the layer reads (rotary, masks, unpadding plan),
// the autocast state and optionally the RNG state, and replays the layer in backward.
#include "greenknobs/model/recompute.h"

#include <mutex>
#include <string>
#include <vector>

#include <ATen/autocast_mode.h>

#include "greenknobs/model/autocast.h"
#include "greenknobs/util/error.h"

namespace gk::model {
namespace {

// Autocast state of this thread, saved at a checkpointed layer's forward and replayed in its
// recompute (model/autocast.h hides the 1.13 vs 2.x function names).
struct AutocastState {
    bool cpu_enabled = false;
    at::ScalarType cpu_dtype = at::kBFloat16;
    bool gpu_enabled = false;
    at::ScalarType gpu_dtype = at::kHalf;

    static AutocastState current() {
        AutocastState s;
        s.cpu_enabled = autocast_enabled(/*cuda=*/false);
        s.cpu_dtype = autocast_dtype(/*cuda=*/false);
        s.gpu_enabled = autocast_enabled(/*cuda=*/true);
        s.gpu_dtype = autocast_dtype(/*cuda=*/true);
        return s;
    }
    void apply() const {
        set_autocast_enabled(/*cuda=*/false, cpu_enabled);
        set_autocast_dtype(/*cuda=*/false, cpu_dtype);
        set_autocast_enabled(/*cuda=*/true, gpu_enabled);
        set_autocast_dtype(/*cuda=*/true, gpu_dtype);
    }
};

// Runs with the autocast weight-cast cache off: a cast cached while grad is off (the checkpointed
// forward) would carry no grad_fn and silently cut the weight gradients of the recompute.
struct NoAutocastCache {
    bool was = at::autocast::is_autocast_cache_enabled();
    NoAutocastCache() { at::autocast::set_autocast_cache_enabled(false); }
    ~NoAutocastCache() { at::autocast::set_autocast_cache_enabled(was); }
};

void put_tensor(torch::autograd::AutogradContext* ctx, const std::string& key,
                const torch::Tensor& t) {
    if (t.defined()) {
        ctx->saved_data[key] = t;
    }
}

torch::Tensor get_tensor(torch::autograd::AutogradContext* ctx, const std::string& key) {
    auto it = ctx->saved_data.find(key);
    return it == ctx->saved_data.end() ? torch::Tensor() : it->second.toTensor();
}

void put_plan(torch::autograd::AutogradContext* ctx, const std::string& key, const BlockPlan& p) {
    if (!p.defined()) {
        return;
    }
    put_tensor(ctx, key + ".q_index", p.q_index);
    put_tensor(ctx, key + ".k_index", p.k_index);
    put_tensor(ctx, key + ".bias", p.bias);
    put_tensor(ctx, key + ".token_slot", p.token_slot);
    ctx->saved_data[key + ".blocks"] = p.blocks;
    ctx->saved_data[key + ".block_q"] = p.block_q;
    ctx->saved_data[key + ".block_k"] = p.block_k;
}

BlockPlan get_plan(torch::autograd::AutogradContext* ctx, const std::string& key) {
    BlockPlan p;
    p.q_index = get_tensor(ctx, key + ".q_index");
    if (!p.q_index.defined()) {
        return p;
    }
    p.k_index = get_tensor(ctx, key + ".k_index");
    p.bias = get_tensor(ctx, key + ".bias");
    p.token_slot = get_tensor(ctx, key + ".token_slot");
    p.blocks = ctx->saved_data[key + ".blocks"].toInt();
    p.block_q = ctx->saved_data[key + ".block_q"].toInt();
    p.block_k = ctx->saved_data[key + ".block_k"].toInt();
    return p;
}

std::vector<torch::Tensor> trainable_params(torch::nn::Module& m) {
    std::vector<torch::Tensor> out;
    for (auto& p : m.parameters(/*recurse=*/true)) {
        if (p.requires_grad()) {
            out.push_back(p);
        }
    }
    return out;
}

// One encoder layer whose activations are recomputed in backward: forward keeps only its input.
struct LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, int64_t layer_addr,
                                 const torch::Tensor& x, at::TensorList params,
                                 const LayerInputs* in, bool save_rng) {
        auto* layer = reinterpret_cast<ModernBertEncoderLayerImpl*>(layer_addr);
        ctx->saved_data["layer"] = layer_addr;
        ctx->saved_data["n_params"] = static_cast<int64_t>(params.size());
        ctx->saved_data["x_requires_grad"] = x.requires_grad();
        put_tensor(ctx, "cos_global", in->cos_global);
        put_tensor(ctx, "sin_global", in->sin_global);
        put_tensor(ctx, "cos_local", in->cos_local);
        put_tensor(ctx, "sin_local", in->sin_local);
        put_tensor(ctx, "bias_global", in->bias_global);
        put_tensor(ctx, "bias_local", in->bias_local);
        put_tensor(ctx, "indices", in->indices);
        put_tensor(ctx, "rope_cos2_global", in->rope_cos2_global);
        put_tensor(ctx, "rope_sin2_global", in->rope_sin2_global);
        put_tensor(ctx, "rope_cos2_local", in->rope_cos2_local);
        put_tensor(ctx, "rope_sin2_local", in->rope_sin2_local);
        put_plan(ctx, "plan_global", in->plan_global);
        put_plan(ctx, "plan_local", in->plan_local);
        ctx->saved_data["row_groups"] = static_cast<int64_t>(in->row_groups.size());
        for (size_t g = 0; g < in->row_groups.size(); ++g) {
            const std::string key = "row_group." + std::to_string(g);
            put_tensor(ctx, key + ".rows", in->row_groups[g].rows);
            put_tensor(ctx, key + ".bias_global", in->row_groups[g].bias_global);
            put_tensor(ctx, key + ".bias_local", in->row_groups[g].bias_local);
            ctx->saved_data[key + ".len"] = in->row_groups[g].len;
        }
        put_tensor(ctx, "row_order_inverse", in->row_order_inverse);
        ctx->saved_data["batch"] = in->batch;
        ctx->saved_data["seq"] = in->seq;
        ctx->saved_data["sdpa"] = in->sdpa;
        ctx->saved_data["fused"] = in->fused;
        ctx->saved_data["spans.start"] = in->spans.start;
        ctx->saved_data["spans.len"] = in->spans.len;
        ctx->saved_data["window"] = in->window;
        ctx->saved_data["q_scale"] = in->q_scale;
        AutocastState ac = AutocastState::current();
        ctx->saved_data["ac_cpu"] = ac.cpu_enabled;
        ctx->saved_data["ac_cpu_dtype"] = static_cast<int64_t>(ac.cpu_dtype);
        ctx->saved_data["ac_gpu"] = ac.gpu_enabled;
        ctx->saved_data["ac_gpu_dtype"] = static_cast<int64_t>(ac.gpu_dtype);
        if (save_rng) {
            auto gen = at::detail::getDefaultCPUGenerator();
            std::lock_guard<std::mutex> lock(gen.mutex());
            ctx->saved_data["rng"] = gen.get_state();
        }
        ctx->save_for_backward({x});
        NoAutocastCache no_cache;
        return layer->forward(x, *in);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grad_out) {
        auto* layer =
            reinterpret_cast<ModernBertEncoderLayerImpl*>(ctx->saved_data["layer"].toInt());
        const int64_t n_params = ctx->saved_data["n_params"].toInt();
        LayerInputs in;
        in.cos_global = get_tensor(ctx, "cos_global");
        in.sin_global = get_tensor(ctx, "sin_global");
        in.cos_local = get_tensor(ctx, "cos_local");
        in.sin_local = get_tensor(ctx, "sin_local");
        in.bias_global = get_tensor(ctx, "bias_global");
        in.bias_local = get_tensor(ctx, "bias_local");
        in.indices = get_tensor(ctx, "indices");
        in.rope_cos2_global = get_tensor(ctx, "rope_cos2_global");
        in.rope_sin2_global = get_tensor(ctx, "rope_sin2_global");
        in.rope_cos2_local = get_tensor(ctx, "rope_cos2_local");
        in.rope_sin2_local = get_tensor(ctx, "rope_sin2_local");
        in.plan_global = get_plan(ctx, "plan_global");
        in.plan_local = get_plan(ctx, "plan_local");
        const int64_t row_groups = ctx->saved_data["row_groups"].toInt();
        for (int64_t g = 0; g < row_groups; ++g) {
            const std::string key = "row_group." + std::to_string(g);
            RowGroup rg;
            rg.rows = get_tensor(ctx, key + ".rows");
            rg.bias_global = get_tensor(ctx, key + ".bias_global");
            rg.bias_local = get_tensor(ctx, key + ".bias_local");
            rg.len = ctx->saved_data[key + ".len"].toInt();
            in.row_groups.push_back(rg);
        }
        in.row_order_inverse = get_tensor(ctx, "row_order_inverse");
        in.batch = ctx->saved_data["batch"].toInt();
        in.seq = ctx->saved_data["seq"].toInt();
        in.sdpa = ctx->saved_data["sdpa"].toBool();
        in.fused = ctx->saved_data["fused"].toBool();
        in.spans.start = ctx->saved_data["spans.start"].toIntVector();
        in.spans.len = ctx->saved_data["spans.len"].toIntVector();
        in.window = ctx->saved_data["window"].toInt();
        in.q_scale = ctx->saved_data["q_scale"].toDouble();
        AutocastState replay;
        replay.cpu_enabled = ctx->saved_data["ac_cpu"].toBool();
        replay.cpu_dtype = static_cast<at::ScalarType>(ctx->saved_data["ac_cpu_dtype"].toInt());
        replay.gpu_enabled = ctx->saved_data["ac_gpu"].toBool();
        replay.gpu_dtype = static_cast<at::ScalarType>(ctx->saved_data["ac_gpu_dtype"].toInt());

        torch::Tensor x = ctx->get_saved_variables()[0].detach();
        const bool x_grad = ctx->saved_data["x_requires_grad"].toBool();
        x.requires_grad_(x_grad);
        std::vector<torch::Tensor> params = trainable_params(*layer);
        GK_CHECK(static_cast<int64_t>(params.size()) == n_params,
                 "checkpointed layer's trainable parameters changed between forward and backward");

        torch::Tensor y;
        {
            torch::AutoGradMode grad_on(true);
            AutocastState outer = AutocastState::current();
            at::autocast::increment_nesting();
            replay.apply();
            NoAutocastCache no_cache;
            torch::Tensor rng_now;
            auto rng_it = ctx->saved_data.find("rng");
            auto gen = at::detail::getDefaultCPUGenerator();
            if (rng_it != ctx->saved_data.end()) {
                std::lock_guard<std::mutex> lock(gen.mutex());
                rng_now = gen.get_state();
                gen.set_state(rng_it->second.toTensor());
            }
            try {
                y = layer->forward(x, in);
            } catch (...) {
                outer.apply();
                at::autocast::decrement_nesting();
                throw;
            }
            if (rng_now.defined()) {
                std::lock_guard<std::mutex> lock(gen.mutex());
                gen.set_state(rng_now);
            }
            outer.apply();
            if (at::autocast::decrement_nesting() == 0) {
                at::autocast::clear_cache();
            }
        }
        std::vector<torch::Tensor> inputs;
        if (x_grad) {
            inputs.push_back(x);
        }
        inputs.insert(inputs.end(), params.begin(), params.end());
        std::vector<torch::Tensor> grads;
        if (!inputs.empty()) {
            grads = torch::autograd::grad({y}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                          /*create_graph=*/false, /*allow_unused=*/true);
        }
        torch::autograd::variable_list out;
        out.emplace_back();  // layer_addr
        size_t g = 0;
        out.push_back(x_grad ? grads[g++] : torch::Tensor());
        for (int64_t i = 0; i < n_params; ++i) {
            out.push_back(grads[g++]);
        }
        out.emplace_back();  // in
        out.emplace_back();  // save_rng
        return out;
    }
};

}  // namespace

torch::Tensor forward_recomputed(ModernBertEncoderLayerImpl& layer, const torch::Tensor& x,
                                 const LayerInputs& in, bool save_rng) {
    std::vector<torch::Tensor> params = trainable_params(layer);
    return LayerCheckpoint::apply(reinterpret_cast<int64_t>(&layer), x, at::TensorList(params), &in,
                                  save_rng);
}

}  // namespace gk::model
