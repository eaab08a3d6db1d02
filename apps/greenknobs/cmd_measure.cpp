// `greenknobs measure [options] -- CMD [ARGS...]`: runs a command without a shell, measures its
// process tree until it exits, forwards SIGINT/SIGTERM, prints a short summary on stderr, exits
// with its exit code. The command may report its stages over the stage protocol
// (energy/protocol.h); `--out DIR` writes a run directory (what `greenknobs study` runs).
#ifdef GK_HAVE_ENERGY

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/energy/protocol.h"
#include "greenknobs/energy/tracker.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/process.h"
#include "greenknobs/util/utc_time.h"

#include "command.h"

namespace {

struct MeasureOptions {
    std::vector<std::string> command;
    std::string json_path, csv_path, power_csv_path;
    std::string out_dir;      // run.json + emissions.csv + power.csv
    std::string spec_path;    // the command as a JSON spec (argv, cwd, env) instead of -- CMD
    bool log_stages = false;  // "stage: PATH" on stderr at each reported begin (a study's progress)
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

// A descriptor that becomes readable when the process exits (pidfd_open, Linux 5.3+); -1 if the
// kernel has none (then the loop polls every 10 ms).
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    long fd = ::syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? static_cast<int>(fd) : -1;
#else
    (void)pid;
    return -1;
#endif
}

bool child_exited(pid_t child) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    // WNOWAIT: the zombie stays, so its /proc/<pid>/stat still holds its final CPU time.
    if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        return errno != EINTR;
    }
    return info.si_pid == child;
}

// Reads what the child wrote to the protocol pipe and acknowledges each boundary.
void drain_protocol(int proto_fd, int ack_fd, gk::energy::ProtocolSession& session) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(proto_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        int acks = session.feed(buf, static_cast<size_t>(n));
        for (int i = 0; i < acks; ++i) {
            char c = 'k';
            ssize_t w = ::write(ack_fd, &c, 1);  // non-blocking: a child that never reads is fine
            (void)w;
        }
    }
}

int run_measure(const MeasureOptions& opt) {
    gk::energy::CommandSpec spec;
    if (!opt.spec_path.empty()) {
        if (!opt.command.empty()) {
            throw gk::InputError("measure", "--spec",
                                 "give either --spec FILE or -- CMD, not both");
        }
        nlohmann::json doc;
        try {
            doc = nlohmann::json::parse(gk::fs::read_file(opt.spec_path));
        } catch (const nlohmann::json::exception& e) {
            throw gk::InputError(opt.spec_path, "", std::string("not JSON: ") + e.what());
        }
        spec = gk::energy::parse_command_spec(doc, opt.spec_path);
    } else {
        if (opt.command.empty()) {
            throw gk::InputError("measure", "CMD",
                                 "no command given (greenknobs measure -- CMD [ARGS...])");
        }
        spec.argv = opt.command;
        spec.doc = {{"argv", opt.command}};
    }
    if (opt.period_ms < 10) {
        throw gk::InputError("measure", "--period-ms",
                             std::to_string(opt.period_ms) + ": must be >= 10");
    }
    if (!opt.out_dir.empty()) {
        gk::fs::make_dirs(opt.out_dir);
    }
    // go: start signal; proto: the child's stage lines; ack: our answers.
    int go[2], proto[2], ack[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(proto, O_CLOEXEC) != 0 ||
        ::pipe2(ack, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    ::fcntl(proto[0], F_SETFL, O_NONBLOCK);
    ::fcntl(ack[1], F_SETFL, O_NONBLOCK);
    // The command's environment: ours, with the spec's variables and the protocol's descriptors.
    std::map<std::string, std::string> extra = spec.env;
    extra[gk::energy::kStageFdEnv] = std::to_string(proto[1]);
    extra[gk::energy::kStageAckFdEnv] = std::to_string(ack[0]);
    std::vector<std::string> env_store;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string kv = *e;
        if (extra.count(kv.substr(0, kv.find('='))) == 0) {
            env_store.push_back(kv);
        }
    }
    for (const auto& [k, v] : extra) {
        env_store.push_back(k + "=" + v);
    }
    gk::process::SpawnOptions sp;
    sp.argv = spec.argv;
    sp.search_path = true;
    sp.cwd = spec.cwd;
    sp.replace_env = true;
    sp.env = env_store;
    sp.keep_fds = {proto[1], ack[0]};
    // The command waits until the tracker runs, so its first instructions are measured.
    sp.gate_fd = go[0];
    sp.gate_write_fd = go[1];
    const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
    const std::string started_at = gk::utc_now_iso8601();
    gk::process::Spawned spawned = gk::process::spawn(sp);
    const pid_t child = spawned.pid;
    ::close(go[0]);
    ::close(proto[1]);
    // ack[0] stays open here too: once the command has exited, an acknowledgement written to a
    // pipe without readers would raise SIGPIPE in us. With a reader it is only a full buffer.
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
    if (opt.idle_s <= 0 && spec.doc.contains("idle_s") && spec.doc["idle_s"].is_number()) {
        topts.idle_baseline_s = spec.doc["idle_s"].get<double>();  // a study's --idle-s
    }
    topts.pid = child;
    topts.powercap_root = opt.powercap_root;
    topts.nvml_library = opt.nvml_library;
    topts.project_name = "greenknobs measure";
    gk::energy::Tracker tracker(topts);
    gk::energy::ProtocolSession session(&tracker);
    if (opt.log_stages) {
        session.set_on_begin(
            [](const std::string& path) { std::fprintf(stderr, "stage: %s\n", path.c_str()); });
    }
    const std::string wrapper = basename_of(spec.argv[0]);
    gk::energy::CommandOutcome outcome;
    outcome.started_at = started_at;
    int exit_code = 0;
    try {
        tracker.start();
        auto stage = tracker.stage(wrapper);
        char c = 1;
        if (::write(go[1], &c, 1) != 1) {
            throw std::runtime_error("cannot start the child");
        }
        ::close(go[1]);
        const int exec_errno = gk::process::exec_errno(spawned);
        if (exec_errno != 0) {
            int status = 0;
            ::waitpid(child, &status, 0);
            g_child.store(0);
            stage.end();
            tracker.stop();
            ::close(proto[0]);
            ::close(ack[0]);
            ::close(ack[1]);
            std::string why = std::string("cannot run '") + spec.argv[0] + "'" +
                              (cwd != nullptr ? std::string(" in ") + cwd : std::string()) + ": " +
                              std::strerror(exec_errno);
            std::fprintf(stderr, "greenknobs: error: %s\n", why.c_str());
            if (!opt.out_dir.empty()) {
                outcome.error = why;
                outcome.finished_at = gk::utc_now_iso8601();
                gk::fs::write_file_atomic(
                    gk::fs::join(opt.out_dir, "run.json"),
                    gk::energy::command_run_record(spec, tracker.report_json(), session, outcome)
                            .dump(2) +
                        "\n");
            }
            return 2;
        }
        // Until the command exits: stage lines as they come (each boundary timestamped as it is
        // read), the exit without reaping (the zombie's final CPU time is still readable).
        int pidfd = open_pidfd(child);
        bool proto_open = true;
        for (;;) {
            struct pollfd fds[2];
            int nfds = 0;
            if (proto_open) {
                fds[nfds++] = {proto[0], POLLIN, 0};
            }
            if (pidfd >= 0) {
                fds[nfds++] = {pidfd, POLLIN, 0};
            }
            int rc = ::poll(fds, static_cast<nfds_t>(nfds), pidfd >= 0 ? -1 : 10);
            if (rc < 0 && errno != EINTR) {
                throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
            }
            if (proto_open && rc > 0 && (fds[0].revents & (POLLIN | POLLHUP)) != 0) {
                drain_protocol(proto[0], ack[1], session);
                if ((fds[0].revents & POLLIN) == 0) {
                    proto_open = false;  // every writer closed it; keep waiting for the exit
                }
            }
            if (child_exited(child)) {
                break;
            }
        }
        if (pidfd >= 0) {
            ::close(pidfd);
        }
        drain_protocol(proto[0], ack[1], session);
        session.finish();
        tracker.sample_now();  // the zombie's final CPU time, inside the command's stage
        stage.end();
        tracker.stop();
        ::close(proto[0]);
        ::close(ack[0]);
        ::close(ack[1]);
        int status = 0;
        struct rusage ru;
        std::memset(&ru, 0, sizeof ru);
        while (::wait4(child, &status, 0, &ru) < 0 && errno == EINTR) {
        }
        g_child.store(0);
        // The kernel's account of the command and every descendant it waited for.
        tracker.reconcile_cpu_time(
            static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
        outcome.exited = WIFEXITED(status);
        outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        outcome.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } catch (...) {
        if (g_child.load() > 0) {
            ::kill(child, SIGTERM);
            ::waitpid(child, nullptr, 0);
        }
        throw;
    }
    outcome.finished_at = gk::utc_now_iso8601();
    const nlohmann::json report = gk::energy::promote_child_stages(tracker.report_json(), wrapper);
    std::fprintf(stderr, "%s", gk::energy::format_summary(report).c_str());
    for (const auto& w : session.warnings()) {
        std::fprintf(stderr, "warning: stage protocol: %s\n", w.c_str());
    }
    for (const auto& [name, value] : session.metrics()) {
        std::fprintf(stderr, "metric %s = %.6g\n", name.c_str(), value);
    }
    if (!opt.json_path.empty()) {
        gk::fs::write_file_atomic(opt.json_path, report.dump(2) + "\n");
    }
    if (!opt.csv_path.empty()) {
        gk::fs::write_file_atomic(opt.csv_path, gk::energy::emissions_csv(report));
    }
    if (!opt.power_csv_path.empty()) {
        gk::fs::write_file_atomic(opt.power_csv_path, gk::energy::power_csv(report));
    }
    if (!opt.out_dir.empty()) {
        gk::fs::write_file_atomic(gk::fs::join(opt.out_dir, "emissions.csv"),
                                  gk::energy::emissions_csv(report));
        gk::fs::write_file_atomic(gk::fs::join(opt.out_dir, "power.csv"),
                                  gk::energy::power_csv(report));
        // run.json last: a complete one means everything else is there (the study relies on it).
        gk::fs::write_file_atomic(
            gk::fs::join(opt.out_dir, "run.json"),
            gk::energy::command_run_record(spec, report, session, outcome).dump(2) + "\n");
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
    sub->add_option("--out", opt->out_dir,
                    "write a run directory: run.json (energy, metrics, status), emissions.csv, "
                    "power.csv");
    sub->add_option("--spec", opt->spec_path,
                    "the command as JSON {argv, cwd, env} instead of -- CMD (a study's runs)");
    sub->add_flag("--log-stages", opt->log_stages,
                  "print 'stage: PATH' on stderr when the command begins a stage");
    sub->add_option("--period-ms", opt->period_ms, "sampling period in ms (default 100)");
    sub->add_option("--tdp-w", opt->tdp_w,
                    "CPU TDP in W for the CPU model (default: table lookup)");
    sub->add_option("--country", opt->country,
                    "ISO 3166 alpha-3 code for carbon intensity (default: world)");
    sub->add_option("--carbon-g-per-kwh", opt->carbon_g_per_kwh, "carbon intensity override");
    sub->add_option("--pue", opt->pue, "power usage effectiveness (default 1.0)");
    sub->add_option(
        "--wue", opt->wue,
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
    sub->add_option("command", opt->command, "the command and its arguments (after --)");
    return [opt]() { return run_measure(*opt); };
});

}  // namespace

#endif  // GK_HAVE_ENERGY
