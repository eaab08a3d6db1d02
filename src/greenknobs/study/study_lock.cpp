// The study lock and the stop signals (study_lock.h).
#include "greenknobs/study/study_lock.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::study {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

}  // namespace

// One study process per directory: a second one would take the first one's in-flight runs for
// crashed ones.
StudyLock::StudyLock(const std::string& out_dir) {
    const std::string path = fs::join(out_dir, "study.lock");
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        throw InputError(path, "", "cannot open the study lock");
    }
    // A study killed with -9 may leave a just-forked run child that has not yet reached exec (its
    // copy of the lock's descriptor closes there) nor noticed its parent's death: when the
    // recorded holder is gone, the lock is free in moments, so wait for it briefly.
    bool locked = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
    for (int i = 0; !locked && i < 150 && !holder_alive(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        locked = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
    }
    if (!locked) {
        char buf[32] = {0};
        const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
            holder.pop_back();
        }
        ::close(fd_);
        fd_ = -1;
        throw InputError(out_dir, "",
                         "another study process (pid " + holder +
                             ") is running in this directory; wait for it or stop it");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        const ssize_t w = ::pwrite(fd_, pid.data(), pid.size(), 0);
        (void)w;
    }
}

StudyLock::~StudyLock() {
    if (fd_ >= 0) {
        ::close(fd_);  // the kernel releases the flock with the last descriptor
    }
}

bool StudyLock::holder_alive() const {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH);
}

StopSignals::StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignals::received() { return g_stop_signal; }

const volatile std::sig_atomic_t* StopSignals::flag() { return &g_stop_signal; }

const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        case SIGKILL:
            return "SIGKILL";
        case SIGSEGV:
            return "SIGSEGV";
        case SIGABRT:
            return "SIGABRT";
        default:
            return "signal";
    }
}

}  // namespace gk::study
