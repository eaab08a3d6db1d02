// fork/exec with an exec-status pipe (process.h). The child side uses only async-signal-safe calls.
#include "greenknobs/util/process.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gk::process {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// In the child: report `e` through the status pipe and end.
[[noreturn]] void child_fail(int status_fd, int e) {
    ssize_t ignored = ::write(status_fd, &e, sizeof e);
    (void)ignored;
    ::_exit(127);
}

void child_stream(int fd, int target, int devnull) {
    if (fd == kInherit) {
        return;
    }
    ::dup2(fd == kDevNull ? devnull : fd, target);
}

bool listed(const std::vector<int>& fds, int fd) {
    for (int f : fds) {
        if (f == fd) {
            return true;
        }
    }
    return false;
}

}  // namespace

Spawned spawn(const SpawnOptions& opt) {
    if (opt.argv.empty()) {
        throw std::runtime_error("spawn: empty argv");
    }
    // Everything the child needs, built before fork: no allocation after it.
    std::vector<char*> argv;
    for (const auto& a : opt.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (opt.replace_env) {
        for (const auto& kv : opt.env) {
            envp.push_back(const_cast<char*>(kv.c_str()));
        }
        envp.push_back(nullptr);
    }
    const char* file = opt.exec_path.empty() ? opt.argv[0].c_str() : opt.exec_path.c_str();
    const char* cwd = opt.cwd.empty() ? nullptr : opt.cwd.c_str();
    const pid_t parent = ::getpid();

    int status_pipe[2];
    if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(errno_text("pipe"));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        const std::string why = errno_text("fork");
        ::close(status_pipe[0]);
        ::close(status_pipe[1]);
        throw std::runtime_error(why);
    }
    if (pid == 0) {
        const int status_fd = status_pipe[1];
        ::close(status_pipe[0]);
        if (opt.die_with_parent) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) {
                ::_exit(127);  // the parent died before the request took effect
            }
        }
        if (opt.gate_fd >= 0) {
            if (opt.gate_write_fd >= 0) {
                ::close(opt.gate_write_fd);
            }
            char c = 0;
            ssize_t n;
            do {
                n = ::read(opt.gate_fd, &c, 1);
            } while (n < 0 && errno == EINTR);
            if (n != 1) {
                ::_exit(127);  // the parent gave up before starting us
            }
            ::close(opt.gate_fd);
        }
        const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        child_stream(opt.stdin_fd, STDIN_FILENO, devnull);
        child_stream(opt.stdout_fd, STDOUT_FILENO, devnull);
        child_stream(opt.stderr_fd, STDERR_FILENO, devnull);
        for (int fd : opt.keep_fds) {
            const int flags = ::fcntl(fd, F_GETFD);
            if (flags >= 0) {
                ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
            }
        }
        if (opt.close_other_fds) {
            for (int fd = 3; fd < 1024; ++fd) {
                if (fd != status_fd && !listed(opt.keep_fds, fd)) {
                    ::close(fd);
                }
            }
        }
        if (opt.reset_signals) {
            // Handlers are reset by exec, but an ignored disposition or a blocked signal is
            // inherited.
            struct sigaction dfl {};
            dfl.sa_handler = SIG_DFL;
            ::sigaction(SIGINT, &dfl, nullptr);
            ::sigaction(SIGTERM, &dfl, nullptr);
            ::sigaction(SIGPIPE, &dfl, nullptr);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
        }
        if (cwd != nullptr && ::chdir(cwd) != 0) {
            child_fail(status_fd, errno);
        }
        if (opt.search_path) {
            if (opt.replace_env) {
                ::execvpe(file, argv.data(), envp.data());
            } else {
                ::execvp(file, argv.data());
            }
        } else if (opt.replace_env) {
            ::execve(file, argv.data(), envp.data());
        } else {
            ::execv(file, argv.data());
        }
        child_fail(status_fd, errno);
    }
    ::close(status_pipe[1]);
    Spawned s;
    s.pid = pid;
    s.exec_status_fd = status_pipe[0];
    return s;
}

int exec_errno(Spawned& child) {
    if (child.exec_status_fd < 0) {
        return 0;
    }
    int e = 0;
    ssize_t n;
    do {
        n = ::read(child.exec_status_fd, &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    ::close(child.exec_status_fd);
    child.exec_status_fd = -1;
    // EOF: the pipe closed on exec. A child that ended before exec without a report (the gate
    // closed, the parent died) reads as EOF too; its exit code says 127.
    return n == static_cast<ssize_t>(sizeof e) ? e : 0;
}

int wait_exit_code(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string find_executable(const std::string& name) {
    if (name.empty()) {
        return "";
    }
    if (name.find('/') != std::string::npos) {
        return ::access(name.c_str(), X_OK) == 0 ? name : "";
    }
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return "";
}

RunResult run(const std::vector<std::string>& argv, const std::string& cwd) {
    RunResult r;
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        r.stderr_text = errno_text("pipe");
        return r;
    }
    SpawnOptions opt;
    opt.argv = argv;
    opt.cwd = cwd;
    opt.stdin_fd = kDevNull;
    opt.stdout_fd = kDevNull;
    opt.stderr_fd = err_pipe[1];
    Spawned child;
    try {
        child = spawn(opt);
    } catch (const std::exception& e) {
        ::close(err_pipe[0]);
        ::close(err_pipe[1]);
        r.stderr_text = e.what();
        return r;
    }
    ::close(err_pipe[1]);
    const int e = exec_errno(child);
    char buf[4096];
    ssize_t got;
    while ((got = ::read(err_pipe[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR)) {
        if (got > 0) {
            r.stderr_text.append(buf, static_cast<size_t>(got));
        }
    }
    ::close(err_pipe[0]);
    r.exit_code = wait_exit_code(child.pid);
    if (e != 0) {
        r.stderr_text += "cannot execute " + argv[0] + (cwd.empty() ? "" : " in " + cwd) + ": " +
                         std::strerror(e) + "\n";
    }
    return r;
}

}  // namespace gk::process
