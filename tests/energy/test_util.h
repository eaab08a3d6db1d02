// Helpers for the energy tests: temporary directories and small file writers.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "../common/temp_dir.h"

namespace gk::energy::testing {

using gk::testing::TempDir;

inline void write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
}

inline std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace gk::energy::testing
