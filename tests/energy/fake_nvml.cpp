// A fake NVML shared library for tests: the real entry points (C ABI), scripted through the file
// named by $GK_FAKE_NVML_SCRIPT, read at nvmlInit_v2. Directives, one per line:
//   gpus N | name I TEXT | init_error CODE
//   energy I V1 V2 ...   successive nvmlDeviceGetTotalEnergyConsumption results (mJ); "err:N"
//   returns
//                        error N, "ns" NOT_SUPPORTED; the last token repeats
//   power I V1 V2 ...    successive nvmlDeviceGetPowerUsage results (mW), same tokens
//   limits I MIN MAX CURRENT (mW) | set_error I CODE | enforce_offset I MW
//   uuid I TEXT (default GPU-fake-I) | mig I UUID... (MIG instances of GPU I)
//   instant I V1 V2 ...  successive NVML_FI_DEV_POWER_INSTANT results (mW), same tokens
//   energy_delay_ms I MS each energy read of GPU I takes this long (holding the library's lock)
//   limit_file PATH      every limit change rewrites PATH with "I MW" lines (for forked tests)
// Every entry point holds one library-wide lock, as a real driver library may: a signal handler
// that calls back into the library from an interrupted call deadlocks, as it would for real.
// nvmlInit_v2 is reference-counted like the real one: the script is read when the count goes
// from 0 to 1.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
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
    std::string uuid;
    std::vector<std::string> instant{"ns"};
    size_t instant_at = 0;
    int energy_delay_ms = 0;
};

struct FakeMig {
    size_t parent;
    std::string uuid;
};

std::vector<FakeGpu> g_gpus;
std::vector<std::vector<FakeMig>> g_migs;  // per GPU; kept apart so MIG handles stay distinct
int g_init_error = 0;
bool g_initialised = false;
int g_init_count = 0;
std::string g_limit_file;
std::recursive_mutex g_init_mu;  // init/shutdown only
std::mutex g_mu;                 // every device call

void write_limit_file() {
    if (g_limit_file.empty()) {
        return;
    }
    std::ofstream out(g_limit_file);
    for (size_t i = 0; i < g_gpus.size(); ++i) {
        out << i << " " << g_gpus[i].limit_mw << "\n";
    }
}

bool is_mig(void* dev) {
    for (auto& v : g_migs) {
        for (auto& m : v) {
            if (&m == dev) {
                return true;
            }
        }
    }
    return false;
}

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
    std::lock_guard<std::recursive_mutex> init_lock(g_init_mu);
    if (g_init_count > 0) {
        ++g_init_count;
        return 0;
    }
    g_gpus.clear();
    g_migs.clear();
    g_limit_file.clear();
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
            g_migs.assign(n, {});
            for (size_t k = 0; k < n; ++k) {
                g_gpus[k].uuid = "GPU-fake-" + std::to_string(k);
            }
            continue;
        }
        if (key == "init_error") {
            ls >> g_init_error;
            continue;
        }
        if (key == "limit_file") {
            ls >> g_limit_file;
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
        } else if (key == "energy" || key == "power" || key == "instant") {
            std::vector<std::string> seq;
            while (ls >> tok) {
                seq.push_back(tok);
            }
            (key == "energy" ? g.energy : key == "power" ? g.power : g.instant) = seq;
        } else if (key == "uuid") {
            ls >> g.uuid;
        } else if (key == "mig") {
            while (ls >> tok) {
                g_migs[i].push_back({i, tok});
            }
        } else if (key == "energy_delay_ms") {
            ls >> g.energy_delay_ms;
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
    g_init_count = 1;
    return 0;
}

int nvmlShutdown() {
    std::lock_guard<std::recursive_mutex> init_lock(g_init_mu);
    if (g_init_count > 0 && --g_init_count == 0) {
        g_initialised = false;
    }
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
    std::lock_guard<std::mutex> lock(g_mu);
    if (gpu(dev)->energy_delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(gpu(dev)->energy_delay_ms));
    }
    return next_value(gpu(dev)->energy, gpu(dev)->energy_at, mj);
}

int nvmlDeviceGetUUID(void* dev, char* uuid, unsigned length) {
    std::lock_guard<std::mutex> lock(g_mu);
    const std::string& u = is_mig(dev) ? static_cast<FakeMig*>(dev)->uuid : gpu(dev)->uuid;
    std::strncpy(uuid, u.c_str(), length - 1);
    uuid[length - 1] = '\0';
    return 0;
}

int nvmlDeviceGetMaxMigDeviceCount(void* dev, unsigned* count) {
    std::lock_guard<std::mutex> lock(g_mu);
    size_t i = static_cast<size_t>(gpu(dev) - g_gpus.data());
    *count = static_cast<unsigned>(g_migs[i].size());
    return g_migs[i].empty() ? 3 : 0;
}

int nvmlDeviceGetMigDeviceHandleByIndex(void* dev, unsigned index, void** mig) {
    std::lock_guard<std::mutex> lock(g_mu);
    size_t i = static_cast<size_t>(gpu(dev) - g_gpus.data());
    if (index >= g_migs[i].size()) {
        return 2;
    }
    *mig = &g_migs[i][index];
    return 0;
}

// nvmlFieldValue_t as nvml.h lays it out.
struct FieldValue {
    unsigned field_id;
    unsigned scope_id;
    long long timestamp;
    long long latency_us;
    int value_type;
    int nvml_return;
    union {
        double d;
        unsigned ui;
        unsigned long ul;
        unsigned long long ull;
        long long sll;
    } value;
};

int nvmlDeviceGetFieldValues(void* dev, int count, FieldValue* values) {
    std::lock_guard<std::mutex> lock(g_mu);
    for (int k = 0; k < count; ++k) {
        FieldValue& f = values[k];
        if (f.field_id != 186) {  // NVML_FI_DEV_POWER_INSTANT
            f.nvml_return = 3;
            continue;
        }
        unsigned long long v = 0;
        f.nvml_return = next_value(gpu(dev)->instant, gpu(dev)->instant_at, &v);
        f.value_type = 1;  // unsigned int
        f.value.ui = static_cast<unsigned>(v);
    }
    return 0;
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
    std::lock_guard<std::mutex> lock(g_mu);
    if (gpu(dev)->set_error != 0) {
        return gpu(dev)->set_error;
    }
    gpu(dev)->limit_mw = mw;
    write_limit_file();
    return 0;
}

// Test hook (not NVML): the limit currently set on GPU i.
unsigned fake_nvml_limit_mw(unsigned i) { return i < g_gpus.size() ? g_gpus[i].limit_mw : 0; }

}  // extern "C"
