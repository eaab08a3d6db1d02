// Shared by the fuzz targets: the contract every parser keeps on any input. It either succeeds or
// throws gk::InputError whose message is one printable UTF-8 line naming the input; anything else
// (another exception, a crash, a sanitizer report, a hang) is a finding. Inputs are written to a
// temporary file for the readers that take paths.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/text_check.h"

namespace gk::fuzz {

// Aborts (a finding libFuzzer reports with the input) when `ok` is false.
inline void expect(bool ok, const char* what, const std::string& detail = "") {
    if (!ok) {
        std::fprintf(stderr, "fuzz contract broken: %s %s\n", what, detail.c_str());
        std::abort();
    }
}

// Runs `parse`; an InputError must carry a one-line printable message that names `origin`.
template <typename F>
void expect_clean(const std::string& origin, F&& parse) {
    try {
        parse();
    } catch (const gk::InputError& e) {
        const std::string msg = e.what();
        expect(gk::printable(msg) == msg, "InputError message is not printable:", msg);
        expect(msg.find(origin) != std::string::npos, "InputError does not name the input:", msg);
    }
}

// A per-process temporary file holding `bytes`, named so extension-based readers see `suffix`.
inline std::string temp_file(const std::string& bytes, const std::string& suffix) {
    const std::string dir = std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp";
    const std::string path = dir + "/gk_fuzz_" + std::to_string(::getpid()) + suffix;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
}

}  // namespace gk::fuzz
