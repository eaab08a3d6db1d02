// Building the search space from the registry; see space.h for the rules.
#include "greenknobs/tune/space.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/util/error.h"

namespace gk::tune {

using nlohmann::json;

namespace {

json config_value(const config::RunConfig& c, const std::string& dotted_key) {
    const json j = config::to_json(c);
    const json::json_pointer p = knobs::config_pointer(dotted_key);
    return j.contains(p) ? j.at(p) : json();
}

// What runs: `c`, or where it does not run on CUDA, `c` with every field that acts only there
// (ParamSpec::cuda_only) set back to `base`'s. Two levels that differ only in such a field (loader
// with and without pinned memory) would spend a screening run each on the same work.
config::RunConfig what_runs(const config::RunConfig& c, const config::RunConfig& base) {
    if (c.system.device == config::Device::kCuda) {
        return c;
    }
    json j = config::to_json(c);
    const json b = config::to_json(base);
    for (const auto& k : knobs::registry()) {
        for (const auto& p : k.params) {
            const json::json_pointer at = knobs::config_pointer(p.config_key);
            if (p.cuda_only && b.contains(at)) {
                j[at] = b.at(at);
            }
        }
    }
    return config::from_json(j, "tune space");
}

// Candidate values of a knob's primary parameter: its choices, or for a number half the
// registry's default, half the base's value, double the default and a quarter of the base's value
// (clipped to the range). Checked and deduplicated later by applying them.
std::vector<json> primary_levels(const knobs::ParamSpec& p, const json& current) {
    std::vector<json> out;
    if (p.type == "bool") {
        out.push_back(!p.default_value.get<bool>());
        return out;
    }
    if (!p.choices.empty()) {
        for (const auto& c : p.choices) {
            if (p.type == "int") {
                out.push_back(std::stoll(c));
            } else if (p.type == "string") {
                out.push_back(c);
            }
        }
        return out;
    }
    if (p.type != "int" && p.type != "float") {
        return out;
    }
    const double def = p.default_value.get<double>();
    const double cur = current.is_number() ? current.get<double>() : def;
    for (double v : {def / 2, cur / 2, def * 2, cur / 4}) {
        if (p.min < p.max) {
            v = std::min(std::max(v, p.min), p.max);
        }
        if (p.type == "int") {
            out.push_back(static_cast<int64_t>(std::llround(v)));
        } else {
            out.push_back(v);
        }
    }
    return out;
}

}  // namespace

config::RunConfig apply_knobs(const config::RunConfig& base, const json& knob_set,
                              const std::string& name, const std::string& origin) {
    knobs::Variant v;
    v.id = name;
    v.knobs = knob_set.is_null() ? json::object() : knob_set;
    return knobs::resolve(base, v, origin);
}

json merge_knobs(const json& a, const json& b) {
    json out = a.is_null() ? json::object() : a;
    for (auto it = b.begin(); it != b.end(); ++it) {
        out[it.key()] = it.value();
    }
    return out;
}

std::string describe_knobs(const json& knob_set) {
    std::string s;
    for (const auto& k : knobs::registry()) {
        if (knob_set.contains(k.name)) {
            const json& p = knob_set[k.name];
            std::string d;
            if ((p.is_object() && p.empty()) || p.is_null()) {
                // The knob's defaults: name the value when there is one parameter.
                d = k.params.size() == 1
                        ? knobs::describe_application(k.name, k.params[0].default_value)
                        : k.name;
            } else {
                d = knobs::describe_application(k.name, p);
            }
            s += (s.empty() ? "" : " + ") + d;
        }
    }
    for (auto it = knob_set.begin(); it != knob_set.end(); ++it) {  // names the registry lacks
        bool known = false;
        for (const auto& k : knobs::registry()) {
            known = known || k.name == it.key();
        }
        if (!known) {
            s += (s.empty() ? "" : " + ") + it.key();
        }
    }
    return s.empty() ? "baseline" : s;
}

Space build_space(const config::RunConfig& base, const knobs::Capabilities& caps,
                  const SpaceOptions& opt) {
    for (const auto& name : opt.knobs) {
        knobs::find_knob(name);  // InputError listing the known ones
    }
    Space space;
    std::set<std::string> seen_hashes = {config::config_hash(base)};
    int next_id = 1;
    for (const auto& k : knobs::registry()) {
        const bool named = std::find(opt.knobs.begin(), opt.knobs.end(), k.name) != opt.knobs.end();
        if (!opt.knobs.empty() && !named) {
            continue;
        }
        if (k.targets == "control" && !named) {
            space.excluded.push_back(
                Excluded{k.name,
                         "an experimental control, not an optimisation (name it in --knobs to "
                         "search it anyway)"});
            continue;
        }
        // The knob's defaults first; then its other parameters' switches, each once from the
        // defaults: a bool flipped (attention's unpad, the engine's bucketing), each other choice
        // of a string (prune_layers' from = bottom); then other values of its primary parameter.
        // The switches come before the primary values so that --levels does not cut them off
        // behind a knob's many sizes (pruning 6, 1, 21 layers).
        std::vector<json> params = {json::object()};
        for (size_t i = 1; i < k.params.size(); ++i) {
            const knobs::ParamSpec& p = k.params[i];
            if (p.type == "bool") {
                params.push_back(json{{p.name, !p.default_value.get<bool>()}});
            } else if (p.type == "string") {
                for (const auto& choice : p.choices) {
                    if (choice != p.default_value.get<std::string>()) {
                        params.push_back(json{{p.name, choice}});
                    }
                }
            }
        }
        if (!k.params.empty()) {
            for (const auto& v :
                 primary_levels(k.params[0], config_value(base, k.params[0].config_key))) {
                params.push_back(json{{k.params[0].name, v}});
            }
        }
        int levels = 0;
        std::string first_error;
        for (const auto& p : params) {
            if (levels >= opt.max_levels) {
                break;
            }
            json knob_set = {{k.name, p}};
            config::RunConfig c;
            try {
                c = apply_knobs(base, knob_set, "tune", "search space");
            } catch (const InputError& e) {
                // A knob that needs another one: bundle it with the first knob whose defaults
                // make it valid (quantization needs lora).
                bool bundled = false;
                for (const auto& other : knobs::registry()) {
                    if (other.name == k.name) {
                        continue;
                    }
                    json with = {{other.name, json::object()}, {k.name, p}};
                    try {
                        c = apply_knobs(base, with, "tune", "search space");
                        knob_set = with;
                        bundled = true;
                        break;
                    } catch (const InputError&) {
                    }
                }
                if (!bundled) {
                    if (first_error.empty()) {
                        first_error = e.what();
                    }
                    continue;
                }
            }
            bool unsupported = false;
            for (const auto& [name, why] : knobs::unsupported_knobs(c, caps)) {
                if (knob_set.contains(name)) {
                    unsupported = true;
                    if (first_error.empty()) {
                        first_error = "cannot run here: " + why.reason;
                    }
                }
            }
            if (unsupported) {
                continue;
            }
            const std::string h = config::config_hash(what_runs(c, base));
            if (!seen_hashes.insert(h).second) {
                continue;  // a no-op on this base (here), or the same as an earlier level
            }
            char id[16];
            std::snprintf(id, sizeof id, "M%02d", next_id++);
            space.moves.push_back(Move{id, k.name, knob_set, describe_knobs(knob_set), ""});
            ++levels;
        }
        if (levels == 0) {
            space.excluded.push_back(Excluded{
                k.name, first_error.empty() ? "every setting is a no-op on this base configuration"
                                            : first_error});
        }
    }
    return space;
}

}  // namespace gk::tune
