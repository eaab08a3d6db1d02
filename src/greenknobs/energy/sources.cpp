// Source discovery and selection.
#include "greenknobs/energy/sources.h"

#include <sstream>

#include "greenknobs/energy/cpu_model.h"
#include "greenknobs/energy/nvml.h"
#include "greenknobs/energy/rapl.h"

namespace gk::energy {

std::vector<std::shared_ptr<Source>> discover_sources(const SourceOptions& opts) {
    std::vector<std::shared_ptr<Source>> out = discover_rapl(opts.powercap_root);
    bool rapl_package = false;
    for (const auto& s : out) {
        rapl_package = rapl_package || (s->available() && s->excluded_reason().empty() &&
                                        s->component() == Component::kCpu);
    }
    for (auto& s : discover_hwmon_energy(opts.hwmon_root)) {
        if (rapl_package && s->available() && s->excluded_reason().empty()) {
            s->set_excluded_reason("RAPL package counters cover the same sockets");
        }
        out.push_back(s);
    }
    for (auto& s : discover_nvml(opts.nvml_library, opts.sample_period_s)) {
        out.push_back(s);
    }
    CpuModelOptions cpu;
    cpu.proc_root = opts.proc_root;
    cpu.cgroup_root = opts.cgroup_root;
    cpu.calibration_path = opts.cpu_calibration_path;
    cpu.tdp_override_w = opts.cpu_tdp_w;
    cpu.pid = opts.pid;
    cpu.update_period_s = opts.sample_period_s;
    out.push_back(std::make_shared<CpuModelSource>(cpu));
    RamModelOptions ram;
    ram.proc_root = opts.proc_root;
    ram.cgroup_root = opts.cgroup_root;
    ram.pid = opts.pid;
    ram.update_period_s = opts.sample_period_s;
    out.push_back(std::make_shared<RamModelSource>(ram));
    return out;
}

std::vector<SourceEntry> select_sources(const std::vector<std::shared_ptr<Source>>& sources) {
    bool measured[kNumComponents] = {false, false, false};
    for (const auto& s : sources) {
        if (s->available() && s->excluded_reason().empty() &&
            s->provenance() != Provenance::kModelled) {
            measured[static_cast<int>(s->component())] = true;
        }
    }
    std::vector<SourceEntry> out;
    for (const auto& s : sources) {
        SourceEntry e;
        e.source = s;
        int c = static_cast<int>(s->component());
        if (!s->available()) {
            e.why_not_used = "unavailable";
        } else if (!s->excluded_reason().empty()) {
            e.why_not_used = s->excluded_reason();
        } else if (s->provenance() == Provenance::kModelled && measured[c]) {
            e.why_not_used = std::string("a measured source covers ") + to_string(s->component());
        } else {
            e.used = true;
        }
        out.push_back(e);
    }
    return out;
}

nlohmann::json sources_json(const std::vector<SourceEntry>& entries) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : entries) {
        const Source& s = *e.source;
        nlohmann::json j;
        j["name"] = s.name();
        j["component"] = to_string(s.component());
        j["available"] = s.available();
        j["why_unavailable"] =
            s.available() ? nlohmann::json(nullptr) : nlohmann::json(s.why_unavailable());
        j["provenance"] = to_string(s.provenance());
        j["used"] = e.used;
        j["why_not_used"] =
            e.used || !s.available() ? nlohmann::json(nullptr) : nlohmann::json(e.why_not_used);
        j["update_period_s"] = s.update_period_s();
        j["note"] = s.note();
        j["scope"] = s.scope();
        j["uncertainty"] =
            s.provenance() == Provenance::kModelled
                ? nlohmann::json{{"low", s.uncertainty_low()}, {"high", s.uncertainty_high()}}
                : nlohmann::json(nullptr);
        list.push_back(j);
    }
    return list;
}

std::string describe_sources(const std::vector<SourceEntry>& entries) {
    std::ostringstream out;
    bool counter_used = false;
    bool counters_readable = false;
    for (const auto& e : entries) {
        const Source& s = *e.source;
        out << (e.used ? "[used]   " : (s.available() ? "[unused] " : "[n/a]    ")) << s.name()
            << " (" << to_string(s.component()) << ", " << to_string(s.provenance())
            << (s.available() ? ", scope " + s.scope() : std::string()) << ")";
        if (!s.available()) {
            out << ": unavailable: " << s.why_unavailable();
        } else if (!e.used) {
            out << ": not used: " << e.why_not_used;
        }
        if (s.available() && !s.note().empty()) {
            out << "\n         " << s.note();
        }
        out << "\n";
        if (s.available() && s.provenance() != Provenance::kModelled) {
            counters_readable = true;
        }
        if (e.used && s.provenance() != Provenance::kModelled) {
            counter_used = true;
        }
    }
    out << "\n";
    if (!counters_readable) {
        out << "No energy counters are readable on this machine (no RAPL, no NVML): the CPU and "
               "RAM "
               "are modelled (provenance 'modelled'), not measured.\n";
    }
    for (int c = 0; c < kNumComponents; ++c) {
        std::string used_names;
        for (const auto& e : entries) {
            if (e.used && static_cast<int>(e.source->component()) == c) {
                used_names += (used_names.empty() ? "" : ", ") + e.source->name() + " (" +
                              to_string(e.source->provenance()) + ")";
                if (e.source->provenance() == Provenance::kModelled) {
                    used_names += ": " + e.source->note();
                }
            }
        }
        out << to_string(static_cast<Component>(c)) << ": "
            << (used_names.empty() ? "n/a (no source)" : used_names) << "\n";
    }
    (void)counter_used;
    return out.str();
}

}  // namespace gk::energy
