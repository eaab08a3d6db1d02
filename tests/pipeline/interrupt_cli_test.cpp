// SIGINT and SIGTERM to a real `greenknobs train` child (tiny model, more epochs than it will get
// to run): it stops at the next batch or stage boundary, exits 128 + signal, and its run.json says
// "interrupted" with the energy of the stages it ran, never "running" or "complete" (issue #12).
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"

namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

const std::string kBin = std::string(GK_BINARY_DIR) + "/bin/greenknobs";

std::string scratch(const std::string& name) {
    return testing::TempDir() + "gk" + std::to_string(::getpid()) + "_" + name;
}

struct Stopped {
    bool exited = false;
    int exit_code = -1;
    bool signalled_it = false;  // the marker line was seen and the signal sent
    std::string log;            // the child's stdout + stderr
};

// Runs `greenknobs train` on a tiny config into `dir`; when a line of its output contains `marker`,
// sends `sig`; waits (at most 180 s, then SIGKILL) and returns how it ended.
Stopped train_and_signal(const std::string& dir, const std::string& marker, int sig) {
    const std::vector<std::string> args = {kBin,    "train",
                                           "--set", "model.preset=test-tiny",
                                           "--set", "data.max_train_samples=96",
                                           "--set", "data.max_eval_samples=48",
                                           "--set", "train.epochs=500",
                                           "--set", "train.batch_size=16",
                                           "--set", "tokenizer.max_length=64",
                                           "--set", "energy.sample_period_s=0.05",
                                           "--out", dir};
    std::vector<char*> argv;
    for (const auto& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], STDOUT_FILENO);
        ::dup2(fds[1], STDERR_FILENO);
        ::close(fds[0]);
        ::close(fds[1]);
        if (::chdir(GK_SOURCE_DIR) != 0) {  // the bundled data paths are relative to it
            ::_exit(126);
        }
        // As a shell starts a foreground job: default dispositions, nothing blocked.
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    Stopped st;
    std::string pending;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    bool open = true;
    while (open && std::chrono::steady_clock::now() < deadline) {
        struct pollfd p {};
        p.fd = fds[0];
        p.events = POLLIN;
        if (::poll(&p, 1, 200) <= 0) {
            continue;
        }
        char buf[4096];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) {
            open = false;
            break;
        }
        st.log.append(buf, static_cast<size_t>(n));
        pending.append(buf, static_cast<size_t>(n));
        if (!st.signalled_it && pending.find(marker) != std::string::npos) {
            st.signalled_it = ::kill(pid, sig) == 0;
        }
        if (pending.size() > 4096) {
            pending.erase(0, pending.size() - 256);
        }
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        ::usleep(20 * 1000);
    }
    st.exited = WIFEXITED(status);
    st.exit_code = st.exited ? WEXITSTATUS(status) : -1;
    return st;
}

std::set<std::string> stage_paths(const json& energy) {
    std::set<std::string> out;
    for (const auto& s : energy["stages"]) {
        out.insert(s["path"].get<std::string>());
    }
    return out;
}

TEST(TrainInterrupt, SigintInTrainingEndsInterruptedWithExit130AndTheEnergySoFar) {
    const std::string dir = scratch("sigint");
    stdfs::remove_all(dir);
    Stopped st = train_and_signal(dir, "stage: train", SIGINT);
    ASSERT_TRUE(st.signalled_it) << st.log;
    ASSERT_TRUE(st.exited) << "killed instead of stopping: " << st.log;
    EXPECT_EQ(st.exit_code, 130) << st.log;
    EXPECT_NE(st.log.find("run.json says \"interrupted\""), std::string::npos) << st.log;

    const json rec = json::parse(gk::fs::read_file(dir + "/run.json"));
    EXPECT_EQ(rec["status"], "interrupted");
    EXPECT_NE(rec["error"].get<std::string>().find("SIGINT"), std::string::npos) << rec["error"];
    EXPECT_EQ(rec["interrupted"]["signal"], SIGINT);
    EXPECT_EQ(rec["interrupted"]["stage"], "train");
    EXPECT_FALSE(rec["finished_at"].is_null());
    // What was measured up to the signal: every stage it entered, closed; nothing after it.
    ASSERT_TRUE(rec.contains("energy")) << rec.dump(2);
    const auto stages = stage_paths(rec["energy"]);
    for (const char* s : {"load_dataset", "tokenize", "load_model", "train"}) {
        EXPECT_TRUE(stages.count(s)) << s;
    }
    EXPECT_FALSE(stages.count("save"));
    EXPECT_FALSE(stages.count("evaluate"));
    EXPECT_GT(rec["energy"]["total"]["duration_s"].get<double>(), 0.0);
    EXPECT_TRUE(stdfs::exists(dir + "/emissions.csv"));
    EXPECT_TRUE(stdfs::exists(dir + "/power.csv"));
    // Nothing half-done is presented as a result.
    EXPECT_FALSE(rec.contains("metrics"));
    EXPECT_FALSE(stdfs::exists(dir + "/model/model.safetensors"));
}

TEST(TrainInterrupt, SigtermAfterAValidationEndsInterruptedWithExit143) {
    const std::string dir = scratch("sigterm");
    stdfs::remove_all(dir);
    // The first epoch's validation has started: the signal lands in it or right after.
    Stopped st = train_and_signal(dir, "stage: validate", SIGTERM);
    ASSERT_TRUE(st.signalled_it) << st.log;
    ASSERT_TRUE(st.exited) << "killed instead of stopping: " << st.log;
    EXPECT_EQ(st.exit_code, 143) << st.log;

    const json rec = json::parse(gk::fs::read_file(dir + "/run.json"));
    EXPECT_EQ(rec["status"], "interrupted");
    EXPECT_EQ(rec["interrupted"]["name"], "SIGTERM");
    const auto stages = stage_paths(rec["energy"]);
    EXPECT_TRUE(stages.count("train"));
    EXPECT_TRUE(stages.count("train/validate"));
    EXPECT_FALSE(stages.count("evaluate"));

    // The same command on the same directory starts over (an interrupted run is not complete).
    Stopped again = train_and_signal(dir, "stage: load_model", SIGINT);
    EXPECT_EQ(again.exit_code, 130) << again.log;
    EXPECT_EQ(json::parse(gk::fs::read_file(dir + "/run.json"))["interrupted"]["name"], "SIGINT");
}

}  // namespace
