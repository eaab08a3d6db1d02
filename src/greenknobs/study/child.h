// One isolated child process per run: fork/execv with its stdout and stderr captured through a pipe
// into a log file, line by line to a callback (the study's progress), dying with its parent
// (PR_SET_PDEATHSIG, so a kill -9 of the study never leaves a run behind that writes into a
// directory the next invocation reuses).
#pragma once

#include <csignal>
#include <functional>
#include <string>
#include <vector>

namespace gk::study {

struct ChildResult {
    bool exited = false;  // normal exit (exit_code valid) vs killed by a signal (term_signal)
    int exit_code = -1;
    int term_signal = 0;
    int forwarded_signal = 0;  // the stop signal that was forwarded to it (0 = none)
    double wall_s = 0;
    std::string last_line;  // the last non-empty output line (an error message, usually)
};

struct ChildHooks {
    std::function<void(const std::string& line)> on_line;  // each complete output line
    std::function<void()> on_tick;                         // about every 0.2 s while it runs
    // When it becomes non-zero, that signal is forwarded to the child; after grace_s it is killed.
    const volatile std::sig_atomic_t* stop_signal = nullptr;
    double grace_s = 10.0;
};

// Runs the program at exec_path with argv (argv[0] is only its display name), appending its output
// to log_path; blocks until it exits. Throws std::runtime_error when it cannot be started (fork,
// pipe or the log file); an exec failure shows as exit code 127 with the reason in the log.
ChildResult run_child(const std::string& exec_path, const std::vector<std::string>& argv,
                      const std::string& log_path, const ChildHooks& hooks);

// The running executable's path (readlink /proc/self/exe), for messages. To re-execute ourselves,
// exec "/proc/self/exe" itself: it still works when the binary was rebuilt (replaced) mid-study,
// and every run of the study then uses the same code.
std::string self_exe();

}  // namespace gk::study
