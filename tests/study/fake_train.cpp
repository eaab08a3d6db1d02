// A stand-in for `greenknobs train` so study tests never train a model: reads --config/--out,
// prints stage lines, sleeps a little and writes a plausible run.json (docs/design.md) whose
// numbers follow the config (energy by variant, a little noise by seed). Told by environment
// variables to misbehave:
//   GK_FAKE_MODE = crash | hang | exit3 | fail | bad | crash_after | interrupted  (default:
//                  succeed; crash_after: a complete run.json, then a crash in teardown;
//                  interrupted: what `train` does on a SIGINT sent to it alone: run.json
//                  "interrupted", exit 130)
//   GK_FAKE_ONLY = V7        the mode applies to this variant only (default: all)
//   GK_FAKE_ONCE_DIR = dir   the mode applies once per run (a marker file in dir), then it succeeds
//   GK_FAKE_SLEEP_MS = 40    time spent "training"
//   GK_FAKE_ORDER_LOG = file one line "<name> <seed>" appended per start (the execution order)
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "greenknobs/config/run_config.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/utc_time.h"

#include "synthetic_run.h"

namespace {

std::string env(const char* name, const char* def = "") {
    const char* v = std::getenv(name);
    return v ? v : def;
}

void sleep_ms(long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// V0 → 1.0, V7 → 0.65 ...: a per-variant energy factor so the report has something to compare.
double variant_factor(const std::string& name) {
    long n = std::strtol(name.c_str() + (name.empty() ? 0 : 1), nullptr, 10);
    return 1.0 - 0.05 * static_cast<double>(n % 10);
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
        std::fprintf(stderr, "usage: fake_train train --config FILE --out DIR\n");
        return 2;
    }
    gk::config::RunConfig cfg = gk::config::load_toml(config);
    const std::string hash = gk::config::config_hash(cfg);
    const std::string run_json = gk::fs::join(out, "run.json");

    if (!env("GK_FAKE_ORDER_LOG").empty()) {
        std::string line = cfg.name + " " + std::to_string(cfg.train.seed) + "\n";
        int fd = ::open(env("GK_FAKE_ORDER_LOG").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ssize_t w = ::write(fd, line.data(), line.size());
            (void)w;
            ::close(fd);
        }
    }

    std::string mode = env("GK_FAKE_MODE");
    const std::string only = env("GK_FAKE_ONLY");
    if (!only.empty() && only != cfg.name) {
        mode.clear();
    }
    if (!mode.empty() && !env("GK_FAKE_ONCE_DIR").empty()) {
        const std::string marker =
            gk::fs::join(env("GK_FAKE_ONCE_DIR"), cfg.name + "-" + std::to_string(cfg.train.seed));
        if (gk::fs::exists(marker)) {
            mode.clear();
        } else {
            gk::fs::write_file_atomic(marker, "1\n");
        }
    }

    nlohmann::json record = {{"schema", "greenknobs.run/1"},
                             {"status", "running"},
                             {"error", nullptr},
                             {"name", cfg.name},
                             {"config_hash", hash},
                             {"started_at", gk::utc_now_iso8601()}};
    gk::fs::make_dirs(out);
    gk::fs::write_file_atomic(run_json, record.dump(2) + "\n");

    if (mode == "bad") {
        std::fprintf(stderr, "greenknobs: error: %s:data.path: fake bad input\n", config.c_str());
        return 2;
    }
    if (mode == "exit3") {
        record["status"] = "skipped";
        record["error"] = "fake: power limit not settable here";
        gk::fs::write_file_atomic(run_json, record.dump(2) + "\n");
        std::fprintf(stderr, "greenknobs: unsupported here: fake: power limit not settable here\n");
        return 3;
    }

    const long sleep_total_ms = std::strtol(env("GK_FAKE_SLEEP_MS", "40").c_str(), nullptr, 10);
    const char* stages[] = {"load_dataset", "tokenize", "load_model", "train", "save", "evaluate"};
    for (const char* s : stages) {
        std::fprintf(stderr, "[info] stage: %s\n", s);
        std::fflush(stderr);
        sleep_ms(sleep_total_ms / 6);
        if (std::strcmp(s, "train") == 0) {
            if (mode == "crash") {
                std::fprintf(stderr, "fake: crashing in train\n");
                std::fflush(stderr);
                std::abort();
            }
            if (mode == "hang") {
                for (;;) {
                    sleep_ms(1000);
                }
            }
            if (mode == "interrupted") {
                record["status"] = "interrupted";
                record["error"] = "interrupted by SIGINT in stage train";
                gk::fs::write_file_atomic(run_json, record.dump(2) + "\n");
                std::fprintf(stderr, "greenknobs: interrupted by SIGINT in stage train\n");
                return 128 + SIGINT;
            }
            if (mode == "fail") {
                record["status"] = "failed";
                record["error"] = "fake: out of memory in train";
                gk::fs::write_file_atomic(run_json, record.dump(2) + "\n");
                std::fprintf(stderr, "greenknobs: internal error: fake: out of memory in train\n");
                return 1;
            }
        }
    }

    gk::testing::SyntheticRun s;
    s.variant = cfg.name;
    s.total_energy_j = 1000.0 * variant_factor(cfg.name) + static_cast<double>(cfg.train.seed % 7);
    s.total_time_s = 100.0 * variant_factor(cfg.name);
    s.f1_vul = 0.8 - 0.01 * static_cast<double>(cfg.train.seed % 3);
    nlohmann::json doc = gk::testing::make_run_json(s);
    doc["config"] = gk::config::to_json(cfg);
    doc["config_hash"] = hash;
    doc["started_at"] = record["started_at"];
    doc["finished_at"] = gk::utc_now_iso8601();
    doc["energy"]["timeseries"] = nlohmann::json::array({{{"source", "cpu-model"},
                                                          {"component", "cpu"},
                                                          {"t_s", {0.1, 0.2, 0.3}},
                                                          {"power_w", {9.0, 9.5, 10.0}}},
                                                         {{"source", "ram-model"},
                                                          {"component", "ram"},
                                                          {"t_s", {0.1, 0.2}},
                                                          {"power_w", {1.0, 1.0}}}});
    gk::fs::write_file_atomic(run_json, doc.dump(2) + "\n");
    if (mode == "crash_after") {
        std::abort();
    }
    std::printf("run directory: %s\n", out.c_str());
    return 0;
}
