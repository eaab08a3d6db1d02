// Shared by the CLI end-to-end tests: run the built `greenknobs` with arguments through a shell,
// capture stdout and stderr together, return the exit status.
#pragma once

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace gk::testing {

struct CliResult {
    int rc = -1;      // exit status, -1 if killed or not started
    std::string out;  // stdout and stderr, interleaved
};

inline CliResult run_greenknobs(const std::string& args) {
    CliResult r;
    std::string cmd = std::string(GK_BINARY_DIR) + "/bin/greenknobs " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
        return r;
    }
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        r.out.append(buf.data(), n);
    }
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

inline bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

}  // namespace gk::testing
