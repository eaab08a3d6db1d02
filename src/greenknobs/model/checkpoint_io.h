// Small pieces shared by the HF checkpoint loaders (classifier and masked-LM): a safetensors tensor
// as an fp32 torch tensor, shapes in messages, and which head a checkpoint directory holds.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "greenknobs/model/safetensors.h"

namespace gk::model {

// "[a,b,c]" for error messages.
std::string shape_str(const std::vector<int64_t>& shape);
// A copy of tensor `t` of file `f` widened to fp32 (F32/BF16/F16/F64; other dtypes -> InputError).
torch::Tensor tensor_from(const SafetensorsFile& f, const StTensorInfo& t);
// config.json's architecture of a checkpoint directory: "ModernBertForMaskedLM",
// "ModernBertForSequenceClassification" or "ModernBertModel" (InputError if config.json is bad).
std::string checkpoint_architecture(const std::string& dir);

// Writes `params` to `path` as an fp32 safetensors file under their own names (HF's layout when the
// module registers HF's names), metadata {"format": "pt"} as torch's save_file writes.
void write_parameters(const std::string& path,
                      const torch::OrderedDict<std::string, torch::Tensor>& params);

// The prefix of the encoder's tensor names in an HF file: "model.", or "" for a bare
// ModernBertModel's save_pretrained (told by where the embeddings tensor is).
std::string hf_encoder_prefix(const SafetensorsFile& f);
// Our parameter name → the file's: our "model." names under `encoder_prefix`, the rest as they are.
std::function<std::string(const std::string&)> hf_file_names(const std::string& encoder_prefix);

// Copies each of `params` from `f`: parameter `ours` is the file's tensor `file_name(ours)`;
// parameters for which `skip(ours)` holds keep their values. A missing tensor or a shape other than
// the parameter's is an InputError naming `weights_path` and the tensor (and `config_path`, whose
// config implied it). Returns the file names used, so the caller can judge the file's other
// tensors.
std::set<std::string> copy_parameters(
    const SafetensorsFile& f, const torch::OrderedDict<std::string, torch::Tensor>& params,
    const std::function<std::string(const std::string&)>& file_name,
    const std::function<bool(const std::string&)>& skip, const std::string& weights_path,
    const std::string& config_path);

}  // namespace gk::model
