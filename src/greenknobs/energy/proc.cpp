// /proc parsing with plain file reads; nothing here throws on a vanished process.
#include "greenknobs/energy/proc.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"

namespace gk::energy {

bool read_machine_cpu_ticks(const std::string& proc_root, MachineCpuTicks* out, std::string* err) {
    std::string text;
    std::string path = proc_root + "/stat";
    if (!fs::read_small_file(path, &text)) {
        *err = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    if (text.compare(0, 4, "cpu ") != 0) {
        *err = path + ": first line is not the aggregate 'cpu' line";
        return false;
    }
    const char* p = text.c_str() + 4;
    uint64_t v[10] = {0};
    for (int i = 0; i < 10; ++i) {
        char* end = nullptr;
        v[i] = std::strtoull(p, &end, 10);
        if (end == p) {
            break;
        }
        p = end;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in
    // user. Steal is time the hypervisor gave this vCPU's physical core to someone else: not our
    // work, so it is not busy, but it is part of the time the vCPUs existed.
    out->busy = v[0] + v[1] + v[2] + v[5] + v[6];
    out->total = out->busy + v[3] + v[4] + v[7];
    return true;
}

bool parse_process_stat(const std::string& line, ProcessStat* out) {
    size_t open = line.find('(');
    size_t close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) {
        return false;
    }
    out->pid = std::atoi(line.c_str());
    // After ") ": field 3 (state) onwards, space separated.
    std::istringstream rest(line.substr(close + 2));
    std::string f[22];
    for (int i = 0; i < 22; ++i) {
        if (!(rest >> f[i])) {
            return false;
        }
    }
    // f[0] = field 3 (state); field k is f[k-3].
    out->ppid = std::atoi(f[1].c_str());
    out->cpu_ticks =
        std::strtoull(f[11].c_str(), nullptr, 10) + std::strtoull(f[12].c_str(), nullptr, 10);
    out->reaped_cpu_ticks =
        std::strtoull(f[13].c_str(), nullptr, 10) + std::strtoull(f[14].c_str(), nullptr, 10);
    out->start_ticks = std::strtoull(f[19].c_str(), nullptr, 10);
    out->rss_pages = std::strtoull(f[21].c_str(), nullptr, 10);
    return true;
}

std::vector<ProcessStat> read_all_processes(const std::string& proc_root) {
    std::vector<ProcessStat> out;
    DIR* dir = ::opendir(proc_root.c_str());
    if (dir == nullptr) {
        return out;
    }
    std::string text;
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        if (!fs::read_small_file(proc_root + "/" + e->d_name + "/stat", &text)) {
            continue;  // exited meanwhile
        }
        ProcessStat s;
        if (parse_process_stat(text, &s)) {
            out.push_back(s);
        }
    }
    ::closedir(dir);
    return out;
}

std::vector<ProcessStat> process_tree(const std::vector<ProcessStat>& all, int root_pid) {
    std::set<int> in_tree{root_pid};
    std::vector<ProcessStat> out;
    // Parents usually have lower pids, but pid wrap breaks that: iterate to a fixed point.
    bool grew = true;
    std::vector<bool> taken(all.size(), false);
    while (grew) {
        grew = false;
        for (size_t i = 0; i < all.size(); ++i) {
            if (!taken[i] && (all[i].pid == root_pid || in_tree.count(all[i].ppid) != 0)) {
                taken[i] = true;
                in_tree.insert(all[i].pid);
                out.push_back(all[i]);
                grew = true;
            }
        }
    }
    return out;
}

std::vector<ProcessStat> read_process_tree(const std::string& proc_root, int root_pid) {
    std::string root_dir = proc_root + "/" + std::to_string(root_pid);
    std::string probe = root_dir + "/task/" + std::to_string(root_pid) + "/children";
    if (::access(probe.c_str(), R_OK) != 0) {
        if (::access((root_dir + "/stat").c_str(), R_OK) != 0) {
            return {};  // the root is gone
        }
        return process_tree(read_all_processes(proc_root), root_pid);
    }
    std::vector<ProcessStat> out;
    std::vector<int> queue{root_pid};
    std::set<int> seen;
    std::string text;
    while (!queue.empty()) {
        int pid = queue.back();
        queue.pop_back();
        if (!seen.insert(pid).second) {
            continue;
        }
        std::string dir = proc_root + "/" + std::to_string(pid);
        ProcessStat s;
        if (!fs::read_small_file(dir + "/stat", &text) || !parse_process_stat(text, &s)) {
            continue;  // exited meanwhile
        }
        out.push_back(s);
        DIR* tasks = ::opendir((dir + "/task").c_str());
        if (tasks == nullptr) {
            continue;
        }
        while (dirent* e = ::readdir(tasks)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') {
                continue;
            }
            if (!fs::read_small_file(dir + "/task/" + e->d_name + "/children", &text)) {
                continue;
            }
            const char* p = text.c_str();
            char* end = nullptr;
            for (long child = std::strtol(p, &end, 10); end != p;
                 child = std::strtol(p, &end, 10)) {
                queue.push_back(static_cast<int>(child));
                p = end;
            }
        }
        ::closedir(tasks);
    }
    return out;
}

CpuInfo read_cpuinfo(const std::string& proc_root) {
    CpuInfo info;
    std::string text;
    if (!fs::read_small_file(proc_root + "/cpuinfo", &text)) {
        return info;
    }
    std::istringstream in(text);
    std::string line;
    std::set<std::string> sockets;
    while (std::getline(in, line)) {
        size_t colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        std::string key = line.substr(0, colon);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) {
            key.pop_back();
        }
        std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
        if (key == "processor") {
            ++info.logical_cpus;
        } else if (key == "model name" && info.model_name.empty()) {
            info.model_name = value;
        } else if (key == "physical id") {
            sockets.insert(value);
        }
    }
    info.sockets = sockets.empty() ? 1 : static_cast<int>(sockets.size());
    return info;
}

double read_mem_total_bytes(const std::string& proc_root) {
    std::string text;
    if (!fs::read_small_file(proc_root + "/meminfo", &text)) {
        return 0;
    }
    size_t at = text.find("MemTotal:");
    if (at == std::string::npos) {
        return 0;
    }
    return std::strtod(text.c_str() + at + 9, nullptr) * 1024.0;  // kB
}

int count_cpu_list(const std::string& list) {
    int n = 0;
    const char* p = list.c_str();
    while (*p != '\0' && *p != '\n') {
        char* end = nullptr;
        long a = std::strtol(p, &end, 10);
        if (end == p || a < 0) {
            return 0;
        }
        long b = a;
        p = end;
        if (*p == '-') {
            ++p;
            b = std::strtol(p, &end, 10);
            if (end == p || b < a) {
                return 0;
            }
            p = end;
        }
        n += static_cast<int>(b - a + 1);
        if (*p == ',') {
            ++p;
        } else if (*p != '\0' && *p != '\n' && *p != ' ') {
            return 0;
        } else {
            break;
        }
    }
    return n;
}

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) {
        s.pop_back();
    }
    return s;
}

std::string pid_dir(const std::string& proc_root, int pid) {
    return proc_root + "/" + (pid == 0 ? std::string("self") : std::to_string(pid));
}

}  // namespace

CgroupInfo read_cgroup(const std::string& proc_root, const std::string& cgroup_root, int pid) {
    CgroupInfo info;
    std::string text;
    if (!fs::read_small_file(pid_dir(proc_root, pid) + "/cgroup", &text)) {
        return info;
    }
    std::istringstream in(text);
    std::string line, path;
    bool v2 = false;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) == 0) {
            path = trim(line.substr(3));
            v2 = true;
        }
    }
    if (!v2 || ::access((cgroup_root + "/cgroup.controllers").c_str(), R_OK) != 0) {
        return info;  // no unified hierarchy mounted there (cgroup v1 or none)
    }
    if (path.empty() || path[0] != '/') {
        path = "/" + path;
    }
    info.dir = cgroup_root + (path == "/" ? "" : path);
    if (::access(info.dir.c_str(), R_OK) != 0) {
        return info;
    }
    info.found = true;
    // The root cgroup has no cpu.max; in a cgroup namespace (containers) "/" is the container's
    // own cgroup, which has one.
    info.is_root = ::access((info.dir + "/cpu.max").c_str(), R_OK) != 0 &&
                   ::access((info.dir + "/memory.max").c_str(), R_OK) != 0;
    // Limits of every ancestor apply too.
    std::string dir = info.dir;
    for (;;) {
        if (fs::read_small_file(dir + "/cpu.max", &text)) {
            std::istringstream f(text);
            std::string quota;
            double period = 0;
            f >> quota >> period;
            if (quota != "max" && period > 0) {
                double q = std::strtod(quota.c_str(), nullptr) / period;
                if (q > 0 && (info.quota_cpus == 0 || q < info.quota_cpus)) {
                    info.quota_cpus = q;
                }
            }
        }
        if (fs::read_small_file(dir + "/memory.max", &text) && trim(text) != "max") {
            double m = std::strtod(text.c_str(), nullptr);
            if (m > 0 && (info.memory_max_bytes == 0 || m < info.memory_max_bytes)) {
                info.memory_max_bytes = m;
            }
        }
        if (dir.size() <= cgroup_root.size()) {
            break;
        }
        dir = dir.substr(0, dir.rfind('/'));
    }
    return info;
}

bool read_cgroup_usage_us(const std::string& dir, uint64_t* usage_us) {
    std::string text;
    if (!fs::read_small_file(dir + "/cpu.stat", &text)) {
        return false;
    }
    size_t at = text.find("usage_usec ");
    if (at == std::string::npos) {
        return false;
    }
    *usage_us = std::strtoull(text.c_str() + at + 11, nullptr, 10);
    return true;
}

double read_cgroup_memory_bytes(const std::string& dir) {
    std::string text;
    return fs::read_small_file(dir + "/memory.current", &text) ? std::strtod(text.c_str(), nullptr)
                                                               : 0;
}

CpuCapacity read_cpu_capacity(const std::string& proc_root, const CgroupInfo& cgroup, int pid) {
    CpuCapacity c;
    c.online = std::max(1, read_cpuinfo(proc_root).logical_cpus);
    c.cpus = c.online;
    c.origin = std::to_string(c.online) + " logical CPUs";
    std::string text;
    if (fs::read_small_file(pid_dir(proc_root, pid) + "/status", &text)) {
        size_t at = text.find("Cpus_allowed_list:");
        if (at != std::string::npos) {
            size_t b = text.find_first_not_of(" \t", at + 18);
            size_t e = text.find('\n', at);
            if (b != std::string::npos) {
                c.affinity = count_cpu_list(text.substr(b, e == std::string::npos ? e : e - b));
            }
        }
    }
    if (c.affinity > 0 && c.affinity < c.cpus) {
        c.cpus = c.affinity;
        c.origin += "; affinity mask " + std::to_string(c.affinity);
    }
    c.quota_cpus = cgroup.quota_cpus;
    if (c.quota_cpus > 0 && c.quota_cpus < c.cpus) {
        c.cpus = c.quota_cpus;
        char buf[64];
        std::snprintf(buf, sizeof buf, "; cgroup cpu.max %g CPUs", c.quota_cpus);
        c.origin += buf;
    }
    return c;
}

long clock_ticks_per_s() {
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    return ticks > 0 ? ticks : 100;
}

long page_size_bytes() {
    static const long size = ::sysconf(_SC_PAGESIZE);
    return size > 0 ? size : 4096;
}

ProcessTreeMeter::ProcessTreeMeter(std::string proc_root, int root_pid)
    : proc_root_(std::move(proc_root)), root_pid_(root_pid) {}

ProcessTreeMeter::Delta ProcessTreeMeter::sample() {
    auto tree = read_process_tree(proc_root_, root_pid_);
    Delta d;
    std::map<int, Seen> now;
    for (const auto& p : tree) {
        Seen s;
        s.ppid = p.ppid;
        s.start_ticks = p.start_ticks;
        s.cpu_ticks = p.cpu_ticks;
        s.reaped_cpu_ticks = p.reaped_cpu_ticks;
        now[p.pid] = s;
        d.rss_bytes += static_cast<double>(p.rss_pages) * static_cast<double>(page_size_bytes());
        ++d.processes;
    }
    if (first_) {
        first_ = false;
        prev_.swap(now);
        return d;
    }
    auto same = [](const std::map<int, Seen>& m, int pid, uint64_t start) {
        auto it = m.find(pid);
        return it != m.end() && it->second.start_ticks == start;
    };
    // Processes gone since the last call: what was counted for them (their own time, their reaped
    // children's and their outstanding credit) reappears in the reaper's cutime + cstime, so it is
    // credited to the nearest ancestor still in the tree.
    std::map<int, uint64_t> incoming;
    for (const auto& kv : prev_) {
        if (same(now, kv.first, kv.second.start_ticks)) {
            continue;
        }
        ++d.vanished;
        // Still alive but no longer below the root: re-parented away (double fork). Its time so far
        // stays counted; its reaper is not ours.
        ProcessStat alive;
        std::string text;
        if (fs::read_small_file(proc_root_ + "/" + std::to_string(kv.first) + "/stat", &text) &&
            parse_process_stat(text, &alive) && alive.start_ticks == kv.second.start_ticks) {
            continue;
        }
        int up = kv.second.ppid;
        for (int hops = 0;
             hops < 64 && prev_.count(up) != 0 && !same(now, up, prev_[up].start_ticks); ++hops) {
            up = prev_[up].ppid;  // the parent is gone too: its reaper gets both
        }
        incoming[up] += kv.second.cpu_ticks + kv.second.reaped_cpu_ticks + kv.second.credit_ticks;
    }
    for (auto& kv : now) {
        Seen& s = kv.second;
        uint64_t credit = incoming.count(kv.first) != 0 ? incoming[kv.first] : 0;
        auto it = prev_.find(kv.first);
        uint64_t own = s.cpu_ticks, reaped = s.reaped_cpu_ticks;
        if (it != prev_.end() && it->second.start_ticks == s.start_ticks) {
            own = s.cpu_ticks >= it->second.cpu_ticks ? s.cpu_ticks - it->second.cpu_ticks : 0;
            reaped = s.reaped_cpu_ticks >= it->second.reaped_cpu_ticks
                         ? s.reaped_cpu_ticks - it->second.reaped_cpu_ticks
                         : 0;
            credit += it->second.credit_ticks;
        }
        // Reaped time first pays back the credit (already counted), the rest is new.
        uint64_t paid = std::min(credit, reaped);
        s.credit_ticks = credit - paid;
        d.cpu_ticks += own + (reaped - paid);
    }
    total_ticks_ += d.cpu_ticks;
    prev_.swap(now);
    return d;
}

}  // namespace gk::energy
