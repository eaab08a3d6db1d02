// Writers over the report JSON: the human summary, emissions.csv (CodeCarbon's column names and
// units where the meaning matches, plus ours) and power.csv. Pure functions of the report, so
// golden tests can feed them a fixed report.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>
#include <sstream>

#include "greenknobs/energy/tracker.h"
#include "greenknobs/util/csv_field.h"
#include "greenknobs/util/utc_time.h"

namespace gk::energy {

namespace {

const char* kComponents[] = {"cpu", "gpu", "ram"};

std::string num(const nlohmann::json& v, const char* f = "%.10g", double scale = 1.0) {
    if (!v.is_number()) {
        return "";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v.get<double>() * scale);
    return buf;
}

// CodeCarbon writes "YYYY-MM-DDTHH:MM:SS" (no zone) at the end of the measured interval.
std::string iso_end(double unix_s) { return utc_format(unix_s, "%Y-%m-%dT%H:%M:%S"); }

std::string fixed(const nlohmann::json& v, const char* f, int width) {
    std::string s = v.is_number() ? num(v, f) : "n/a";
    if (static_cast<int>(s.size()) < width) {
        s = std::string(static_cast<size_t>(width) - s.size(), ' ') + s;
    }
    return s;
}

}  // namespace

const std::vector<std::string>& codecarbon_columns() {
    // CodeCarbon 3.3.0, codecarbon/output_methods/emissions_data.py (EmissionsData, field order).
    static const std::vector<std::string> cols = {
        "timestamp",
        "project_name",
        "run_id",
        "experiment_id",
        "duration",
        "emissions",
        "emissions_rate",
        "cpu_power",
        "gpu_power",
        "ram_power",
        "cpu_energy",
        "gpu_energy",
        "ram_energy",
        "energy_consumed",
        "water_consumed",
        "country_name",
        "country_iso_code",
        "region",
        "cloud_provider",
        "cloud_region",
        "os",
        "python_version",
        "codecarbon_version",
        "cpu_count",
        "cpu_model",
        "gpu_count",
        "gpu_model",
        "longitude",
        "latitude",
        "ram_total_size",
        "tracking_mode",
        "cpu_utilization_percent",
        "gpu_utilization_percent",
        "ram_utilization_percent",
        "ram_used_gb",
        "on_cloud",
        "pue",
        "wue",
    };
    return cols;
}

std::string emissions_csv(const nlohmann::json& report) {
    std::set<std::string> units;
    std::vector<nlohmann::json> rows;
    for (const auto& s : report.at("stages")) {
        rows.push_back(s);
    }
    rows.push_back(report.at("total"));
    for (const auto& r : rows) {
        for (auto it = r.at("work").begin(); it != r.at("work").end(); ++it) {
            units.insert(it.key());
        }
    }
    const nlohmann::json none = nullptr;
    const nlohmann::json& machine = report.contains("machine") ? report.at("machine") : none;
    auto mstr = [&](const char* key) -> std::string {
        return machine.is_object() && machine.contains(key) && machine.at(key).is_string()
                   ? csv_field(machine.at(key).get<std::string>())
                   : "";
    };
    auto mnum = [&](const char* key) -> std::string {
        return machine.is_object() && machine.contains(key) ? num(machine.at(key)) : "";
    };
    const auto& carbon = report.at("carbon");
    double pue = carbon.at("pue").get<double>();
    double wue = carbon.value("wue_l_per_kwh", 0.0);
    // CodeCarbon multiplies every energy (per component and in total) by the PUE before it sums
    // and before emissions; power columns stay IT power.
    const double kwh = 1.0 / 3.6e6;
    std::ostringstream out;
    for (const auto& c : codecarbon_columns()) {
        out << (&c == &codecarbon_columns().front() ? "" : ",") << c;
    }
    out << ",stage,path,parent,cpu_provenance,gpu_provenance,ram_provenance,cpu_scope,gpu_scope,"
           "ram_scope,it_energy_consumed,static_energy,dynamic_energy,cpu_time,"
           "energy_consumed_low,energy_consumed_high,emissions_low,emissions_high,warnings";
    for (const auto& u : units) {
        out << ",work_" << csv_field(u);
    }
    out << "\n";
    double started = report.at("started_at_unix_s").get<double>();
    std::string tracking =
        report.value("process", nlohmann::json()).is_object() ? "process" : "machine";
    for (const auto& r : rows) {
        bool is_total = r.at("path").get<std::string>() == "total" && r.at("parent").is_null() &&
                        &r == &rows.back();
        double end_s = started + r.at("start_s").get<double>() + r.at("duration_s").get<double>();
        const auto& e = r.at("energy_j");
        const auto& p = r.at("mean_power_w");
        double duration = r.at("duration_s").get<double>();
        const auto& em = r.at("emissions_g");
        out << iso_end(end_s) << "," << csv_field(report.value("project_name", "")) << ","
            << csv_field(report.value("run_id", "")) << ","
            << csv_field(report.value("experiment_id", "")) << "," << num(r.at("duration_s")) << ","
            << num(em, "%.10g", 1e-3) << ",";
        if (em.is_number() && duration > 0) {
            out << num(nlohmann::json(em.get<double>() * 1e-3 / duration));
        }
        for (const char* c : kComponents) {
            out << "," << num(p.at(c));
        }
        for (const char* c : kComponents) {
            out << "," << num(e.at(c), "%.10g", kwh * pue);
        }
        out << "," << num(e.at("total"), "%.10g", kwh * pue) << ",";
        if (e.at("total").is_number()) {
            out << num(e.at("total"), "%.10g", kwh * pue * wue);
        }
        out << "," << csv_field(carbon.value("country_name", "")) << ","
            << csv_field(carbon.at("country_iso_code").get<std::string>())
            << ",,,"                      // region, cloud_provider, cloud_region: not detected
            << "," << mstr("os") << ",,"  // os; python_version, codecarbon_version: not ours
            << "," << mnum("cpu_count") << "," << mstr("cpu_model") << "," << mnum("gpu_count")
            << "," << mstr("gpu_model") << ",,"  // longitude, latitude
            << "," << mnum("ram_total_size_gb") << "," << tracking << ",";
        // Utilisation of what the CPU model covers (the process tree in `measure`).
        const auto& ct = r.value("cpu_time_s", nlohmann::json());
        double capacity = machine.is_object() ? machine.value("cpu_capacity", 0.0) : 0.0;
        if (ct.is_number() && duration > 0 && capacity > 0) {
            out << num(nlohmann::json(100.0 * ct.get<double>() / (duration * capacity)), "%.4g");
        }
        out << ",,,"  // gpu_utilization_percent, ram_utilization_percent, ram_used_gb
            << ",";   // on_cloud: not detected
        out << "," << num(carbon.at("pue")) << "," << num(nlohmann::json(wue));
        // Ours. A top-level stage's parent is `total`, so the one row with an empty parent is the
        // whole run: summing the rows without a parent never counts anything twice.
        std::string parent = r.at("parent").is_string() ? r.at("parent").get<std::string>()
                                                        : (is_total ? "" : "total");
        out << "," << csv_field(r.at("name").get<std::string>()) << ","
            << csv_field(r.at("path").get<std::string>()) << "," << csv_field(parent);
        for (const char* c : kComponents) {
            out << "," << r.at("provenance").at(c).get<std::string>();
        }
        for (const char* c : kComponents) {
            out << ",";
            if (r.contains("scope") && r.at("scope").at(c).is_string()) {
                out << csv_field(r.at("scope").at(c).get<std::string>());
            }
        }
        out << "," << num(e.at("total"), "%.10g", kwh) << ","
            << num(r.at("static_energy_j").at("total"), "%.10g", kwh) << ","
            << num(r.at("dynamic_energy_j").at("total"), "%.10g", kwh) << "," << num(ct);
        const auto& range = r.value("energy_range_j", nlohmann::json());
        const auto& erange = r.value("emissions_range_g", nlohmann::json());
        for (const char* side : {"low", "high"}) {
            out << ",";
            if (range.is_object() && range.at("total").is_object()) {
                out << num(range.at("total").at(side), "%.10g", kwh * pue);
            }
        }
        for (const char* side : {"low", "high"}) {
            out << ",";
            if (erange.is_object()) {
                out << num(erange.at(side), "%.10g", 1e-3);
            }
        }
        out << ",";
        std::string warnings;
        for (const auto& w : r.at("warnings")) {
            warnings += (warnings.empty() ? "" : "; ") + w.get<std::string>();
        }
        out << csv_field(warnings);
        for (const auto& u : units) {
            out << ",";
            if (r.at("work").contains(u)) {
                out << num(r.at("work").at(u));
            }
        }
        out << "\n";
    }
    return out.str();
}

std::string power_csv(const nlohmann::json& report) {
    std::ostringstream out;
    out << "t_s,source,component,power_w\n";
    for (const auto& s : report.at("timeseries")) {
        const auto& t = s.at("t_s");
        const auto& p = s.at("power_w");
        std::string src = csv_field(s.at("source").get<std::string>());
        std::string comp = s.at("component").get<std::string>();
        for (size_t i = 0; i < t.size(); ++i) {
            if (!p[i].is_number()) {
                continue;
            }
            out << num(t[i], "%.6f") << "," << src << "," << comp << "," << num(p[i], "%.6g")
                << "\n";
        }
    }
    return out.str();
}

std::string format_summary(const nlohmann::json& report) {
    std::ostringstream out;
    const auto& carbon = report.at("carbon");
    char head[256];
    std::snprintf(head, sizeof head, "energy (carbon %.0f g CO2e/kWh, %s, PUE %.2f)\n",
                  carbon.at("intensity_g_per_kwh").get<double>(),
                  carbon.at("country_iso_code").get<std::string>().c_str(),
                  carbon.at("pue").get<double>());
    out << head;
    char line[512];
    std::snprintf(line, sizeof line, "%-22s %9s %22s %22s %22s %11s %21s %9s %10s\n", "stage",
                  "time_s", "cpu_J", "ram_J", "gpu_J", "total_J", "total_range_J", "mean_W",
                  "CO2e_g");
    out << line;
    std::vector<nlohmann::json> rows;
    for (const auto& s : report.at("stages")) {
        rows.push_back(s);
    }
    rows.push_back(report.at("total"));
    std::vector<std::string> warnings;
    for (const auto& r : rows) {
        std::string path = r.at("path").get<std::string>();
        size_t depth = 0;
        for (char ch : path) {
            depth += ch == '/' ? 1 : 0;
        }
        std::string label = std::string(depth * 2, ' ') + r.at("name").get<std::string>();
        std::string cells;
        for (const char* c : {"cpu", "ram", "gpu"}) {
            const auto& e = r.at("energy_j").at(c);
            std::string prov = r.at("provenance").at(c).get<std::string>();
            std::string cell = e.is_number() ? num(e, "%.2f") + " " + prov : "n/a";
            char buf[64];
            std::snprintf(buf, sizeof buf, " %22s", cell.c_str());
            cells += buf;
        }
        // The stated range of the modelled parts (equal to the value when all is measured).
        std::string range = "n/a";
        const auto& rg = r.value("energy_range_j", nlohmann::json());
        if (rg.is_object() && rg.at("total").is_object()) {
            range = num(rg.at("total").at("low"), "%.2f") + "-" +
                    num(rg.at("total").at("high"), "%.2f");
        }
        std::snprintf(line, sizeof line, "%-22s %9s%s %11s %21s %9s %10s\n", label.c_str(),
                      fixed(r.at("duration_s"), "%.3f", 9).c_str(), cells.c_str(),
                      fixed(r.at("energy_j").at("total"), "%.2f", 11).c_str(), range.c_str(),
                      fixed(r.at("mean_power_w").at("total"), "%.2f", 9).c_str(),
                      fixed(r.at("emissions_g"), "%.4g", 10).c_str());
        out << line;
        for (const auto& w : r.at("warnings")) {
            warnings.push_back(path + ": " + w.get<std::string>());
        }
    }
    const auto& idle = report.at("idle_power_w");
    if (report.value("idle_baseline_s", nlohmann::json()).is_number()) {
        out << "idle power:";
        for (const char* c : {"cpu", "ram", "gpu"}) {
            out << " " << c << " "
                << (idle.at(c).is_number() ? num(idle.at(c), "%.2f") + " W" : "n/a");
        }
        out << " (baseline " << num(report.at("idle_baseline_s"), "%.1f") << " s)\n";
    }
    for (const auto& w : warnings) {
        out << "warning: " << w << "\n";
    }
    return out.str();
}

}  // namespace gk::energy
