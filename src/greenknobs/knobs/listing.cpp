// Tables and JSON for the knob registry and a variant catalog. "Supported here" is computed with
// the same supported() checks the pipeline uses, so the listing never promises what a run would
// refuse.
#include "greenknobs/knobs/listing.h"

#include <algorithm>
#include <sstream>

namespace gk::knobs {

namespace {

using nlohmann::json;

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::string line;
    std::istringstream in(s);
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    if (out.empty()) {
        out.emplace_back();
    }
    return out;
}

// Greedy word wrap; a word longer than the width gets a line of its own.
std::vector<std::string> wrap(const std::string& text, size_t width) {
    std::vector<std::string> out;
    for (const auto& line : split_lines(text)) {
        if (width == 0 || line.size() <= width) {
            out.push_back(line);
            continue;
        }
        std::istringstream words(line);
        std::string word, cur;
        while (words >> word) {
            if (!cur.empty() && cur.size() + 1 + word.size() > width) {
                out.push_back(cur);
                cur.clear();
            }
            cur += (cur.empty() ? "" : " ") + word;
        }
        if (!cur.empty()) {
            out.push_back(cur);
        }
    }
    return out;
}

// The default config on this device, with what a knob needs to be applicable at all.
config::RunConfig probe_base(const Knob& k, const Capabilities& caps) {
    config::RunConfig c;
    c.system.device = config::parse_or_throw<config::Device>(caps.device, "capabilities", "device");
    if (k.name == "quantization") {
        apply_knob(c, "lora", nullptr, "probe");
    }
    if (k.name == "early_stopping" && c.train.epochs < 2) {
        c.train.epochs = 2;  // stopping early needs epochs to stop before
    }
    return c;
}

std::string variant_knob_lines(const Catalog& cat, const Variant& v,
                               const config::RunConfig& resolved) {
    std::string s;
    for (const auto& k : registry()) {
        if (!v.knobs.contains(k.name)) {
            continue;
        }
        std::string line = describe_application(k.name, v.knobs[k.name]);
        if (k.name == "precision" && line.find("=half") != std::string::npos) {
            line += " (" + config::to_string(resolved.train.precision) + " here)";
        }
        if (k.name == "inference_engine" && line.find("dtype=auto") != std::string::npos) {
            line += " (" + config::to_string(resolved.inference.dtype) + " here)";
        }
        if (k.name == "grad_accum") {
            line += " (micro-batch " + std::to_string(resolved.train.batch_size) + " x " +
                    std::to_string(resolved.train.grad_accum) + " = " +
                    std::to_string(resolved.train.batch_size * resolved.train.grad_accum) +
                    ", baseline " +
                    std::to_string(cat.base.train.batch_size * cat.base.train.grad_accum) + ")";
        }
        s += (s.empty() ? "" : "\n") + line;
    }
    if (v.is_combination()) {
        std::string parts;
        for (const auto& id : v.combines) {
            parts += (parts.empty() ? "" : " + ") + id;
        }
        s += "\n= " + parts;
    }
    return s.empty() ? "-" : s;
}

void leaves(const json& j, const std::string& prefix,
            std::vector<std::pair<std::string, json>>* out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            leaves(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
        }
    } else {
        out->emplace_back(prefix, j);
    }
}

// "key=value, ..." for every base field that differs from the config::RunConfig defaults.
std::string base_overrides(const config::RunConfig& base) {
    std::vector<std::pair<std::string, json>> ours, defaults;
    leaves(config::to_json(base), "", &ours);
    leaves(to_json(config::RunConfig{}), "", &defaults);
    std::string s;
    for (size_t i = 0; i < ours.size() && i < defaults.size(); ++i) {
        if (ours[i].second != defaults[i].second && ours[i].first != "name" &&
            ours[i].first != "knobs") {
            const json& v = ours[i].second;
            s += (s.empty() ? "" : ", ") + ours[i].first + "=" +
                 (v.is_string() ? v.get<std::string>() : v.dump());
        }
    }
    return s.empty() ? "(config::RunConfig defaults)" : s;
}

}  // namespace

std::string render_table(const std::vector<std::string>& headers, const std::vector<size_t>& widths,
                         const std::vector<std::vector<std::string>>& rows) {
    const size_t n = headers.size();
    std::vector<std::vector<std::vector<std::string>>> cells;  // [row][col][line]
    std::vector<size_t> col(n, 0);
    for (size_t i = 0; i < n; ++i) {
        col[i] = headers[i].size();
    }
    for (const auto& row : rows) {
        std::vector<std::vector<std::string>> r;
        for (size_t i = 0; i < n; ++i) {
            r.push_back(wrap(i < row.size() ? row[i] : "", i < widths.size() ? widths[i] : 0));
            for (const auto& line : r.back()) {
                col[i] = std::max(col[i], line.size());
            }
        }
        cells.push_back(std::move(r));
    }
    auto emit = [&](std::ostringstream& out, const std::vector<std::string>& parts) {
        std::string line;
        for (size_t i = 0; i < n; ++i) {
            std::string p = parts[i];
            if (i + 1 < n) {
                p.resize(col[i], ' ');
                p += "  ";
            }
            line += p;
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out << line << "\n";
    };
    std::ostringstream out;
    emit(out, headers);
    std::vector<std::string> rule;
    for (size_t i = 0; i < n; ++i) {
        rule.push_back(std::string(col[i], '-'));
    }
    emit(out, rule);
    for (size_t r = 0; r < cells.size(); ++r) {
        size_t height = 0;
        for (const auto& c : cells[r]) {
            height = std::max(height, c.size());
        }
        for (size_t l = 0; l < height; ++l) {
            std::vector<std::string> parts;
            for (size_t i = 0; i < n; ++i) {
                parts.push_back(l < cells[r][i].size() ? cells[r][i][l] : "");
            }
            emit(out, parts);
        }
        if (r + 1 < cells.size() && height > 1) {
            out << "\n";
        }
    }
    return out.str();
}

Support knob_support_here(const Knob& k, const Capabilities& caps, std::string* summary) {
    config::RunConfig base = probe_base(k, caps);
    config::RunConfig with_defaults = base;
    apply_knob(with_defaults, k.name, nullptr, "probe");
    Support s = k.supported(with_defaults, caps);
    if (!s.ok) {
        *summary = "no: " + s.reason;
        return s;
    }
    // Values the defaults do not exercise (e.g. precision=fp16 on a CPU).
    std::string except;
    for (const auto& p : k.params) {
        for (const auto& choice : p.choices) {
            json value = p.type == "int" ? json(std::stoll(choice)) : json(choice);
            if (p.type == "list") {
                value = json::array({choice});
            }
            config::RunConfig c = base;
            try {
                apply_knob(c, k.name, json{{p.name, value}}, "probe");
            } catch (const std::exception&) {
                continue;  // not applicable on its own (the listing is about the machine, not the
                           // config)
            }
            Support cs = k.supported(c, caps);
            if (!cs.ok) {
                except += (except.empty() ? "" : "; ") + p.name + "=" + choice + ": " + cs.reason;
            }
        }
    }
    *summary = except.empty() ? "yes" : "yes, except " + except;
    return s;
}

std::string knobs_table(const Capabilities& caps) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& k : registry()) {
        std::string params;
        for (const auto& p : k.params) {
            params += (params.empty() ? "" : "\n") + describe_param(p);
        }
        std::string here;
        knob_support_here(k, caps, &here);
        std::string notes = k.notes;
        if (!k.conflicts.empty()) {
            std::string c;
            for (const auto& x : k.conflicts) {
                c += (c.empty() ? "" : ", ") + x;
            }
            notes += " Conflicts with: " + c + ".";
        }
        rows.push_back({k.name, to_string(k.phase), k.targets, params, here, notes});
    }
    std::string out = render_table({"knob", "phase", "targets", "parameters (default, range)",
                                    "supported here (" + caps.device + ")", "notes"},
                                   {0, 0, 0, 46, 30, 56}, rows);
    return out;
}

json knobs_json(const Capabilities& caps) {
    json out = json::array();
    for (const auto& k : registry()) {
        json params = json::array();
        for (const auto& p : k.params) {
            json jp = {{"name", p.name},
                       {"type", p.type},
                       {"default", p.default_value},
                       {"choices", p.choices},
                       {"config_key", p.config_key},
                       {"help", p.help}};
            if (p.min < p.max) {
                jp["min"] = p.min;
                jp["max"] = p.max;
            }
            if (p.cuda_only) {
                jp["cuda_only"] = true;  // acts only when training on CUDA
            }
            params.push_back(jp);
        }
        std::string here;
        Support s = knob_support_here(k, caps, &here);
        out.push_back({{"name", k.name},
                       {"phase", to_string(k.phase)},
                       {"targets", k.targets},
                       {"summary", k.summary},
                       {"params", params},
                       {"conflicts", k.conflicts},
                       {"supported", s.ok},
                       {"supported_here", here},
                       {"notes", k.notes}});
    }
    return {{"device", caps.device}, {"knobs", out}};
}

std::string variants_table(const Catalog& cat, const Capabilities& caps) {
    std::vector<std::vector<std::string>> rows;
    int runnable = 0;
    std::string skipped_ids;
    for (const auto& v : cat.variants) {
        config::RunConfig c = resolve(cat, v.id);
        auto unsupported = unsupported_knobs(c, caps);
        std::string here = "run";
        if (!unsupported.empty()) {
            here = "skipped:";
            for (const auto& [knob, why] : unsupported) {
                here += " " + knob + ": " + why.reason;
            }
            skipped_ids += (skipped_ids.empty() ? "" : ", ") + v.id;
        } else {
            ++runnable;
        }
        rows.push_back(
            {v.id, v.name, v.phase, variant_knob_lines(cat, v, c), v.differs_from_paper, here});
    }
    std::ostringstream out;
    out << "catalog: " << cat.path << (cat.description.empty() ? "" : " (" + cat.description + ")")
        << "\nbase: " << base_overrides(cat.base) << "\n\n";
    out << render_table(
        {"id", "name", "phase", "knobs", "differs from the paper", "here (" + caps.device + ")"},
        {0, 26, 12, 44, 60, 30}, rows);
    out << "\n"
        << cat.variants.size() << " variants: " << runnable << " run here"
        << (skipped_ids.empty() ? "" : ", skipped: " + skipped_ids) << "\n";
    return out.str();
}

json variants_json(const Catalog& cat, const Capabilities& caps) {
    json vs = json::array();
    for (const auto& v : cat.variants) {
        config::RunConfig c = resolve(cat, v.id);
        json skipped = json::array();
        for (const auto& [knob, why] : unsupported_knobs(c, caps)) {
            skipped.push_back({{"knob", knob}, {"reason", why.reason}});
        }
        vs.push_back({{"id", v.id},
                      {"name", v.name},
                      {"phase", v.phase},
                      {"paper_id", v.paper_id},
                      {"baseline", v.baseline},
                      {"knobs", v.knobs},
                      {"combines", v.combines},
                      {"differs_from_paper", v.differs_from_paper},
                      {"config_hash", config_hash(c)},
                      {"supported", skipped.empty()},
                      {"skipped", skipped}});
    }
    return {{"catalog", cat.path},
            {"description", cat.description},
            {"device", caps.device},
            {"base", config::to_json(cat.base)},
            {"variants", vs}};
}

}  // namespace gk::knobs
