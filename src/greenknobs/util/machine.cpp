// /proc and uname readers; every field degrades to empty/0 rather than failing.
#include "greenknobs/util/machine.h"

#include <ctime>
#include <fstream>
#include <thread>

#include <sys/utsname.h>
#include <unistd.h>

namespace gk {
namespace {

std::string value_after_colon(const std::string& line) {
    auto pos = line.find(':');
    if (pos == std::string::npos) {
        return "";
    }
    std::string v = line.substr(pos + 1);
    size_t b = v.find_first_not_of(" \t");
    return b == std::string::npos ? "" : v.substr(b);
}

}  // namespace

MachineInfo machine_info() {
    MachineInfo m;
    char host[256] = {0};
    if (::gethostname(host, sizeof host - 1) == 0) {
        m.hostname = host;
    }
    std::ifstream cpu("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpu, line)) {
        if (line.rfind("model name", 0) == 0) {
            m.cpu_model = value_after_colon(line);
            break;
        }
    }
    m.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
    std::ifstream mem("/proc/meminfo");
    while (std::getline(mem, line)) {
        if (line.rfind("MemTotal:", 0) == 0) {
            m.ram_gb = std::stod(value_after_colon(line)) / (1024.0 * 1024.0);
            break;
        }
    }
    std::ifstream osr("/etc/os-release");
    while (std::getline(osr, line)) {
        if (line.rfind("PRETTY_NAME=", 0) == 0) {
            m.os = line.substr(12);
            if (m.os.size() >= 2 && m.os.front() == '"') {
                m.os = m.os.substr(1, m.os.size() - 2);
            }
        }
    }
    struct utsname u {};
    if (::uname(&u) == 0) {
        m.os += std::string(m.os.empty() ? "" : ", ") + u.sysname + " " + u.release;
    }
    return m;
}

nlohmann::json to_json(const MachineInfo& m) {
    return {{"hostname", m.hostname},
            {"cpu_model", m.cpu_model},
            {"logical_cpus", m.logical_cpus},
            {"ram_gb", m.ram_gb},
            {"os", m.os}};
}

double peak_rss_mb() {
    std::ifstream st("/proc/self/status");
    std::string line;
    while (std::getline(st, line)) {
        if (line.rfind("VmHWM:", 0) == 0) {
            return std::stod(value_after_colon(line)) / 1024.0;
        }
    }
    return 0;
}

}  // namespace gk
