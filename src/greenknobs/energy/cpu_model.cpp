// The CPU and RAM models and the TDP table.
#include "greenknobs/energy/cpu_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::energy {

const std::vector<TdpEntry>& tdp_table() {
    // Vendor specifications (AMD product pages, Intel ARK): default TDP per socket, threads per
    // socket.
    static const std::vector<TdpEntry> table = {
        // AMD EPYC 7002 (Rome), 7003 (Milan), 9004 (Genoa/Bergamo)
        {"EPYC 7302", 155, 32},
        {"EPYC 7402", 180, 48},
        {"EPYC 7502", 180, 64},
        {"EPYC 7542", 225, 64},
        {"EPYC 7702", 200, 128},
        {"EPYC 7742", 225, 128},
        {"EPYC 7313", 155, 32},
        {"EPYC 7413", 180, 48},
        {"EPYC 7513", 200, 64},
        {"EPYC 7543", 225, 64},
        {"EPYC 7713", 225, 128},
        {"EPYC 7763", 280, 128},
        {"EPYC 9124", 200, 32},
        {"EPYC 9354", 280, 64},
        {"EPYC 9454", 290, 96},
        {"EPYC 9554", 360, 128},
        {"EPYC 9654", 360, 192},
        {"EPYC 9754", 360, 256},
        // Intel Xeon Scalable: Skylake, Cascade Lake, Ice Lake, Sapphire Rapids
        {"Gold 6148", 150, 40},
        {"Platinum 8160", 150, 48},
        {"Platinum 8180", 205, 56},
        {"Gold 6230", 125, 40},
        {"Gold 6248", 150, 40},
        {"Gold 6248R", 205, 48},
        {"Platinum 8280", 205, 56},
        {"Gold 5218", 125, 32},
        {"Silver 4214", 85, 24},
        {"Gold 6338", 205, 64},
        {"Platinum 8358", 250, 64},
        {"Platinum 8380", 270, 80},
        {"Platinum 8480+", 350, 112},
        {"Gold 6430", 270, 64},
        {"E5-2680 v4", 120, 28},
        {"E5-2690 v4", 135, 28},
        {"E5-2699 v4", 145, 44},
        // Desktop
        {"Ryzen 9 5950X", 105, 32},
        {"Ryzen 9 7950X", 170, 32},
        {"i9-13900K", 125, 32},
        {"i7-12700K", 125, 20},
        // Family fallbacks for VMs that hide the exact part (e.g. "AMD EPYC"): a representative
        // part.
        {"AMD EPYC", 280, 128, true},  // as EPYC 7763 (Milan), the common cloud part
        {"Xeon", 270, 80, true},       // as Platinum 8380 (Ice Lake)
    };
    return table;
}

namespace {

std::string lower(std::string s) {
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, a, b, c);
    return buf;
}

}  // namespace

const std::vector<std::pair<double, double>>& teads_curve() {
    static const std::vector<std::pair<double, double>> points = {
        {0.0, 0.12}, {0.1, 0.32}, {0.5, 0.75}, {1.0, 1.02}};
    return points;
}

double curve_share(const std::vector<std::pair<double, double>>& points, double u) {
    u = std::min(1.0, std::max(0.0, u));
    for (size_t i = 1; i < points.size(); ++i) {
        if (u <= points[i].first || i + 1 == points.size()) {
            double u0 = points[i - 1].first, u1 = points[i].first;
            double f = u1 > u0 ? (u - u0) / (u1 - u0) : 1.0;
            return points[i - 1].second + f * (points[i].second - points[i - 1].second);
        }
    }
    return points.empty() ? 0 : points.front().second;
}

double curve_slope(const std::vector<std::pair<double, double>>& points, double u) {
    u = std::min(1.0, std::max(0.0, u));
    for (size_t i = 1; i < points.size(); ++i) {
        if (u < points[i].first || i + 1 == points.size()) {
            double du = points[i].first - points[i - 1].first;
            return du > 0 ? (points[i].second - points[i - 1].second) / du : 0;
        }
    }
    return 0;
}

TdpChoice choose_tdp(const CpuInfo& cpu, double override_tdp_w, double capacity_cpus) {
    TdpChoice choice;
    int logical = std::max(1, cpu.logical_cpus);
    double cpus = capacity_cpus > 0 ? capacity_cpus : static_cast<double>(logical);
    if (override_tdp_w > 0) {
        choice.tdp_w = override_tdp_w;
        choice.origin = fmt("override (cpu_tdp_w = %g W)", override_tdp_w);
        choice.kind = TdpChoice::Kind::kOverride;
        return choice;
    }
    std::string model = lower(cpu.model_name);
    const TdpEntry* best = nullptr;
    size_t best_len = 0;
    for (const auto& e : tdp_table()) {
        std::string pat = lower(e.pattern);
        if (model.find(pat) != std::string::npos && pat.size() > best_len) {
            best = &e;
            best_len = pat.size();
        }
    }
    if (best != nullptr) {
        double share =
            std::min(cpus / best->threads, static_cast<double>(std::max(1, cpu.sockets)));
        choice.tdp_w = best->tdp_w * share;
        choice.origin =
            "table: '" + std::string(best->pattern) + "' " +
            fmt("%g W per %g threads, scaled to %g CPUs", best->tdp_w, best->threads, cpus);
        choice.kind = best->family ? TdpChoice::Kind::kFamily : TdpChoice::Kind::kTable;
        return choice;
    }
    choice.tdp_w = kDefaultTdpPerThreadW * cpus;
    choice.origin = "default: CPU model '" + cpu.model_name + "' not in the table; " +
                    fmt("%g W per CPU × %g", kDefaultTdpPerThreadW, cpus);
    choice.kind = TdpChoice::Kind::kDefault;
    return choice;
}

double CpuCalibration::w_per_cpu(double u) const {
    u = std::min(1.0, std::max(0.0, u));
    return idle_w_per_cpu + dynamic_w_per_cpu * std::pow(u, exponent);
}

CpuCalibration fit_cpu_calibration(const std::vector<std::pair<double, double>>& pts) {
    CpuCalibration best;
    double best_sse = std::numeric_limits<double>::infinity();
    // For a fixed exponent the model is linear in (idle, dynamic): ordinary least squares.
    for (int k = 20; k <= 100; ++k) {
        double g = k / 100.0;
        double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (const auto& p : pts) {
            double x = std::pow(std::min(1.0, std::max(0.0, p.first)), g);
            n += 1;
            sx += x;
            sy += p.second;
            sxx += x * x;
            sxy += x * p.second;
        }
        double den = n * sxx - sx * sx;
        if (n < 3 || std::fabs(den) < 1e-12) {
            continue;
        }
        double b = (n * sxy - sx * sy) / den;
        double a = (sy - b * sx) / n;
        if (b <= 0 || a < 0) {
            continue;  // not a physical curve (power falling with load, negative idle)
        }
        double sse = 0;
        for (const auto& p : pts) {
            double r = a + b * std::pow(std::min(1.0, std::max(0.0, p.first)), g) - p.second;
            sse += r * r;
        }
        if (sse < best_sse) {
            best_sse = sse;
            best.idle_w_per_cpu = a;
            best.dynamic_w_per_cpu = b;
            best.exponent = g;
        }
    }
    if (!std::isfinite(best_sse)) {
        throw UnsupportedError(
            "calibration: the readings do not fit a power curve rising with load (need at least 3 "
            "points spanning idle to busy)");
    }
    best.points = static_cast<int>(pts.size());
    for (const auto& p : pts) {
        if (p.second > 0) {
            best.max_rel_residual = std::max(
                best.max_rel_residual, std::fabs(best.w_per_cpu(p.first) - p.second) / p.second);
        }
    }
    return best;
}

std::string default_calibration_path() {
    const char* explicit_path = std::getenv("GK_CPU_CALIBRATION");
    if (explicit_path != nullptr && *explicit_path != '\0') {
        return explicit_path;
    }
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    if (xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/greenknobs/cpu-calibration.json";
    }
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr ? home : ".") + "/.config/greenknobs/cpu-calibration.json";
}

std::vector<CpuCalibration> load_calibrations(const std::string& path) {
    std::vector<CpuCalibration> out;
    if (!fs::exists(path)) {
        return out;
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(fs::read_file(path));
    } catch (const nlohmann::json::exception& e) {
        throw InputError(path, "", std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || j.value("schema", "") != "greenknobs.cpu-calibration/1" ||
        !j.contains("cpus") || !j["cpus"].is_object()) {
        throw InputError(
            path, "schema",
            "expected {\"schema\": \"greenknobs.cpu-calibration/1\", \"cpus\": {...}}");
    }
    for (auto it = j["cpus"].begin(); it != j["cpus"].end(); ++it) {
        const auto& e = it.value();
        CpuCalibration c;
        c.cpu_model = it.key();
        try {
            c.logical_cpus = e.at("logical_cpus").get<int>();
            c.idle_w_per_cpu = e.at("idle_w_per_cpu").get<double>();
            c.dynamic_w_per_cpu = e.at("dynamic_w_per_cpu").get<double>();
            c.exponent = e.at("exponent").get<double>();
            c.max_rel_residual = e.value("max_rel_residual", 0.0);
            c.points = e.value("points", 0);
            c.date = e.value("date", "");
            c.source = e.value("source", "");
        } catch (const nlohmann::json::exception& ex) {
            throw InputError(path, "cpus." + it.key(), ex.what());
        }
        if (!(c.exponent > 0 && c.exponent <= 1) || c.idle_w_per_cpu < 0 ||
            c.dynamic_w_per_cpu <= 0) {
            throw InputError(path, "cpus." + it.key(),
                             "needs idle_w_per_cpu >= 0, dynamic_w_per_cpu > 0, 0 < exponent <= 1");
        }
        out.push_back(c);
    }
    return out;
}

void store_calibration(const std::string& path, const CpuCalibration& c) {
    nlohmann::json j = {{"schema", "greenknobs.cpu-calibration/1"},
                        {"cpus", nlohmann::json::object()}};
    if (fs::exists(path)) {
        load_calibrations(path);  // refuses to overwrite a malformed file
        j = nlohmann::json::parse(fs::read_file(path));
    }
    j["cpus"][c.cpu_model] = {{"logical_cpus", c.logical_cpus},
                              {"idle_w_per_cpu", c.idle_w_per_cpu},
                              {"dynamic_w_per_cpu", c.dynamic_w_per_cpu},
                              {"exponent", c.exponent},
                              {"max_rel_residual", c.max_rel_residual},
                              {"points", c.points},
                              {"date", c.date},
                              {"source", c.source}};
    size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        fs::make_dirs(path.substr(0, slash));
    }
    fs::write_file_atomic(path, j.dump(2) + "\n");
}

CpuModelSource::CpuModelSource(const CpuModelOptions& opts) : opts_(opts) {
    name_ = opts.pid == 0 ? "cpu-model" : "cpu-model:pid-" + std::to_string(opts.pid);
    component_ = Component::kCpu;
    provenance_ = Provenance::kModelled;
    update_period_s_ = opts.update_period_s;
    cpu_ = read_cpuinfo(opts.proc_root);
    cgroup_ = read_cgroup(opts.proc_root, opts.cgroup_root, opts.pid);
    capacity_ = read_cpu_capacity(opts.proc_root, cgroup_, opts.pid);
    tdp_ = choose_tdp(cpu_, opts.tdp_override_w, capacity_.cpus);
    std::string err;
    MachineCpuTicks probe;
    if (!read_machine_cpu_ticks(opts.proc_root, &probe, &err)) {
        available_ = false;
        why_unavailable_ = err;
        return;
    }
    available_ = true;
    uint64_t usage = 0;
    cgroup_scope_ = opts.pid == 0 && cgroup_.found && !cgroup_.is_root &&
                    read_cgroup_usage_us(cgroup_.dir, &usage);
    scope_ = opts.pid != 0 ? "process-tree" : (cgroup_scope_ ? "cgroup" : "machine");
    // A stored calibration for this CPU model (not with a TDP override: that is the user's
    // statement about this machine).
    if (opts.calibration_path != "none" && opts.tdp_override_w <= 0 && !cpu_.model_name.empty()) {
        std::string path =
            opts.calibration_path.empty() ? default_calibration_path() : opts.calibration_path;
        for (const auto& c : load_calibrations(path)) {
            if (c.cpu_model == cpu_.model_name) {
                calibration_ = c;
                calibrated_ = true;
            }
        }
    }
    if (calibrated_) {
        // RAPL's own error and the step from a synthetic load to real work (memory-bound code
        // draws less than a spin loop at the same utilisation).
        rel_low_ = rel_high_ = calibration_.max_rel_residual + 0.10;
        note_ = fmt("calibrated against RAPL: %.2f CPUs × (%.3f + %.3f × u^", capacity_.cpus,
                    calibration_.idle_w_per_cpu, calibration_.dynamic_w_per_cpu) +
                fmt("%.2f) W (", calibration_.exponent) + calibration_.date + ", " +
                std::to_string(calibration_.points) + " points, " + calibration_.source + ")";
    } else {
        switch (tdp_.kind) {
            case TdpChoice::Kind::kOverride:
                rel_low_ = rel_high_ = 0.25;  // the curve's shape only
                break;
            case TdpChoice::Kind::kTable:
                rel_low_ = rel_high_ = 0.30;
                break;
            case TdpChoice::Kind::kFamily:
                rel_low_ = rel_high_ = 0.50;
                break;
            case TdpChoice::Kind::kDefault:
                rel_low_ = 0.50;
                rel_high_ = 1.00;
                break;
        }
        note_ = fmt("TDP %.1f W × Teads curve (12/32/75/102 %% of TDP at 0/10/50/100 %% load); ",
                    tdp_.tdp_w) +
                "TDP from " + tdp_.origin;
    }
    note_ += "; utilisation of " + capacity_.origin;
    note_ += opts.pid == 0
                 ? (cgroup_scope_ ? " used by cgroup " + cgroup_.dir + " (cpu.stat usage_usec)"
                                  : " over the whole machine (/proc/stat, steal excluded)")
                 : " used by process " + std::to_string(opts.pid) +
                       " and its descendants (reaped children included); the idle share is "
                       "charged in full";
    note_ += fmt("; uncertainty -%.0f %%/+%.0f %%", rel_low_ * 100, rel_high_ * 100);
}

double CpuModelSource::power_at(double u) const {
    if (calibrated_) {
        return capacity_.cpus * calibration_.w_per_cpu(u);
    }
    return tdp_.tdp_w * curve_share(teads_curve(), u);
}

double CpuModelSource::marginal_w_per_cpu_s(double util) const {
    double u = std::min(1.0, std::max(0.01, util));
    if (calibrated_) {
        return calibration_.dynamic_w_per_cpu * calibration_.exponent *
               std::pow(u, calibration_.exponent - 1);
    }
    return tdp_.tdp_w * curve_slope(teads_curve(), u) / capacity_.cpus;
}

void CpuModelSource::prime(double t_s) {
    prev_t_s_ = t_s;
    cpu_time_s_ = 0;
    if (opts_.pid != 0) {
        tree_ = std::make_unique<ProcessTreeMeter>(opts_.proc_root, opts_.pid);
        tree_->sample();
    } else if (cgroup_scope_) {
        read_cgroup_usage_us(cgroup_.dir, &prev_usage_us_);
    } else {
        std::string err;
        read_machine_cpu_ticks(opts_.proc_root, &prev_ticks_, &err);
    }
}

double CpuModelSource::utilisation(double t_s) {
    if (opts_.pid != 0 || cgroup_scope_) {
        double cpu_s = 0;
        if (opts_.pid != 0) {
            if (!tree_) {
                prime(t_s);
                return 0;
            }
            auto d = tree_->sample();
            cpu_s = static_cast<double>(d.cpu_ticks) / static_cast<double>(clock_ticks_per_s());
        } else {
            uint64_t usage = 0;
            if (!read_cgroup_usage_us(cgroup_.dir, &usage)) {
                add_warning("cannot read " + cgroup_.dir + "/cpu.stat");
                return std::numeric_limits<double>::quiet_NaN();
            }
            cpu_s =
                usage >= prev_usage_us_ ? static_cast<double>(usage - prev_usage_us_) * 1e-6 : 0;
            prev_usage_us_ = usage;
        }
        double dt = t_s - prev_t_s_;
        prev_t_s_ = t_s;
        cpu_time_s_ += cpu_s;
        if (dt <= 0) {
            return last_util_;
        }
        return cpu_s / (dt * capacity_.cpus);
    }
    MachineCpuTicks now;
    std::string err;
    if (!read_machine_cpu_ticks(opts_.proc_root, &now, &err)) {
        add_warning(err);
        return std::numeric_limits<double>::quiet_NaN();
    }
    uint64_t dbusy = now.busy >= prev_ticks_.busy ? now.busy - prev_ticks_.busy : 0;
    uint64_t dtotal = now.total >= prev_ticks_.total ? now.total - prev_ticks_.total : 0;
    prev_ticks_ = now;
    prev_t_s_ = t_s;
    cpu_time_s_ += static_cast<double>(dbusy) / static_cast<double>(clock_ticks_per_s());
    if (dtotal == 0) {
        return last_util_;  // tick granularity (10 ms): no new ticks since the last sample
    }
    return static_cast<double>(dbusy) / static_cast<double>(dtotal);
}

double CpuModelSource::read_power_w(double t_s) {
    double u = utilisation(t_s);
    if (std::isnan(u)) {
        return u;
    }
    u = std::min(1.0, std::max(0.0, u));
    last_util_ = u;
    return power_at(u);
}

RamModelSource::RamModelSource(const RamModelOptions& opts) : opts_(opts) {
    name_ = opts.pid == 0 ? "ram-model" : "ram-model:pid-" + std::to_string(opts.pid);
    component_ = Component::kRam;
    provenance_ = Provenance::kModelled;
    update_period_s_ = opts.update_period_s;
    mem_total_gb_ = read_mem_total_bytes(opts.proc_root) / 1e9;
    if (mem_total_gb_ <= 0) {
        available_ = false;
        why_unavailable_ = "cannot read MemTotal from " + opts.proc_root + "/meminfo";
        return;
    }
    available_ = true;
    if (opts.pid != 0) {
        scope_ = "process-tree";
        note_ = fmt("%.3f W/GB × resident set of the process tree (RSS share of %.2f GB)",
                    opts.w_per_gb, mem_total_gb_);
        note_ += "; uncertainty -50 %/+100 %";
        tree_ = std::make_unique<ProcessTreeMeter>(opts.proc_root, opts.pid);
        return;
    }
    CgroupInfo cg = read_cgroup(opts.proc_root, opts.cgroup_root, 0);
    if (cg.found && !cg.is_root) {
        scope_ = "cgroup";
        if (cg.memory_max_bytes > 0 && cg.memory_max_bytes / 1e9 < mem_total_gb_) {
            fixed_gb_ = cg.memory_max_bytes / 1e9;
            note_ = fmt("%.3f W/GB × %.2f GB (the cgroup's memory.max", opts.w_per_gb, fixed_gb_) +
                    ", " + cg.dir + ")";
        } else {
            cgroup_dir_ = cg.dir;
            note_ = fmt("%.3f W/GB × the cgroup's memory.current (no memory limit; of %.2f GB)",
                        opts.w_per_gb, mem_total_gb_) +
                    ", " + cg.dir;
        }
    } else {
        fixed_gb_ = mem_total_gb_;
        note_ = fmt("%.3f W/GB × %.2f GB installed (MemTotal)", opts.w_per_gb, mem_total_gb_);
    }
    note_ += "; uncertainty -50 %/+100 %";
}

double RamModelSource::read_power_w(double t_s) {
    (void)t_s;
    if (tree_) {
        return opts_.w_per_gb * tree_->sample().rss_bytes / 1e9;
    }
    if (!cgroup_dir_.empty()) {
        return opts_.w_per_gb * read_cgroup_memory_bytes(cgroup_dir_) / 1e9;
    }
    return opts_.w_per_gb * fixed_gb_;
}

}  // namespace gk::energy
