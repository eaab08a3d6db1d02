// util/process: a child's streams, working directory, environment and kept descriptors are what the
// options say; a failed exec reports its errno; the gate holds the program until the parent lets
// go.
#include "greenknobs/util/process.h"

#include <cerrno>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "../common/temp_dir.h"

namespace gk::process {
namespace {

std::string read_all(int fd) {
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

// Runs `opt` with stdout on a pipe; returns what the child wrote and sets *code to its exit code.
std::string output_of(SpawnOptions opt, int* code) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    opt.stdout_fd = fds[1];
    Spawned child = spawn(opt);
    ::close(fds[1]);
    EXPECT_EQ(exec_errno(child), 0);
    std::string out = read_all(fds[0]);
    ::close(fds[0]);
    *code = wait_exit_code(child.pid);
    return out;
}

TEST(Process, CwdEnvironmentAndExitCode) {
    gk::testing::TempDir dir("process");
    SpawnOptions opt;
    opt.argv = {"/bin/sh", "-c", "pwd; echo \"$GK_PROCESS_TEST\"; exit 7"};
    opt.cwd = dir.path();
    opt.replace_env = true;
    opt.env = {"GK_PROCESS_TEST=hello", "PATH=/usr/bin:/bin"};
    int code = -1;
    const std::string out = output_of(opt, &code);
    EXPECT_EQ(code, 7);
    const std::string real = std::filesystem::canonical(dir.path()).string();
    EXPECT_EQ(out, real + "\nhello\n");
}

TEST(Process, InheritedEnvironmentWithoutReplace) {
    ::setenv("GK_PROCESS_INHERITED", "yes", 1);
    SpawnOptions opt;
    opt.argv = {"sh", "-c", "echo \"$GK_PROCESS_INHERITED\""};
    opt.search_path = true;  // "sh" through PATH
    int code = -1;
    EXPECT_EQ(output_of(opt, &code), "yes\n");
    EXPECT_EQ(code, 0);
    ::unsetenv("GK_PROCESS_INHERITED");
}

TEST(Process, FailedExecReportsErrnoAndExits127) {
    SpawnOptions opt;
    opt.argv = {"/nonexistent/greenknobs-no-such-program"};
    Spawned child = spawn(opt);
    EXPECT_EQ(exec_errno(child), ENOENT);
    EXPECT_EQ(wait_exit_code(child.pid), 127);

    opt.argv = {"/bin/true"};
    opt.cwd = "/nonexistent/dir";  // chdir fails before exec
    child = spawn(opt);
    EXPECT_EQ(exec_errno(child), ENOENT);
    EXPECT_EQ(wait_exit_code(child.pid), 127);
}

TEST(Process, KeptDescriptorSurvivesExecOthersDoNot) {
    int kept[2], dropped[2];
    ASSERT_EQ(::pipe2(kept, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(dropped, O_CLOEXEC), 0);
    SpawnOptions opt;
    // Writes to the kept descriptor; the dropped one's number must be closed in the program.
    opt.argv = {"/bin/sh", "-c",
                "echo kept >&" + std::to_string(kept[1]) + "; echo dropped >&" +
                    std::to_string(dropped[1]) + " 2>/dev/null; exit 0"};
    opt.keep_fds = {kept[1]};
    opt.stderr_fd = kDevNull;
    Spawned child = spawn(opt);
    ::close(kept[1]);
    ::close(dropped[1]);
    EXPECT_EQ(exec_errno(child), 0);
    EXPECT_EQ(read_all(kept[0]), "kept\n");
    EXPECT_EQ(read_all(dropped[0]), "");
    EXPECT_EQ(wait_exit_code(child.pid), 0);
    ::close(kept[0]);
    ::close(dropped[0]);
}

TEST(Process, GateHoldsTheProgramUntilReleased) {
    gk::testing::TempDir dir("process_gate");
    const std::string marker = dir / "started";
    int gate[2];
    ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
    SpawnOptions opt;
    opt.argv = {"/bin/sh", "-c", "touch " + marker};
    opt.gate_fd = gate[0];
    opt.gate_write_fd = gate[1];
    Spawned child = spawn(opt);
    ::close(gate[0]);
    ::usleep(100 * 1000);
    EXPECT_FALSE(std::ifstream(marker).good()) << "the program ran before the gate opened";
    ASSERT_EQ(::write(gate[1], "g", 1), 1);
    ::close(gate[1]);
    EXPECT_EQ(exec_errno(child), 0);
    EXPECT_EQ(wait_exit_code(child.pid), 0);
    EXPECT_TRUE(std::ifstream(marker).good());
}

TEST(Process, ClosedGateEndsTheChildWithoutRunningIt) {
    int gate[2];
    ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
    SpawnOptions opt;
    opt.argv = {"/bin/true"};
    opt.gate_fd = gate[0];
    opt.gate_write_fd = gate[1];
    Spawned child = spawn(opt);
    ::close(gate[0]);
    ::close(gate[1]);                 // the parent gives up
    EXPECT_EQ(exec_errno(child), 0);  // no report: it never tried to exec
    EXPECT_EQ(wait_exit_code(child.pid), 127);
}

TEST(Process, RunCapturesStderrAndSaysWhyItCouldNotExecute) {
    RunResult r = run({"/bin/sh", "-c", "echo oops >&2; exit 3"}, "");
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.stderr_text, "oops\n");
    r = run({"/nonexistent/gnuplot"}, "");
    EXPECT_EQ(r.exit_code, 127);
    EXPECT_NE(r.stderr_text.find("cannot execute /nonexistent/gnuplot"), std::string::npos)
        << r.stderr_text;
}

TEST(Process, FindExecutableSearchesPath) {
    EXPECT_EQ(find_executable("/bin/sh"), "/bin/sh");
    EXPECT_EQ(find_executable("/nonexistent/x"), "");
    EXPECT_FALSE(find_executable("sh").empty());
    EXPECT_EQ(find_executable("greenknobs-no-such-program"), "");
    EXPECT_EQ(find_executable(""), "");
}

}  // namespace
}  // namespace gk::process
