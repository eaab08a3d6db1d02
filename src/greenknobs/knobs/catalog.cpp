// Catalog loading and variant resolution. The loader checks the catalog as a whole (one baseline,
// unique ids, combinations that name real single-knob variants and carry exactly their knobs and
// parameters) and resolves every variant once, so a bad catalog fails at load with the file and
// variant in the message.
#include "greenknobs/knobs/catalog.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "greenknobs/knobs/knob.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::knobs {

namespace {

using nlohmann::json;

const std::set<std::string> kPhases = {"data", "model", "training", "system", "inference"};

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (const auto& x : v) {
        s += (s.empty() ? "" : sep) + x;
    }
    return s;
}

std::string get_string(const json& t, const std::string& key, const std::string& path,
                       const std::string& place, bool required, const std::string& fallback = "") {
    if (!t.contains(key)) {
        if (required) {
            throw InputError(path, place + "." + key, "missing (required)");
        }
        return fallback;
    }
    if (!t[key].is_string()) {
        throw InputError(path, place + "." + key, "expected a string, got " + t[key].dump());
    }
    return t[key].get<std::string>();
}

void check_phase(const Variant& v, const std::string& path) {
    const std::string place = v.id + ".phase";
    if (v.baseline) {
        if (v.phase != "baseline") {
            throw InputError(path, place,
                             "the baseline's phase must be \"baseline\", got '" + v.phase + "'");
        }
        return;
    }
    std::istringstream parts(v.phase);
    std::string part;
    int n = 0;
    while (std::getline(parts, part, '+')) {
        ++n;
        if (kPhases.count(part) == 0) {
            throw InputError(path, place,
                             "got '" + v.phase +
                                 "', expected data | model | training | system | inference "
                                 "(joined with '+' for combinations)");
        }
    }
    if (n == 0) {
        throw InputError(path, place, "must not be empty");
    }
}

Variant parse_variant(const json& t, size_t index, const std::string& path) {
    const std::string where = "variant[" + std::to_string(index) + "]";
    if (!t.is_object()) {
        throw InputError(path, where, "expected a table");
    }
    Variant v;
    v.id = get_string(t, "id", path, where, true);
    if (v.id.empty()) {
        throw InputError(path, where + ".id", "must not be empty");
    }
    const std::string place = v.id;
    static const std::set<std::string> keys = {
        "id", "name", "phase", "knobs", "combines", "paper_id", "differs_from_paper", "baseline"};
    for (auto it = t.begin(); it != t.end(); ++it) {
        if (keys.count(it.key()) == 0) {
            throw InputError(
                path, place + "." + it.key(),
                "unknown key; a variant has id, name, phase, knobs, combines, paper_id, "
                "differs_from_paper, baseline");
        }
    }
    v.name = get_string(t, "name", path, place, true);
    v.phase = get_string(t, "phase", path, place, true);
    v.paper_id = get_string(t, "paper_id", path, place, false, v.id);
    v.differs_from_paper = get_string(t, "differs_from_paper", path, place, true);
    if (t.contains("baseline")) {
        if (!t["baseline"].is_boolean()) {
            throw InputError(path, place + ".baseline",
                             "expected true or false, got " + t["baseline"].dump());
        }
        v.baseline = t["baseline"].get<bool>();
    }
    v.knobs = t.contains("knobs") ? t["knobs"] : json::object();
    if (!v.knobs.is_object()) {
        throw InputError(path, place + ".knobs",
                         "expected a table {knob = params}, got " + v.knobs.dump());
    }
    if (t.contains("combines")) {
        const json& c = t["combines"];
        if (!c.is_array()) {
            throw InputError(path, place + ".combines", "expected an array of variant ids");
        }
        for (const auto& e : c) {
            if (!e.is_string()) {
                throw InputError(path, place + ".combines",
                                 "expected an array of variant ids, got " + e.dump());
            }
            v.combines.push_back(e.get<std::string>());
        }
    }
    check_phase(v, path);
    if (v.baseline && (!v.knobs.empty() || !v.combines.empty())) {
        throw InputError(path, place, "the baseline has no knobs and combines nothing");
    }
    if (!v.baseline && v.knobs.empty()) {
        throw InputError(path, place + ".knobs",
                         "a variant other than the baseline needs at least one knob");
    }
    return v;
}

// A combination must carry exactly the knobs of the variants it is predicted from, with the same
// parameters; otherwise the interaction analysis would compare it with something it is not (the
// paper's §4 mistake).
void check_combination(const Catalog& cat, const Variant& v) {
    std::map<std::string, std::pair<std::string, json>>
        from_parts;  // knob -> (variant id, normalized params)
    for (const auto& id : v.combines) {
        auto it = std::find_if(cat.variants.begin(), cat.variants.end(),
                               [&](const Variant& x) { return x.id == id; });
        if (it == cat.variants.end()) {
            throw InputError(cat.path, v.id + ".combines", "unknown variant '" + id + "'");
        }
        if (it->id == v.id || it->baseline || it->is_combination()) {
            throw InputError(
                cat.path, v.id + ".combines",
                "'" + id +
                    "' is not a single-knob variant (the baseline and combinations are not)");
        }
        for (auto k = it->knobs.begin(); k != it->knobs.end(); ++k) {
            json p = normalized_params(k.key(), k.value(), cat.path + ":" + it->id);
            auto seen = from_parts.find(k.key());
            if (seen != from_parts.end() && seen->second.second != p) {
                throw InputError(cat.path, v.id + ".combines",
                                 "'" + seen->second.first + "' and '" + id + "' both set knob " +
                                     k.key() + " with different parameters");
            }
            from_parts[k.key()] = {id, p};
        }
    }
    for (auto k = v.knobs.begin(); k != v.knobs.end(); ++k) {
        auto part = from_parts.find(k.key());
        if (part == from_parts.end()) {
            throw InputError(
                cat.path, v.id + ".knobs." + k.key(),
                "no variant in combines (" + join(v.combines, ", ") + ") has this knob");
        }
        json p = normalized_params(k.key(), k.value(), cat.path + ":" + v.id);
        if (p != part->second.second) {
            throw InputError(cat.path, v.id + ".knobs." + k.key(),
                             "parameters " + p.dump() + " differ from " + part->second.first +
                                 "'s " + part->second.second.dump());
        }
    }
    for (const auto& [knob, part] : from_parts) {
        if (!v.knobs.contains(knob)) {
            throw InputError(cat.path, v.id + ".knobs",
                             "lacks knob " + knob + " of " + part.first + ", which it combines");
        }
    }
}

}  // namespace

const Variant& Catalog::find(const std::string& id) const {
    for (const auto& v : variants) {
        if (v.id == id) {
            return v;
        }
    }
    std::vector<std::string> ids;
    for (const auto& v : variants) {
        ids.push_back(v.id);
    }
    throw InputError(path, id, "unknown variant; known: " + join(ids, ", "));
}

const Variant& Catalog::baseline() const {
    for (const auto& v : variants) {
        if (v.baseline) {
            return v;
        }
    }
    throw InputError(path, "", "no baseline variant (baseline = true)");
}

config::RunConfig resolve(const config::RunConfig& base, const Variant& v,
                          const std::string& origin) {
    config::RunConfig c = base;
    c.name = v.id;
    c.knobs.clear();
    for (auto it = v.knobs.begin(); it != v.knobs.end();
         ++it) {  // unknown names fail, not skipped below
        auto known = std::find_if(registry().begin(), registry().end(),
                                  [&](const Knob& k) { return k.name == it.key(); });
        if (known == registry().end()) {
            std::vector<std::string> names;
            for (const auto& k : registry()) {
                names.push_back(k.name);
            }
            throw InputError(origin, it.key(), "unknown knob; known: " + join(names, ", "));
        }
    }
    for (const auto& k : registry()) {
        if (v.knobs.contains(k.name)) {
            apply_knob(c, k.name, v.knobs[k.name], origin);
        }
    }
    config::validate(c, origin);
    return c;
}

config::RunConfig resolve_sources(const ConfigSources& s) {
    GK_CHECK(s.variant.empty() || s.catalog != nullptr, "a variant needs its catalog");
    config::RunConfig c = s.catalog ? s.catalog->base : config::RunConfig{};
    if (!s.config_path.empty()) {
        c = config::load_toml(s.config_path, c);
    }
    for (const auto& set : s.sets) {
        config::apply_set(c, set);
    }
    if (!s.variant.empty()) {
        c = resolve(c, s.catalog->find(s.variant), s.catalog->path);
    }
    return c;
}

config::RunConfig resolve(const Catalog& cat, const std::string& variant_id) {
    const Variant& v = cat.find(variant_id);
    return resolve(cat.base, v, cat.path + ":" + v.id);
}

Catalog load_catalog(const std::string& path) {
    Catalog cat;
    cat.path = path;
    json doc = config::toml_to_json(fs::read_file(path), path);
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        // [slurm]: the study's job resources, read by `greenknobs study --executor slurm`.
        if (it.key() != "description" && it.key() != "base" && it.key() != "variant" &&
            it.key() != "slurm") {
            throw InputError(path, it.key(),
                             "unknown key; a catalog has description, [base], [[variant]] and "
                             "[slurm]");
        }
    }
    cat.description = get_string(doc, "description", path, "(top level)", false);

    json base = to_json(config::RunConfig{});
    if (doc.contains("base")) {
        const json& b = doc["base"];
        if (b.is_object() && (b.contains("name") || b.contains("knobs"))) {
            throw InputError(
                path, b.contains("name") ? "base.name" : "base.knobs",
                "the base is a plain configuration: variants name themselves and carry the knobs");
        }
        config::merge_json(base, b, path, "base");
    }
    cat.base = config::from_json(base, path + ":base");  // validates

    if (!doc.contains("variant") || !doc["variant"].is_array() || doc["variant"].empty()) {
        throw InputError(path, "variant", "expected one or more [[variant]] tables");
    }
    std::set<std::string> ids;
    for (size_t i = 0; i < doc["variant"].size(); ++i) {
        Variant v = parse_variant(doc["variant"][i], i, path);
        if (!ids.insert(v.id).second) {
            throw InputError(path, v.id, "duplicate variant id");
        }
        cat.variants.push_back(std::move(v));
    }
    size_t baselines = std::count_if(cat.variants.begin(), cat.variants.end(),
                                     [](const Variant& v) { return v.baseline; });
    if (baselines != 1) {
        throw InputError(path, "variant",
                         "expected exactly one baseline variant (baseline = true), found " +
                             std::to_string(baselines));
    }
    for (const auto& v : cat.variants) {
        resolve(cat.base, v, path + ":" + v.id);
        if (v.is_combination()) {
            check_combination(cat, v);
        }
    }
    return cat;
}

}  // namespace gk::knobs
