// The spellings of RunConfig's closed sets (choices.h): one table per enum, in value order.
#include "greenknobs/config/choices.h"

#include "greenknobs/util/error.h"

namespace gk::config {

template <>
const std::vector<std::string>& spellings<DataFormat>() {
    static const std::vector<std::string> s = {"auto", "csv", "jsonl"};
    return s;
}
template <>
const std::vector<std::string>& spellings<DataMode>() {
    static const std::vector<std::string> s = {"natural", "paired"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Dedup>() {
    static const std::vector<std::string> s = {"none", "exact", "near"};
    return s;
}
template <>
const std::vector<std::string>& spellings<WeightsInit>() {
    static const std::vector<std::string> s = {"auto", "pretrained", "scratch"};
    return s;
}
template <>
const std::vector<std::string>& spellings<EnergyScope>() {
    static const std::vector<std::string> s = {"machine", "process"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Pooling>() {
    static const std::vector<std::string> s = {"mean", "cls"};
    return s;
}
template <>
const std::vector<std::string>& spellings<PruneFrom>() {
    static const std::vector<std::string> s = {"top", "bottom"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Attention>() {
    static const std::vector<std::string> s = {"eager", "sdpa"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Bf16Matmul>() {
    static const std::vector<std::string> s = {"auto", "libtorch", "fp32-gemm"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Optimizer>() {
    static const std::vector<std::string> s = {"adamw", "adamw8bit", "adamw_foreach"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Precision>() {
    static const std::vector<std::string> s = {"fp32", "bf16", "fp16"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Compile>() {
    static const std::vector<std::string> s = {"none", "torchscript"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Engine>() {
    static const std::vector<std::string> s = {"plain", "packed"};
    return s;
}
template <>
const std::vector<std::string>& spellings<EvalDtype>() {
    static const std::vector<std::string> s = {"train", "fp32", "bf16", "int8"};
    return s;
}
template <>
const std::vector<std::string>& spellings<Device>() {
    static const std::vector<std::string> s = {"cpu", "cuda"};
    return s;
}

template <typename E>
E parse_or_throw(const std::string& text, const std::string& origin, const std::string& key) {
    E v{};
    if (!parse(text, &v)) {
        throw InputError(origin, key, "got '" + text + "', expected one of " + choices<E>());
    }
    return v;
}

#define GK_CONFIG_ENUM_DEFINE(E)                                                                  \
    template E parse_or_throw<E>(const std::string&, const std::string&, const std::string&);     \
    void from_json(const nlohmann::json& j, E& v) {                                               \
        if (!j.is_string() || !parse(j.get<std::string>(), &v)) {                                 \
            throw std::invalid_argument("expected one of " + choices<E>() + ", got " + j.dump()); \
        }                                                                                         \
    }
GK_CONFIG_ENUM_DEFINE(DataFormat)
GK_CONFIG_ENUM_DEFINE(DataMode)
GK_CONFIG_ENUM_DEFINE(Dedup)
GK_CONFIG_ENUM_DEFINE(WeightsInit)
GK_CONFIG_ENUM_DEFINE(EnergyScope)
GK_CONFIG_ENUM_DEFINE(Pooling)
GK_CONFIG_ENUM_DEFINE(PruneFrom)
GK_CONFIG_ENUM_DEFINE(Attention)
GK_CONFIG_ENUM_DEFINE(Bf16Matmul)
GK_CONFIG_ENUM_DEFINE(Optimizer)
GK_CONFIG_ENUM_DEFINE(Precision)
GK_CONFIG_ENUM_DEFINE(Compile)
GK_CONFIG_ENUM_DEFINE(Engine)
GK_CONFIG_ENUM_DEFINE(EvalDtype)
GK_CONFIG_ENUM_DEFINE(Device)
#undef GK_CONFIG_ENUM_DEFINE

}  // namespace gk::config
