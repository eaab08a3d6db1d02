// `greenknobs measure [options] -- CMD [ARGS...]`: runs a command without a shell, measures its
// process tree until it exits, forwards SIGINT/SIGTERM, prints a short summary on stderr, exits
// with its exit code.
#ifdef GK_HAVE_ENERGY

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/energy/tracker.h"
#include "greenknobs/util/error.h"

#include "command.h"

namespace {

struct MeasureOptions {
    std::vector<std::string> command;
    std::string json_path, csv_path, power_csv_path;
    int period_ms = 100;
    double tdp_w = 0;
    std::string country;
    double carbon_g_per_kwh = 0;
    double pue = 1.0;
    double wue = 0;
    std::string experiment_id;
    double idle_s = 0;
    std::string powercap_root = "/sys/class/powercap";
    std::string hwmon_root = "/sys/class/hwmon";
    std::string cgroup_root = "/sys/fs/cgroup";
    std::string cpu_calibration;
    std::string nvml_library = "libnvidia-ml.so.1";
};

std::atomic<pid_t> g_child{0};

// A terminal's ^C reaches the whole foreground process group (the child too): the kernel sends it
// with si_code SI_KERNEL, and forwarding it would deliver it twice. Signals sent with kill(2) reach
// only us.
void forward_signal(int sig, siginfo_t* info, void*) {
    pid_t child = g_child.load();
    if (child > 0 && (info == nullptr || info->si_code != SI_KERNEL)) {
        ::kill(child, sig);
    }
}

std::string basename_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

int run_measure(const MeasureOptions& opt) {
    if (opt.command.empty()) {
        throw gk::InputError("measure", "CMD",
                             "no command given (greenknobs measure -- CMD [ARGS...])");
    }
    if (opt.period_ms < 10) {
        throw gk::InputError("measure", "--period-ms",
                             std::to_string(opt.period_ms) + ": must be >= 10");
    }
    int go[2], err[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    std::vector<char*> argv;
    for (const auto& a : opt.command) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    pid_t child = ::fork();
    if (child < 0) {
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (child == 0) {
        // Wait until the tracker runs, so the command's first instructions are measured.
        char c = 0;
        if (::read(go[0], &c, 1) != 1) {
            ::_exit(127);
        }
        ::execvp(argv[0], argv.data());
        int e = errno;
        ssize_t ignored =
            ::write(err[1], &e, sizeof e);  // the pipe is CLOEXEC: EOF means exec worked
        (void)ignored;
        ::_exit(127);
    }
    ::close(go[0]);
    ::close(err[1]);
    g_child.store(child);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    gk::energy::TrackerOptions topts;
    topts.sample_period_s = opt.period_ms / 1000.0;
    topts.cpu_tdp_w = opt.tdp_w;
    topts.country_iso_code = opt.country;
    topts.carbon_g_per_kwh = opt.carbon_g_per_kwh;
    topts.pue = opt.pue;
    if (opt.pue < 1.0) {
        throw gk::InputError("measure", "--pue", std::to_string(opt.pue) + ": must be >= 1");
    }
    if (opt.wue < 0) {
        throw gk::InputError("measure", "--wue", std::to_string(opt.wue) + ": must be >= 0");
    }
    topts.wue_l_per_kwh = opt.wue;
    topts.experiment_id = opt.experiment_id;
    topts.hwmon_root = opt.hwmon_root;
    topts.cgroup_root = opt.cgroup_root;
    topts.cpu_calibration_path = opt.cpu_calibration;
    topts.idle_baseline_s = opt.idle_s;
    topts.pid = child;
    topts.powercap_root = opt.powercap_root;
    topts.nvml_library = opt.nvml_library;
    topts.project_name = "greenknobs measure";
    gk::energy::Tracker tracker(topts);
    int exit_code = 0;
    try {
        tracker.start();
        auto stage = tracker.stage(basename_of(opt.command[0]));
        char c = 1;
        if (::write(go[1], &c, 1) != 1) {
            throw std::runtime_error("cannot start the child");
        }
        ::close(go[1]);
        int exec_errno = 0;
        ssize_t n;
        do {
            n = ::read(err[0], &exec_errno, sizeof exec_errno);
        } while (n < 0 && errno == EINTR);
        ::close(err[0]);
        if (n == static_cast<ssize_t>(sizeof exec_errno)) {
            int status = 0;
            ::waitpid(child, &status, 0);
            g_child.store(0);
            stage.end();
            tracker.stop();
            std::fprintf(stderr, "greenknobs: error: cannot run '%s': %s\n", opt.command[0].c_str(),
                         std::strerror(exec_errno));
            return 2;
        }
        // Wait for the exit without reaping: the zombie's /proc/<pid>/stat still holds its final
        // CPU time for the last sample.
        siginfo_t info;
        std::memset(&info, 0, sizeof info);
        while (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) != 0) {
            if (errno != EINTR) {
                throw std::runtime_error(std::string("waitid: ") + std::strerror(errno));
            }
        }
        tracker.sample_now();  // the zombie's final CPU time, inside the command's stage
        stage.end();
        tracker.stop();
        int status = 0;
        struct rusage ru;
        std::memset(&ru, 0, sizeof ru);
        while (::wait4(child, &status, 0, &ru) < 0 && errno == EINTR) {
        }
        g_child.store(0);
        // The kernel's account of the command and every descendant it waited for.
        tracker.reconcile_cpu_time(static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                   1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } catch (...) {
        if (g_child.load() > 0) {
            ::kill(child, SIGTERM);
            ::waitpid(child, nullptr, 0);
        }
        throw;
    }
    nlohmann::json report = tracker.report_json();
    std::fprintf(stderr, "%s", gk::energy::format_summary(report).c_str());
    if (!opt.json_path.empty()) {
        tracker.write_json(opt.json_path);
    }
    if (!opt.csv_path.empty()) {
        tracker.write_emissions_csv(opt.csv_path);
    }
    if (!opt.power_csv_path.empty()) {
        tracker.write_power_csv(opt.power_csv_path);
    }
    return exit_code;
}

gk::app::Registrar reg("measure", 80, [](CLI::App& app) -> gk::app::RunFn {
    auto opt = std::make_shared<MeasureOptions>();
    auto* sub = app.add_subcommand("measure",
                                   "Run a command (no shell) and measure its energy until it "
                                   "exits: greenknobs measure -- CMD");
    sub->add_option("--json", opt->json_path, "write the energy report (JSON) here");
    sub->add_option("--csv", opt->csv_path, "write emissions.csv (CodeCarbon columns + ours) here");
    sub->add_option("--power-csv", opt->power_csv_path, "write the power time series here");
    sub->add_option("--period-ms", opt->period_ms, "sampling period in ms (default 100)");
    sub->add_option("--tdp-w", opt->tdp_w,
                    "CPU TDP in W for the CPU model (default: table lookup)");
    sub->add_option("--country", opt->country,
                    "ISO 3166 alpha-3 code for carbon intensity (default: world)");
    sub->add_option("--carbon-g-per-kwh", opt->carbon_g_per_kwh, "carbon intensity override");
    sub->add_option("--pue", opt->pue, "power usage effectiveness (default 1.0)");
    sub->add_option("--wue", opt->wue,
                    "water usage effectiveness in L/kWh for CodeCarbon's water_consumed (default 0)");
    sub->add_option("--experiment-id", opt->experiment_id,
                    "CodeCarbon's experiment_id column in emissions.csv (default empty)");
    sub->add_option("--cpu-calibration", opt->cpu_calibration,
                    "stored CPU-model calibrations (default: ~/.config/greenknobs/"
                    "cpu-calibration.json; 'none' = ignore)");
    sub->add_option("--idle-s", opt->idle_s,
                    "measure idle power this long before starting the command");
    sub->add_option("--powercap-root", opt->powercap_root, "powercap sysfs root")->group("");
    sub->add_option("--hwmon-root", opt->hwmon_root, "hwmon sysfs root")->group("");
    sub->add_option("--cgroup-root", opt->cgroup_root, "cgroup v2 mount")->group("");
    sub->add_option("--nvml-library", opt->nvml_library, "NVML library path")->group("");
    sub->add_option("command", opt->command, "the command and its arguments (after --)")
        ->required();
    return [opt]() { return run_measure(*opt); };
});

}  // namespace

#endif  // GK_HAVE_ENERGY
