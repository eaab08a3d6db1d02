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
#undef GK_CONFIG_ENUM_DEFINE

}  // namespace gk::config
