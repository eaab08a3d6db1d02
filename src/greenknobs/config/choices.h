// The closed sets of a RunConfig: one enum each, spelled in one table (choices.cpp). The spellings
// are what config files, --set, run.json and the canonical JSON (hence the config hash) use; code
// compares enums. nlohmann::json converts them through to_json/from_json below.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace gk::config {

enum class DataFormat { kAuto, kCsv, kJsonl };  // auto: by the file's extension
enum class DataMode { kNatural, kPaired };  // natural: func_before+vul | paired: before→1, after→0
enum class Dedup { kNone, kExact, kNear };  // whitespace-normalised exact / MinHash near-duplicates
enum class WeightsInit { kAuto, kPretrained, kScratch };  // where the encoder's weights come from
enum class EnergyScope { kMachine, kProcess };  // what the CPU and RAM models charge to a run
enum class Pooling { kMean, kCls };
enum class PruneFrom { kTop, kBottom };  // top: the last n layers (nearest the output)
enum class Attention { kEager, kSdpa };
// How a bf16 product runs on the CPU (model/bf16_matmul.h): auto = fp32-gemm where LibTorch's bf16
// GEMM is its reference loop, else libtorch.
enum class Bf16Matmul { kAuto, kLibtorch, kFp32Gemm };
enum class Optimizer { kAdamw, kAdamw8bit, kAdamwForeach };
enum class Precision { kFp32, kBf16, kFp16 };  // autocast dtype of a training step
enum class Compile { kNone, kTorchscript };
enum class Engine { kPlain, kPacked };                 // the evaluate stage's path
enum class EvalDtype { kTrain, kFp32, kBf16, kInt8 };  // train: the training precision's
enum class Device { kCpu, kCuda };

// An enum's spellings, in the order of its values.
template <typename E>
const std::vector<std::string>& spellings();

template <typename E>
const std::string& to_string(E value) {
    static_assert(std::is_enum_v<E>, "to_string<E>: E is one of the enums above");
    return spellings<E>()[static_cast<size_t>(value)];
}

// The value spelled `text`; false (and *out untouched) when `text` is not a spelling of E.
template <typename E>
bool parse(const std::string& text, E* out) {
    const auto& all = spellings<E>();
    for (size_t i = 0; i < all.size(); ++i) {
        if (all[i] == text) {
            *out = static_cast<E>(i);
            return true;
        }
    }
    return false;
}

// "a | b | c": the spellings for messages and help.
template <typename E>
std::string choices() {
    std::string s;
    for (const auto& name : spellings<E>()) {
        s += (s.empty() ? "" : " | ") + name;
    }
    return s;
}

// The value spelled `text`, or an InputError naming `origin` and `key` ("got 'x', expected one of
// a | b").
template <typename E>
E parse_or_throw(const std::string& text, const std::string& origin, const std::string& key);

// Each enum's spelling table (defined in choices.cpp) and its JSON as the spelling. from_json
// throws std::invalid_argument for anything else (RunConfig's decoder checks every spelling first,
// naming the key).
#define GK_CONFIG_ENUM_JSON(E)                                        \
    template <>                                                       \
    const std::vector<std::string>& spellings<E>();                   \
    inline void to_json(nlohmann::json& j, E v) { j = to_string(v); } \
    void from_json(const nlohmann::json& j, E& v);
GK_CONFIG_ENUM_JSON(DataFormat)
GK_CONFIG_ENUM_JSON(DataMode)
GK_CONFIG_ENUM_JSON(Dedup)
GK_CONFIG_ENUM_JSON(WeightsInit)
GK_CONFIG_ENUM_JSON(EnergyScope)
GK_CONFIG_ENUM_JSON(Pooling)
GK_CONFIG_ENUM_JSON(PruneFrom)
GK_CONFIG_ENUM_JSON(Attention)
GK_CONFIG_ENUM_JSON(Bf16Matmul)
GK_CONFIG_ENUM_JSON(Optimizer)
GK_CONFIG_ENUM_JSON(Precision)
GK_CONFIG_ENUM_JSON(Compile)
GK_CONFIG_ENUM_JSON(Engine)
GK_CONFIG_ENUM_JSON(EvalDtype)
GK_CONFIG_ENUM_JSON(Device)
#undef GK_CONFIG_ENUM_JSON

}  // namespace gk::config
