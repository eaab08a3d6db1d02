// Shared by the knob and catalog tests: which RunConfig leaf keys ("train.lr") differ between two
// configs. "knobs" and "name" are labels, not behaviour, and are left out.
#pragma once

#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"

namespace gk::testing {

inline void config_leaves(const nlohmann::json& j, const std::string& prefix,
                          std::map<std::string, nlohmann::json>* out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            config_leaves(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
        }
    } else {
        (*out)[prefix] = j;
    }
}

inline std::set<std::string> changed_keys(const gk::config::RunConfig& a,
                                          const gk::config::RunConfig& b) {
    std::map<std::string, nlohmann::json> la, lb;
    config_leaves(gk::config::to_json(a), "", &la);
    config_leaves(gk::config::to_json(b), "", &lb);
    std::set<std::string> out;
    for (const auto& [k, v] : la) {
        if (k != "knobs" && k != "name" && lb.at(k) != v) {
            out.insert(k);
        }
    }
    return out;
}

}  // namespace gk::testing
