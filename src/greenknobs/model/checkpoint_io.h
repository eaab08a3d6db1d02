// Small pieces shared by the HF checkpoint loaders (classifier and masked-LM): a safetensors tensor
// as an fp32 torch tensor, shapes in messages, and which head a checkpoint directory holds.
#pragma once

#include <cstdint>
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

}  // namespace gk::model
