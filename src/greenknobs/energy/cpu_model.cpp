// The CPU and RAM models and the TDP table.
#include "greenknobs/energy/cpu_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

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
        {"AMD EPYC", 280, 128},  // as EPYC 7763 (Milan), the common cloud part
        {"Xeon", 270, 80},       // as Platinum 8380 (Ice Lake)
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

TdpChoice choose_tdp(const CpuInfo& cpu, double override_tdp_w) {
    TdpChoice choice;
    int logical = std::max(1, cpu.logical_cpus);
    if (override_tdp_w > 0) {
        choice.tdp_w = override_tdp_w;
        choice.origin = fmt("override (cpu_tdp_w = %g W)", override_tdp_w);
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
        double share = std::min(static_cast<double>(logical) / best->threads,
                                static_cast<double>(std::max(1, cpu.sockets)));
        choice.tdp_w = best->tdp_w * share;
        choice.origin = "table: '" + std::string(best->pattern) + "' " +
                        fmt("%g W per %g threads, scaled to %g logical CPUs", best->tdp_w,
                            best->threads, logical);
        return choice;
    }
    choice.tdp_w = kDefaultTdpPerThreadW * logical;
    choice.origin = "default: CPU model '" + cpu.model_name + "' not in the table; " +
                    fmt("%g W per logical CPU × %g", kDefaultTdpPerThreadW, logical);
    return choice;
}

CpuModelSource::CpuModelSource(const CpuModelOptions& opts) : opts_(opts) {
    name_ = opts.pid == 0 ? "cpu-model" : "cpu-model:pid-" + std::to_string(opts.pid);
    component_ = Component::kCpu;
    provenance_ = Provenance::kModelled;
    update_period_s_ = opts.update_period_s;
    cpu_ = read_cpuinfo(opts.proc_root);
    tdp_ = choose_tdp(cpu_, opts.tdp_override_w);
    std::string err;
    MachineCpuTicks probe;
    if (!read_machine_cpu_ticks(opts.proc_root, &probe, &err)) {
        available_ = false;
        why_unavailable_ = err;
        return;
    }
    available_ = true;
    note_ = fmt("TDP %.1f W × (%.2f + %.2f × utilisation); ", tdp_.tdp_w, opts.idle_share,
                opts.dynamic_share) +
            "TDP from " + tdp_.origin +
            (opts.pid == 0 ? "; utilisation of the whole machine (/proc/stat)"
                           : "; utilisation of process " + std::to_string(opts.pid) +
                                 " and its descendants (CPU time / (wall time × logical CPUs)); "
                                 "the idle share is charged in full");
}

void CpuModelSource::prime(double t_s) {
    prev_t_s_ = t_s;
    if (opts_.pid != 0) {
        tree_ = std::make_unique<ProcessTreeMeter>(opts_.proc_root, opts_.pid);
        tree_->sample();
    } else {
        std::string err;
        read_machine_cpu_ticks(opts_.proc_root, &prev_ticks_, &err);
    }
}

double CpuModelSource::utilisation(double t_s) {
    if (opts_.pid != 0) {
        if (!tree_) {
            prime(t_s);
            return 0;
        }
        auto d = tree_->sample();
        double dt = t_s - prev_t_s_;
        prev_t_s_ = t_s;
        if (dt <= 0) {
            return last_util_;
        }
        double cpu_s = static_cast<double>(d.cpu_ticks) / static_cast<double>(clock_ticks_per_s());
        return cpu_s / (dt * std::max(1, cpu_.logical_cpus));
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
    return tdp_.tdp_w * (opts_.idle_share + opts_.dynamic_share * u);
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
    if (opts.pid == 0) {
        note_ = fmt("%.3f W/GB × %.2f GB installed (MemTotal)", opts.w_per_gb, mem_total_gb_);
    } else {
        note_ = fmt("%.3f W/GB × resident set of the process tree (RSS share of %.2f GB)",
                    opts.w_per_gb, mem_total_gb_);
        tree_ = std::make_unique<ProcessTreeMeter>(opts.proc_root, opts.pid);
    }
}

double RamModelSource::read_power_w(double t_s) {
    (void)t_s;
    if (!tree_) {
        return opts_.w_per_gb * mem_total_gb_;
    }
    return opts_.w_per_gb * tree_->sample().rss_bytes / 1e9;
}

}  // namespace gk::energy
