// A fake NVML shared library for tests: the real entry points (C ABI), scripted through the file
// named by $GK_FAKE_NVML_SCRIPT, read at nvmlInit_v2. Directives, one per line:
//   gpus N | name I TEXT | init_error CODE
//   energy I V1 V2 ...   successive nvmlDeviceGetTotalEnergyConsumption results (mJ); "err:N"
//   returns
//                        error N, "ns" NOT_SUPPORTED; the last token repeats
//   power I V1 V2 ...    successive nvmlDeviceGetPowerUsage results (mW), same tokens
//   limits I MIN MAX CURRENT (mW) | set_error I CODE | enforce_offset I MW
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct FakeGpu {
    std::string name = "Fake GPU";
    std::vector<std::string> energy{"ns"};
    size_t energy_at = 0;
    std::vector<std::string> power{"ns"};
    size_t power_at = 0;
    unsigned min_mw = 0, max_mw = 0, limit_mw = 0;
    bool has_limits = false;
    int set_error = 0;
    int enforce_offset_mw = 0;
};

std::vector<FakeGpu> g_gpus;
int g_init_error = 0;
bool g_initialised = false;

// Next scripted token for a sequence: the last one repeats.
int next_value(std::vector<std::string>& seq, size_t& at, unsigned long long* out) {
    const std::string& tok = seq[at < seq.size() ? at : seq.size() - 1];
    if (at < seq.size()) {
        ++at;
    }
    if (tok == "ns") {
        return 3;  // NVML_ERROR_NOT_SUPPORTED
    }
    if (tok.rfind("err:", 0) == 0) {
        return std::atoi(tok.c_str() + 4);
    }
    *out = std::strtoull(tok.c_str(), nullptr, 10);
    return 0;
}

FakeGpu* gpu(void* dev) { return static_cast<FakeGpu*>(dev); }

}  // namespace

extern "C" {

int nvmlInit_v2() {
    g_gpus.clear();
    g_init_error = 0;
    const char* path = std::getenv("GK_FAKE_NVML_SCRIPT");
    if (path == nullptr) {
        return 9;  // NVML_ERROR_DRIVER_NOT_LOADED
    }
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string key;
        ls >> key;
        if (key == "gpus") {
            size_t n = 0;
            ls >> n;
            g_gpus.assign(n, FakeGpu());
            continue;
        }
        if (key == "init_error") {
            ls >> g_init_error;
            continue;
        }
        size_t i = 0;
        ls >> i;
        if (i >= g_gpus.size()) {
            continue;
        }
        FakeGpu& g = g_gpus[i];
        std::string tok;
        if (key == "name") {
            std::getline(ls >> std::ws, g.name);
        } else if (key == "energy" || key == "power") {
            std::vector<std::string> seq;
            while (ls >> tok) {
                seq.push_back(tok);
            }
            (key == "energy" ? g.energy : g.power) = seq;
        } else if (key == "limits") {
            ls >> g.min_mw >> g.max_mw >> g.limit_mw;
            g.has_limits = true;
        } else if (key == "set_error") {
            ls >> g.set_error;
        } else if (key == "enforce_offset") {
            ls >> g.enforce_offset_mw;
        }
    }
    if (g_init_error != 0) {
        return g_init_error;
    }
    g_initialised = true;
    return 0;
}

int nvmlShutdown() {
    g_initialised = false;
    return 0;
}

const char* nvmlErrorString(int code) {
    switch (code) {
        case 0:
            return "Success";
        case 3:
            return "Not Supported";
        case 4:
            return "Insufficient Permissions";
        case 9:
            return "Driver Not Loaded";
        default:
            return "Unknown Error";
    }
}

int nvmlDeviceGetCount_v2(unsigned* count) {
    *count = static_cast<unsigned>(g_gpus.size());
    return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** dev) {
    if (index >= g_gpus.size()) {
        return 2;  // NVML_ERROR_INVALID_ARGUMENT
    }
    *dev = &g_gpus[index];
    return 0;
}

int nvmlDeviceGetName(void* dev, char* name, unsigned length) {
    std::strncpy(name, gpu(dev)->name.c_str(), length - 1);
    name[length - 1] = '\0';
    return 0;
}

int nvmlDeviceGetTotalEnergyConsumption(void* dev, unsigned long long* mj) {
    return next_value(gpu(dev)->energy, gpu(dev)->energy_at, mj);
}

int nvmlDeviceGetPowerUsage(void* dev, unsigned* mw) {
    unsigned long long v = 0;
    int rc = next_value(gpu(dev)->power, gpu(dev)->power_at, &v);
    *mw = static_cast<unsigned>(v);
    return rc;
}

int nvmlDeviceGetPowerManagementLimitConstraints(void* dev, unsigned* min_mw, unsigned* max_mw) {
    if (!gpu(dev)->has_limits) {
        return 3;
    }
    *min_mw = gpu(dev)->min_mw;
    *max_mw = gpu(dev)->max_mw;
    return 0;
}

int nvmlDeviceGetPowerManagementLimit(void* dev, unsigned* mw) {
    *mw = gpu(dev)->limit_mw;
    return gpu(dev)->has_limits ? 0 : 3;
}

int nvmlDeviceGetEnforcedPowerLimit(void* dev, unsigned* mw) {
    *mw = static_cast<unsigned>(static_cast<int>(gpu(dev)->limit_mw) + gpu(dev)->enforce_offset_mw);
    return gpu(dev)->has_limits ? 0 : 3;
}

int nvmlDeviceSetPowerManagementLimit(void* dev, unsigned mw) {
    if (gpu(dev)->set_error != 0) {
        return gpu(dev)->set_error;
    }
    gpu(dev)->limit_mw = mw;
    return 0;
}

// Test hook (not NVML): the limit currently set on GPU i.
unsigned fake_nvml_limit_mw(unsigned i) { return i < g_gpus.size() ? g_gpus[i].limit_mw : 0; }

}  // extern "C"
