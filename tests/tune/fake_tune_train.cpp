// A stand-in for `greenknobs train` in the tune tests: a complete run.json whose numbers follow the
// configuration's fields (not its name), so the search sees real knob effects, deterministically:
//   energy  = (20 + 0.5 · train samples) · max_length/64 · (0.6 if bf16) · (1.3 if grad
//             checkpointing) · (0.8 if 1 thread), plus seed % 3 J of noise
//   val F1  = 0.80 − 0.005 · (seed % 3) − (0.04 if max_length < 48)
//             − (0.03 if bf16 and GK_FAKE_BF16_FULL_COST is set and train samples >= 96)
//   test F1 = val F1 − 0.01 + GK_FAKE_TEST_SHIFT
// GK_FAKE_SLEEP_MS (default 20) is spent "training"; GK_FAKE_ORDER_LOG=file gets one line per
// start.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "greenknobs/config/run_config.h"
#include "greenknobs/util/fs.h"

#include "synthetic_run.h"

namespace {

std::string env(const char* name, const char* def = "") {
    const char* v = std::getenv(name);
    return v ? v : def;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config, out;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--config") == 0) {
            config = argv[i + 1];
        } else if (std::strcmp(argv[i], "--out") == 0) {
            out = argv[i + 1];
        }
    }
    if (argc < 2 || std::strcmp(argv[1], "train") != 0 || config.empty() || out.empty()) {
        std::fprintf(stderr, "usage: fake_tune_train train --config FILE --out DIR\n");
        return 2;
    }
    const gk::config::RunConfig c = gk::config::load_toml(config);
    if (!env("GK_FAKE_ORDER_LOG").empty()) {
        const std::string line = c.name + " " + std::to_string(c.train.seed) + " " +
                                 std::to_string(c.data.max_train_samples) + "\n";
        int fd = ::open(env("GK_FAKE_ORDER_LOG").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ssize_t w = ::write(fd, line.data(), line.size());
            (void)w;
            ::close(fd);
        }
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::strtol(env("GK_FAKE_SLEEP_MS", "20").c_str(), nullptr, 10)));

    const double samples = static_cast<double>(c.data.max_train_samples);
    const bool bf16 = c.train.precision == gk::config::Precision::kBf16;
    double e = (20 + 0.5 * samples) * c.tokenizer.max_length / 64.0;
    e *= bf16 ? 0.6 : 1.0;
    e *= c.train.grad_checkpointing ? 1.3 : 1.0;
    e *= c.system.threads == 1 ? 0.8 : 1.0;
    e += static_cast<double>(c.train.seed % 3);
    double val = 0.80 - 0.005 * static_cast<double>(c.train.seed % 3);
    if (c.tokenizer.max_length < 48) {
        val -= 0.04;
    }
    if (bf16 && !env("GK_FAKE_BF16_FULL_COST").empty() && samples >= 96) {
        val -= 0.03;
    }
    gk::testing::SyntheticRun s;
    s.variant = c.name;
    s.total_energy_j = e;
    s.total_time_s = e / 10.0;
    s.f1_vul = val - 0.01 + std::strtod(env("GK_FAKE_TEST_SHIFT", "0").c_str(), nullptr);
    nlohmann::json doc = gk::testing::make_run_json(s);
    doc["config"] = gk::config::to_json(c);
    doc["config_hash"] = gk::config::config_hash(c);
    doc["train"]["best_epoch"] = 1;
    doc["train"]["validation"] =
        nlohmann::json::array({{{"epoch", 1}, {"loss", 0.4}, {"f1_vul", val}}});
    gk::fs::make_dirs(out);
    gk::fs::write_file_atomic(gk::fs::join(out, "run.json"), doc.dump(2) + "\n");
    std::printf("run directory: %s\n", out.c_str());
    return 0;
}
