// std::filesystem plus POSIX rename for atomicity.
#include "greenknobs/util/fs.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "greenknobs/util/error.h"

namespace gk::fs {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path, "", "cannot open file for reading");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw InputError(path, "", "cannot open file for writing");
        }
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            std::remove(tmp.c_str());
            throw InputError(path, "", "write failed");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw InputError(path, "", "cannot rename temporary file into place");
    }
}

void make_dirs(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec && !std::filesystem::is_directory(path)) {
        throw InputError(path, "", "cannot create directory: " + ec.message());
    }
}

bool exists(const std::string& path) { return std::filesystem::exists(path); }

std::string join(const std::string& a, const std::string& b) {
    if (a.empty()) {
        return b;
    }
    if (a.back() == '/') {
        return a + b;
    }
    return a + "/" + b;
}

bool read_small_file(const std::string& path, std::string* out, int* err_no) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err_no != nullptr) {
            *err_no = errno;
        }
        return false;
    }
    out->clear();
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            if (err_no != nullptr) {
                *err_no = errno;
            }
            ::close(fd);
            return false;
        }
        if (n == 0) {
            break;
        }
        out->append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    if (err_no != nullptr) {
        *err_no = 0;
    }
    return true;
}

bool read_sysfs_value(const std::string& path, std::string* out, int* err_no) {
    if (!read_small_file(path, out, err_no)) {
        return false;
    }
    while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) {
        out->pop_back();
    }
    return true;
}

}  // namespace gk::fs
