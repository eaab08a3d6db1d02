// What keeps a study safe to run and to stop: one study process per directory (study.lock, an
// flock the kernel releases however its holder dies) and the stop signals of a running study
// (SIGINT/SIGTERM set a flag that the run loop and the child loop read; a run is never killed
// from inside a signal handler).
#pragma once

#include <csignal>
#include <string>

namespace gk::study {

class StudyLock {
  public:
    // Takes DIR/study.lock or throws InputError naming the pid that holds it.
    explicit StudyLock(const std::string& out_dir);
    ~StudyLock();
    StudyLock(const StudyLock&) = delete;
    StudyLock& operator=(const StudyLock&) = delete;

  private:
    bool holder_alive() const;  // whether the pid the lock file records still exists
    int fd_ = -1;
};

// SIGINT/SIGTERM handlers for the lifetime of the object (the previous ones restored after).
class StopSignals {
  public:
    StopSignals();
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // The signal received since the last StopSignals was made (0 = none).
    static int received();
    // The flag itself, for loops that forward it to a child (ChildHooks::stop_signal).
    static const volatile std::sig_atomic_t* flag();

  private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

// "SIGINT", "SIGTERM", ... for messages ("signal" when unnamed).
const char* signal_name(int sig);

}  // namespace gk::study
