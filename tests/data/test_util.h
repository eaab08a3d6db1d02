// Helpers shared by the data tests: temp files, fixture paths, capturing an InputError's message.
#pragma once

#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "greenknobs/util/error.h"

namespace gk::data::testing_util {

inline std::string fixture(const std::string& name) {
    return std::string(GK_SOURCE_DIR) + "/tests/data/fixtures/" + name;
}

// Where write_tmp(name, ...) puts its file. ctest runs each test in its own process, in parallel:
// the pid keeps two tests that write the same name from racing on one file.
inline std::string tmp_path(const std::string& name) {
    return ::testing::TempDir() + "gk_data_" + std::to_string(::getpid()) + "_" + name;
}

inline std::string write_tmp(const std::string& name, const std::string& bytes) {
    std::string path = tmp_path(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

// The message of the InputError `f` throws, or "" if it throws none.
inline std::string input_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace gk::data::testing_util
