// A run as a child process (child.h): util/process's spawn with the output captured through a
// pipe, and a poll loop that logs, forwards stop signals and reaps.
#include "greenknobs/study/child.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/util/process.h"

namespace gk::study {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

void write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // a full disk loses log lines, not the run
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
}

}  // namespace

std::string self_exe() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        throw std::runtime_error(errno_text("readlink /proc/self/exe"));
    }
    return std::string(buf, static_cast<size_t>(n));
}

ChildResult run_child(const std::string& exec_path, const std::vector<std::string>& argv,
                      const std::string& log_path, const ChildHooks& hooks) {
    if (argv.empty() || exec_path.empty()) {
        throw std::runtime_error("run_child: empty argv");
    }
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        throw std::runtime_error(errno_text("cannot open " + log_path));
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        ::close(log_fd);
        throw std::runtime_error(errno_text("pipe"));
    }
    process::SpawnOptions opt;
    opt.argv = argv;
    opt.exec_path = exec_path;
    opt.stdin_fd = process::kDevNull;
    opt.stdout_fd = fds[1];
    opt.stderr_fd = fds[1];
    // Die with the study: a run whose parent is gone can never be recorded and would race the
    // retry. The study's own descriptors (the SQLite store above all) must not live on in the run.
    opt.die_with_parent = true;
    opt.close_other_fds = true;
    opt.reset_signals = true;
    const auto t0 = std::chrono::steady_clock::now();
    process::Spawned child;
    try {
        child = process::spawn(opt);
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        ::close(log_fd);
        throw;
    }
    const pid_t pid = child.pid;
    ::close(fds[1]);
    std::string exec_failure;  // logged like the run's own output: the attempt's last line
    if (const int e = process::exec_errno(child); e != 0) {
        exec_failure = "greenknobs study: cannot execute the train binary " + exec_path + ": " +
                       std::strerror(e) + "\n";
    }

    ChildResult res;
    std::string pending;
    auto flush_lines = [&](bool all) {
        size_t start = 0;
        for (size_t i = 0; i < pending.size(); ++i) {
            if (pending[i] == '\n' || pending[i] == '\r') {
                std::string line = pending.substr(start, i - start);
                start = i + 1;
                if (!line.empty()) {
                    res.last_line = line;
                    if (hooks.on_line) {
                        hooks.on_line(line);
                    }
                }
            }
        }
        pending.erase(0, start);
        if (all && !pending.empty()) {
            res.last_line = pending;
            if (hooks.on_line) {
                hooks.on_line(pending);
            }
            pending.clear();
        }
    };

    if (!exec_failure.empty()) {
        write_all(log_fd, exec_failure.data(), exec_failure.size());
        pending = exec_failure;
        flush_lines(false);
    }

    bool pipe_open = true;
    bool reaped = false;
    int status = 0;
    std::chrono::steady_clock::time_point forwarded_at;
    bool killed_hard = false;
    while (!reaped || pipe_open) {
        if (pipe_open) {
            struct pollfd p {};
            p.fd = fds[0];
            p.events = POLLIN;
            int rc = ::poll(&p, 1, 200);
            if (rc > 0) {
                char buf[8192];
                ssize_t n = ::read(fds[0], buf, sizeof buf);
                if (n > 0) {
                    write_all(log_fd, buf, static_cast<size_t>(n));
                    pending.append(buf, static_cast<size_t>(n));
                    flush_lines(false);
                } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                    pipe_open = false;  // every writer closed (the child and anything it spawned)
                }
            }
        } else {
            ::usleep(50 * 1000);
        }
        if (!reaped) {
            pid_t w = ::waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                reaped = true;
                // Grandchildren may still hold the pipe; don't wait on them past a short drain.
                if (pipe_open) {
                    struct pollfd p {};
                    p.fd = fds[0];
                    p.events = POLLIN;
                    while (::poll(&p, 1, 100) > 0) {
                        char buf[8192];
                        ssize_t n = ::read(fds[0], buf, sizeof buf);
                        if (n <= 0) {
                            break;
                        }
                        write_all(log_fd, buf, static_cast<size_t>(n));
                        pending.append(buf, static_cast<size_t>(n));
                    }
                    pipe_open = false;
                }
            }
        }
        if (hooks.stop_signal && *hooks.stop_signal != 0 && !reaped) {
            if (res.forwarded_signal == 0) {
                res.forwarded_signal = *hooks.stop_signal;
                ::kill(pid, res.forwarded_signal);
                forwarded_at = std::chrono::steady_clock::now();
            } else if (!killed_hard && std::chrono::duration<double>(
                                           std::chrono::steady_clock::now() - forwarded_at)
                                               .count() > hooks.grace_s) {
                ::kill(pid, SIGKILL);
                killed_hard = true;
            }
        }
        if (hooks.on_tick) {
            hooks.on_tick();
        }
    }
    flush_lines(true);
    ::close(fds[0]);
    ::close(log_fd);
    res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (WIFEXITED(status)) {
        res.exited = true;
        res.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res.term_signal = WTERMSIG(status);
    }
    return res;
}

}  // namespace gk::study
