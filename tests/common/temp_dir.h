// A fresh directory per test, unique across the processes ctest runs in parallel (mkdtemp), removed
// with its contents when the object goes away. The one temp-dir helper of the tests.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include <stdlib.h>
#include <sys/stat.h>

namespace gk::testing {

class TempDir {
  public:
    // /tmp/gk_<tag>_XXXXXX; world-readable like a sysfs tree (the energy fakes stand in for one).
    explicit TempDir(const std::string& tag = "test") {
        std::string tmpl = "/tmp/gk_" + tag + "_XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp " + tmpl + " failed");
        }
        ::chmod(tmpl.c_str(), 0755);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  private:
    std::string path_;
};

}  // namespace gk::testing
