// Streaming reader over the regular files of a source: a tarball (.tar, .tar.gz, .tar.xz,
// .tar.bz2, ... through libarchive, decompressed on the fly, never extracted to disk) or a
// directory tree (walked in sorted path order). Members come in a fixed order, so a corpus built
// from the same input is the same.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace gk::corpus {

struct Member {
    std::string path;        // inside the tarball, or relative to the directory ('/'-separated)
    int64_t size_bytes = 0;  // as recorded in the header (-1 when the archive does not say)
};

class MemberReader {
  public:
    virtual ~MemberReader() = default;
    // Opens a tarball or a directory; InputError naming `path` if it is missing or unreadable.
    static std::unique_ptr<MemberReader> open(const std::string& path);

    // Advances to the next regular file (directories, links and devices are passed over); false
    // at the end. A corrupt archive is an InputError naming the file and the member.
    virtual bool next(Member* member) = 0;
    // The current member's bytes (call at most once per member; not calling it skips them).
    virtual std::string read() = 0;
    // Input consumed so far and the input's size, in bytes of the file(s) on disk (compressed
    // bytes for a tarball), for progress and ETA.
    virtual int64_t position_bytes() const = 0;
    virtual int64_t total_bytes() const = 0;
};

}  // namespace gk::corpus
