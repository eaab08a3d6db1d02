// Starting child programs: the one fork/exec of greenknobs (a study's runs, measure's command, the
// figures' gnuplot). Between fork and exec the child makes only async-signal-safe calls (the parent
// may hold locks: the logger's mutex, malloc's), so everything it needs is built before the fork.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

namespace gk::process {

constexpr int kInherit = -2;  // a standard stream the child shares with us
constexpr int kDevNull = -1;  // a standard stream on /dev/null

struct SpawnOptions {
    std::vector<std::string> argv;  // argv[0] is the program unless exec_path is set
    std::string exec_path;          // the file to execute ("" = argv[0]; argv[0] is then its name)
    bool search_path = false;       // a program name without '/' is looked up in PATH (execvp)
    std::string cwd;                // the child's working directory ("" = ours)
    bool replace_env = false;       // true: `env` is the child's whole environment
    std::vector<std::string> env;   // "NAME=value" entries (only with replace_env)
    int stdin_fd = kInherit;        // kInherit, kDevNull or a descriptor to dup2 onto 0
    int stdout_fd = kInherit;       // ... onto 1
    int stderr_fd = kInherit;       // ... onto 2
    std::vector<int> keep_fds;      // descriptors the program inherits (their FD_CLOEXEC cleared)
    bool close_other_fds = false;   // close every other descriptor >= 3 before exec
    bool die_with_parent = false;   // PR_SET_PDEATHSIG(SIGKILL): never outlive us
    bool reset_signals = false;     // SIGINT/SIGTERM/SIGPIPE to default, nothing blocked
    int gate_fd = -1;               // read one byte from it before exec (we start metering first)
    int gate_write_fd = -1;         // our end of the gate, closed in the child: closing it here
                                    // (giving up) then ends the child before it runs anything
};

// A started child. exec_errno() tells whether the program really started.
struct Spawned {
    pid_t pid = -1;
    int exec_status_fd = -1;  // our end of the close-on-exec pipe that reports a failed exec
};

// Forks and execs. Throws std::runtime_error when the child cannot be created (pipe, fork). A
// failed chdir or exec ends the child with exit code 127 and reports its errno to exec_errno().
Spawned spawn(const SpawnOptions& opt);

// Blocks until the child has exec'd (returns 0) or failed to (returns the errno of chdir/exec);
// closes the status pipe. With a gate, call it only after the gate byte was written.
int exec_errno(Spawned& child);

// waitpid, retried on EINTR; the exit code, or 128 + the signal that ended it.
int wait_exit_code(pid_t pid);

// The full path of an executable: `name` itself when it contains '/', else the first match in PATH;
// "" when there is none.
std::string find_executable(const std::string& name);

// Runs argv (argv[0] a path) in `cwd` with stdin and stdout on /dev/null and stderr captured;
// blocks until it exits. exit_code 127: it could not be executed (stderr_text says why).
struct RunResult {
    int exit_code = -1;
    std::string stderr_text;
};
RunResult run(const std::vector<std::string>& argv, const std::string& cwd);

}  // namespace gk::process
