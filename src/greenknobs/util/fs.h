// File helpers: whole-file reads with clear errors, atomic writes (tmp + rename) so nothing
// half-written is ever seen under its final name, and directory creation.
#pragma once

#include <string>

namespace gk::fs {

// Reads a whole file; throws InputError naming the path if it cannot be opened.
std::string read_file(const std::string& path);
// Writes via "<path>.tmp.<pid>" then rename(2): readers see the old file or the complete new one.
void write_file_atomic(const std::string& path, const std::string& bytes);
// mkdir -p; throws InputError if a component exists and is not a directory.
void make_dirs(const std::string& path);
bool exists(const std::string& path);
// Joins two path parts with exactly one '/'.
std::string join(const std::string& a, const std::string& b);

// A small kernel file (procfs, sysfs) read whole with open/read/close: no iostreams, no exception,
// since the energy sources read them on the sampler's hot path and report a failure as data. false
// (with errno in *err_no when given) if it cannot be opened or read.
bool read_small_file(const std::string& path, std::string* out, int* err_no = nullptr);
// The same for a one-value sysfs attribute: trailing newlines and spaces removed.
bool read_sysfs_value(const std::string& path, std::string* out, int* err_no = nullptr);

}  // namespace gk::fs
