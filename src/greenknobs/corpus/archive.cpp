// libarchive for tarballs (every compression filter libarchive has, tar formats only),
// std::filesystem for directories. Errors carry libarchive's own message, which names what is wrong
// with the data.
#include "greenknobs/corpus/archive.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include <archive.h>
#include <archive_entry.h>

#include "greenknobs/util/error.h"

namespace gk::corpus {
namespace {

namespace stdfs = std::filesystem;

class TarReader : public MemberReader {
  public:
    explicit TarReader(std::string path) : path_(std::move(path)) {
        std::error_code ec;
        total_ = static_cast<int64_t>(stdfs::file_size(path_, ec));
        a_ = archive_read_new();
        GK_CHECK(a_ != nullptr, "archive_read_new failed");
        archive_read_support_filter_all(a_);
        archive_read_support_format_tar(a_);
        archive_read_support_format_gnutar(a_);
        if (archive_read_open_filename(a_, path_.c_str(), size_t{1} << 16) != ARCHIVE_OK) {
            const std::string msg = error_string();
            archive_read_free(a_);
            a_ = nullptr;
            throw InputError(path_, "", "cannot open as a tarball: " + msg);
        }
    }
    ~TarReader() override {
        if (a_ != nullptr) {
            archive_read_free(a_);
        }
    }
    TarReader(const TarReader&) = delete;
    TarReader& operator=(const TarReader&) = delete;

    bool next(Member* member) override {
        for (;;) {
            archive_entry* entry = nullptr;
            const int r = archive_read_next_header(a_, &entry);
            if (r == ARCHIVE_EOF) {
                return false;
            }
            if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY) {
                throw InputError(path_, where(),
                                 "corrupt or unreadable archive: " + error_string());
            }
            // ARCHIVE_WARN (e.g. an odd header field) still gives a usable entry.
            ++index_;
            const char* name = archive_entry_pathname(entry);
            current_ = name != nullptr ? name : "";
            if (archive_entry_filetype(entry) != AE_IFREG) {
                continue;
            }
            member->path = current_;
            member->size_bytes =
                archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : -1;
            return true;
        }
    }

    std::string read() override {
        std::string out;
        char buf[1 << 16];
        for (;;) {
            const la_ssize_t n = archive_read_data(a_, buf, sizeof(buf));
            if (n == 0) {
                break;
            }
            if (n < 0) {
                if (n == ARCHIVE_WARN) {
                    continue;
                }
                throw InputError(path_, where(), "corrupt archive data: " + error_string());
            }
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }

    int64_t position_bytes() const override { return archive_filter_bytes(a_, -1); }
    int64_t total_bytes() const override { return total_; }

  private:
    std::string error_string() const {
        const char* s = archive_error_string(a_);
        return s != nullptr ? s : "unknown libarchive error";
    }
    std::string where() const {
        return current_.empty() ? "member " + std::to_string(index_ + 1)
                                : "after member '" + current_ + "'";
    }

    std::string path_;
    archive* a_ = nullptr;
    int64_t total_ = 0;
    int64_t index_ = 0;
    std::string current_;
};

class DirReader : public MemberReader {
  public:
    explicit DirReader(std::string root) : root_(std::move(root)) {
        std::error_code ec;
        stdfs::recursive_directory_iterator it(root_, stdfs::directory_options::none, ec);
        if (ec) {
            throw InputError(root_, "", "cannot read directory: " + ec.message());
        }
        for (; it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
            if (ec) {
                throw InputError(root_, "", "cannot walk directory: " + ec.message());
            }
            std::error_code fec;
            if (!it->is_regular_file(fec) || it->is_symlink(fec)) {
                continue;
            }
            const int64_t size = static_cast<int64_t>(it->file_size(fec));
            files_.push_back(File{stdfs::relative(it->path(), root_, fec).generic_string(),
                                  it->path().string(), size});
            total_ += size;
        }
        std::sort(files_.begin(), files_.end(),
                  [](const File& a, const File& b) { return a.rel < b.rel; });
    }

    bool next(Member* member) override {
        if (cur_ < files_.size()) {
            position_ += files_[cur_].size;  // the previous member counts as consumed
        }
        cur_ = cur_ == kBefore ? 0 : cur_ + 1;
        if (cur_ >= files_.size()) {
            cur_ = files_.size();
            return false;
        }
        member->path = files_[cur_].rel;
        member->size_bytes = files_[cur_].size;
        return true;
    }

    std::string read() override {
        const File& f = files_.at(cur_);
        std::ifstream in(f.abs, std::ios::binary);
        if (!in) {
            throw InputError(f.abs, "", "cannot read file");
        }
        std::string out;
        out.resize(static_cast<size_t>(std::max<int64_t>(f.size, 0)));
        in.read(out.data(), static_cast<std::streamsize>(out.size()));
        out.resize(static_cast<size_t>(in.gcount()));
        return out;
    }

    int64_t position_bytes() const override { return position_; }
    int64_t total_bytes() const override { return total_; }

  private:
    struct File {
        std::string rel;
        std::string abs;
        int64_t size;
    };
    static constexpr size_t kBefore = static_cast<size_t>(-1);
    std::string root_;
    std::vector<File> files_;
    size_t cur_ = kBefore;
    int64_t total_ = 0;
    int64_t position_ = 0;
};

}  // namespace

std::unique_ptr<MemberReader> MemberReader::open(const std::string& path) {
    std::error_code ec;
    const auto status = stdfs::status(path, ec);
    if (ec || !stdfs::exists(status)) {
        throw InputError(path, "", "no such tarball or directory");
    }
    if (stdfs::is_directory(status)) {
        return std::make_unique<DirReader>(path);
    }
    return std::make_unique<TarReader>(path);
}

}  // namespace gk::corpus
