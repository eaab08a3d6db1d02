// /proc parsing with plain file reads; nothing here throws on a vanished process.
#include "greenknobs/energy/proc.h"

#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace gk::energy {

namespace {

// Small whole-file read with open/read/close (cheaper than iostreams on the sampler's hot path).
bool slurp(const std::string& path, std::string* out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    out->clear();
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            ::close(fd);
            return false;
        }
        if (n == 0) {
            break;
        }
        out->append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return true;
}

}  // namespace

bool read_machine_cpu_ticks(const std::string& proc_root, MachineCpuTicks* out, std::string* err) {
    std::string text;
    std::string path = proc_root + "/stat";
    if (!slurp(path, &text)) {
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
    // user.
    out->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    out->total = out->busy + v[3] + v[4];
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
        if (!slurp(proc_root + "/" + e->d_name + "/stat", &text)) {
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
        if (!slurp(dir + "/stat", &text) || !parse_process_stat(text, &s)) {
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
            if (!slurp(dir + "/task/" + e->d_name + "/children", &text)) {
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
    if (!slurp(proc_root + "/cpuinfo", &text)) {
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
    if (!slurp(proc_root + "/meminfo", &text)) {
        return 0;
    }
    size_t at = text.find("MemTotal:");
    if (at == std::string::npos) {
        return 0;
    }
    return std::strtod(text.c_str() + at + 9, nullptr) * 1024.0;  // kB
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
    std::map<int, std::pair<uint64_t, uint64_t>> now;
    for (const auto& p : tree) {
        now[p.pid] = {p.start_ticks, p.cpu_ticks};
        d.rss_bytes += static_cast<double>(p.rss_pages) * static_cast<double>(page_size_bytes());
        ++d.processes;
        if (first_) {
            continue;
        }
        auto it = prev_.find(p.pid);
        if (it != prev_.end() && it->second.first == p.start_ticks) {
            if (p.cpu_ticks >= it->second.second) {
                d.cpu_ticks += p.cpu_ticks - it->second.second;
            }
        } else {
            d.cpu_ticks += p.cpu_ticks;  // started since the previous sample
        }
    }
    first_ = false;
    prev_.swap(now);
    return d;
}

}  // namespace gk::energy
