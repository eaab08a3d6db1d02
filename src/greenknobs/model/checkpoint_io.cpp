// Shared pieces of the HF checkpoint loaders (see checkpoint_io.h).
#include "greenknobs/model/checkpoint_io.h"

#include "greenknobs/model/config.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::model {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        out += (i ? "," : "") + std::to_string(s[i]);
    }
    return out + "]";
}

torch::Tensor tensor_from(const SafetensorsFile& f, const StTensorInfo& t) {
    torch::ScalarType st;
    switch (t.dtype) {
        case StDtype::kF32:
            st = torch::kFloat;
            break;
        case StDtype::kF16:
            st = torch::kHalf;
            break;
        case StDtype::kBF16:
            st = torch::kBFloat16;
            break;
        case StDtype::kF64:
            st = torch::kDouble;
            break;
        default:
            throw InputError(f.origin(), t.name,
                             "dtype " + st_dtype_name(t.dtype) +
                                 " is not a floating-point weight (expected F32, "
                                 "BF16, F16 or F64)");
    }
    // from_blob does not own the bytes: clone, then widen to the model's fp32.
    auto raw =
        torch::from_blob(const_cast<char*>(f.data(t)), t.shape, torch::TensorOptions().dtype(st));
    return raw.to(torch::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

std::string checkpoint_architecture(const std::string& dir) {
    return load_config(fs::join(dir, "config.json")).architecture();
}

std::set<std::string> copy_parameters(const SafetensorsFile& f,
                                      const torch::OrderedDict<std::string, torch::Tensor>& params,
                                      const std::function<std::string(const std::string&)>& file_name,
                                      const std::function<bool(const std::string&)>& skip,
                                      const std::string& weights_path,
                                      const std::string& config_path) {
    std::set<std::string> used;
    torch::NoGradGuard no_grad;
    for (const auto& item : params) {
        const std::string& ours = item.key();
        if (skip(ours)) {
            continue;
        }
        const std::string name = file_name(ours);
        const StTensorInfo* t = f.find(name);
        if (!t) {
            throw InputError(weights_path, name, "missing tensor (" + config_path + " implies it)");
        }
        std::vector<int64_t> want(item.value().sizes().begin(), item.value().sizes().end());
        if (t->shape != want) {
            throw InputError(weights_path, name,
                             "shape " + shape_str(t->shape) + " but " + config_path + " implies " +
                                 shape_str(want));
        }
        item.value().copy_(tensor_from(f, *t));
        used.insert(name);
    }
    return used;
}

void write_parameters(const std::string& path,
                      const torch::OrderedDict<std::string, torch::Tensor>& params) {
    std::vector<torch::Tensor> keep;  // owns the fp32 contiguous copies while writing
    std::vector<StTensorView> views;
    for (const auto& item : params) {
        torch::Tensor t = item.value().detach().to(torch::kCPU).to(torch::kFloat).contiguous();
        keep.push_back(t);
        StTensorView v;
        v.name = item.key();
        v.dtype = StDtype::kF32;
        v.shape.assign(t.sizes().begin(), t.sizes().end());
        v.data = t.data_ptr();
        v.nbytes = static_cast<size_t>(t.numel()) * sizeof(float);
        views.push_back(v);
    }
    write_safetensors(path, views, {{"format", "pt"}});
}

}  // namespace gk::model
