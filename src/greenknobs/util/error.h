// Error types shared by every module: InputError for bad user input (exit code 2), CheckError for
// broken invariants (GK_CHECK). Library code throws; only main() decides exit codes.
#pragma once

#include <stdexcept>
#include <string>

#include "greenknobs/util/text_check.h"

namespace gk {

// Bad input: a config, CLI argument or data file. The message names the file, the place, the bad
// value and what was expected. main() prints it on one line and exits with code 2. The message is
// made printable (control characters and bytes that are not UTF-8 escaped), so quoting a bad value
// from a file can never break the line or the JSON of a run record.
class InputError : public std::runtime_error {
  public:
    explicit InputError(const std::string& msg) : std::runtime_error(printable(msg)) {}
    // "<file>:<place>: <what>" — place may be a line number, a key or a column name.
    InputError(const std::string& file, const std::string& place, const std::string& what)
        : std::runtime_error(printable(file + (place.empty() ? "" : ":" + place) + ": " + what)) {}
};

// A broken invariant inside greenknobs (a bug, not bad input).
class CheckError : public std::logic_error {
  public:
    explicit CheckError(const std::string& msg) : std::logic_error(msg) {}
};

// A feature that cannot work on this machine or build (e.g. --device cuda on a CPU LibTorch).
class UnsupportedError : public std::runtime_error {
  public:
    explicit UnsupportedError(const std::string& msg) : std::runtime_error(msg) {}
};

[[noreturn]] void check_failed(const char* file, int line, const char* cond,
                               const std::string& msg);

}  // namespace gk

#define GK_CHECK(cond, msg)                                       \
    do {                                                          \
        if (!(cond)) {                                            \
            ::gk::check_failed(__FILE__, __LINE__, #cond, (msg)); \
        }                                                         \
    } while (0)
