// `greenknobs measure` end to end: JSON shape, a busy loop against sleep (modelled energy clearly
// higher), exit-code propagation, signals, and an unstartable command (exit code 2).
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

namespace {

using gk::energy::testing::TempDir;

struct Result {
    int exit_code;
    std::string err;
};

// Runs the CLI with args; stderr captured to a file.
Result run_cli(std::vector<std::string> args, const TempDir& dir, int signal_after_ms = 0) {
    std::string err_path = dir / "stderr.txt";
    args.insert(args.begin(), GK_CLI_PATH);
    pid_t pid = ::fork();
    if (pid == 0) {
        FILE* f = std::freopen(err_path.c_str(), "w", stderr);
        (void)f;
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(126);
    }
    if (signal_after_ms > 0) {
        // Signal only once `measure` has started its command: before that, on a loaded
        // machine the CLI may still be loading its libraries and would die of the signal itself.
        const std::string children =
            "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
        // Wait for the command itself (its child has exec'ed: comm is the command's name), not the
        // fork.
        std::string command;
        for (size_t i = 0; i + 1 < args.size(); ++i) {
            if (args[i] == "--") {
                command = args[i + 1];
                break;
            }
        }
        for (int i = 0; i < 600; ++i) {
            std::ifstream in(children);
            std::string child;
            std::string comm;
            if (in >> child) {
                std::ifstream(std::string("/proc/") + child + "/comm") >> comm;
            }
            if (!command.empty() && comm == command.substr(0, 15)) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(signal_after_ms));
        ::kill(pid, SIGTERM);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return {code, gk::energy::testing::read(err_path)};
}

nlohmann::json load(const std::string& path) {
    return nlohmann::json::parse(gk::energy::testing::read(path));
}

TEST(Measure, SleepWritesTheReportSchema) {
    TempDir dir;
    auto r = run_cli({"measure", "--json", dir / "out.json", "--csv", dir / "e.csv", "--power-csv",
                      dir / "p.csv", "--", "sleep", "1"},
                     dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = load(dir / "out.json");
    EXPECT_EQ(j["schema"], "greenknobs.energy/1");
    ASSERT_TRUE(j["stages"].is_array());
    ASSERT_EQ(j["stages"].size(), 1u);
    const auto& s = j["stages"][0];
    EXPECT_EQ(s["name"], "sleep");
    EXPECT_GE(s["duration_s"].get<double>(), 1.0);
    EXPECT_TRUE(s["energy_j"].is_object());
    EXPECT_TRUE(s["energy_j"]["cpu"].is_number());
    EXPECT_TRUE(s["provenance"].is_object());
    EXPECT_TRUE(s["provenance"].contains("cpu"));
    EXPECT_FALSE(j["timeseries"].empty());
    EXPECT_NE(r.err.find("total"), std::string::npos);  // the summary
    EXPECT_EQ(gk::energy::testing::read(dir / "e.csv").rfind("timestamp,project_name,run_id,", 0),
              0u);
    EXPECT_EQ(gk::energy::testing::read(dir / "p.csv").rfind("t_s,source,component,power_w\n", 0),
              0u);
}

TEST(Measure, BusyLoopUsesClearlyMoreModelledEnergyThanSleep) {
    TempDir dir;
    // A fixed TDP so the comparison does not depend on the machine's table entry.
    auto busy = run_cli(
        {"measure", "--tdp-w", "100", "--json", dir / "busy.json", "--", GK_BUSY_PATH, "1"}, dir);
    ASSERT_EQ(busy.exit_code, 0) << busy.err;
    auto idle = run_cli(
        {"measure", "--tdp-w", "100", "--json", dir / "sleep.json", "--", "sleep", "1"}, dir);
    ASSERT_EQ(idle.exit_code, 0) << idle.err;
    auto b = load(dir / "busy.json");
    auto s = load(dir / "sleep.json");
    ASSERT_EQ(b["stages"][0]["provenance"]["cpu"], s["stages"][0]["provenance"]["cpu"]);
    double busy_j = b["stages"][0]["energy_j"]["cpu"].get<double>();
    double sleep_j = s["stages"][0]["energy_j"]["cpu"].get<double>();
    if (b["stages"][0]["provenance"]["cpu"] == "modelled") {
        // Sleep: the idle share (12 W) over its duration, plus what its little CPU time (exec,
        // loading) costs at most on the curve's steepest segment (2 × TDP per unit of load). Busy:
        // at least 1 CPU-second on top, i.e. the dynamic share (90 W) × 1 s / logical CPUs, however
        // loaded the machine is.
        double d = s["stages"][0]["duration_s"].get<double>();
        double cpu_s = s["stages"][0]["cpu_time_s"].get<double>();
        unsigned n_cpus = std::thread::hardware_concurrency();
        // Attribution: the stage charges `sleep`'s own tree, as the kernel accounts it (wait4's
        // rusage), within one sampling tick; other processes' CPU time must not reach it.
        // One sampling tick of slack, the period the report states; no fixed number of seconds.
        const double rusage_s = s["process"]["cpu_time_rusage_s"].get<double>();
        const double tick = s["sample_period_s"].get<double>();
        EXPECT_LE(cpu_s, rusage_s + tick) << "sampled " << cpu_s << " CPU-s, rusage " << rusage_s;
        // Relative: sleep's own tree, as the kernel accounts it, did less work than the busy loop's
        // (which spins for its argument's worth of CPU time); a stage charged with the machine's or
        // the meter's own CPU time would not be.
        const double busy_rusage_s = b["process"]["cpu_time_rusage_s"].get<double>();
        EXPECT_LT(rusage_s, busy_rusage_s)
            << "sleep's tree " << rusage_s << " CPU-s, the busy loop's " << busy_rusage_s;
        EXPECT_GE(sleep_j, 12.0 * d - 0.1);
        EXPECT_LE(sleep_j, 12.0 * d + 200.0 * cpu_s / n_cpus + 0.5);
        EXPECT_GT(busy_j, sleep_j + 0.5 * 90.0 / n_cpus)
            << "busy " << busy_j << " J, sleep " << sleep_j;
    } else {
        EXPECT_GT(busy_j, sleep_j);
    }
}

TEST(Measure, ShortLivedChildrenAreAttributed) {
    TempDir dir;
    // 30 children of 60 ms CPU each under a shell: most start and end between two 100 ms samples.
    std::string loop =
        std::string("i=0; while [ $i -lt 30 ]; do ") + GK_BUSY_PATH + " 0.06; i=$((i+1)); done";
    auto r = run_cli(
        {"measure", "--tdp-w", "100", "--json", dir / "out.json", "--", "sh", "-c", loop}, dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = load(dir / "out.json");
    double rusage = j["process"]["cpu_time_rusage_s"].get<double>();
    double sampled = j["process"]["cpu_time_sampled_s"].get<double>();
    double stage = j["stages"][0]["cpu_time_s"].get<double>();
    EXPECT_GE(rusage, 30 * 0.06);
    // Sampling alone (reaped children through their parent's cutime) is within 10 % of the kernel's
    // account; the reported stage value too.
    EXPECT_NEAR(sampled, rusage, 0.1 * rusage) << r.err;
    EXPECT_NEAR(stage, rusage, 0.1 * rusage) << r.err;
    EXPECT_NEAR(j["total"]["cpu_time_s"].get<double>(), rusage, 0.1 * rusage);
}

TEST(Calibrate, WithoutReadableRaplSaysWhyAndExits3) {
    TempDir dir;
    auto r = run_cli(
        {"calibrate", "--powercap-root", "/nonexistent/powercap", "--output", dir / "cal.json"},
        dir);
    EXPECT_EQ(r.exit_code, 3) << r.err;  // missing hardware: unsupported here, not bad input
    EXPECT_NE(r.err.find("no readable RAPL package counter"), std::string::npos) << r.err;
    EXPECT_FALSE(std::ifstream(dir / "cal.json").good());  // nothing stored
}

TEST(Measure, ExitCodeIsTheCommands) {
    TempDir dir;
    EXPECT_EQ(run_cli({"measure", "--", "sh", "-c", "exit 7"}, dir).exit_code, 7);
    EXPECT_EQ(run_cli({"measure", "--", "true"}, dir).exit_code, 0);
    // Killed by a signal: 128 + signal.
    EXPECT_EQ(run_cli({"measure", "--", "sh", "-c", "kill -KILL $$"}, dir).exit_code,
              128 + SIGKILL);
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GK_TSAN_BUILD 1
#endif
#endif

TEST(Measure, SigtermIsForwardedToTheCommand) {
#ifdef GK_TSAN_BUILD
    // ThreadSanitizer defers asynchronous signals to its own safe points: in a TSan build the
    // forwarding handler was seen to run only after the command had ended on its own (exit 0 after
    // 30 s).
    GTEST_SKIP() << "signal delivery is deferred by ThreadSanitizer";
#endif
    TempDir dir;
    auto r = run_cli({"measure", "--json", dir / "out.json", "--", "sleep", "30"}, dir,
                     /*signal_after_ms=*/500);
    // 128 + SIGTERM (not 0) proves `sleep 30` was ended by the forwarded signal, not left to
    // finish.
    EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
    // The report is still written for the interrupted command.
    EXPECT_EQ(load(dir / "out.json")["stages"].size(), 1u);
}

TEST(Measure, UnstartableCommandExitsWith2AndSaysWhy) {
    TempDir dir;
    auto r = run_cli({"measure", "--", "/nonexistent/command", "x"}, dir);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("cannot run '/nonexistent/command': No such file or directory"),
              std::string::npos)
        << r.err;
}

}  // namespace
