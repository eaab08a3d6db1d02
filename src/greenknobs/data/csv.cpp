// CSV parsing: memchr to the next quote inside quoted fields (long multi-line function bodies), a
// byte loop elsewhere, field strings reused. Streaming keeps a chunk plus the record in progress; a
// record cut by the chunk end is parsed again from its start after the refill.
#include "greenknobs/data/csv.h"

#include <algorithm>
#include <cstring>

#include "greenknobs/util/error.h"

namespace gk::data {
CsvReader::CsvReader(std::string_view text, std::string path)
    : text_(text), path_(std::move(path)) {
    read_header();
}

CsvReader::CsvReader(std::string path, std::FILE* file, size_t chunk_bytes)
    : file_(file),
      at_eof_(false),
      chunk_bytes_(std::max<size_t>(chunk_bytes, 1)),
      path_(std::move(path)) {
    text_ = buffer_;
    read_header();
}

CsvReader CsvReader::open_file(const std::string& path, size_t chunk_bytes) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        throw InputError(path, "", "cannot open file for reading");
    }
    return CsvReader(path, f, chunk_bytes);
}

void CsvReader::read_header() {
    while (!at_eof_ && text_.size() < 3) {
        refill(0);
    }
    // A UTF-8 byte order mark (Excel writes one) is not part of the first column's name.
    if (text_.size() >= 3 && text_.compare(0, 3, "\xEF\xBB\xBF") == 0) {
        pos_ = 3;
    }
    size_t n = read_record(header_);
    if (n == 0) {
        throw InputError(path_, "1", "empty file: expected a CSV header row");
    }
    header_.resize(n);
}

int CsvReader::column(std::string_view name) const {
    for (size_t i = 0; i < header_.size(); ++i) {
        if (header_[i] == name) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

bool CsvReader::next() {
    size_t n = read_record(fields_);
    if (n == 0) {
        return false;
    }
    if (n != header_.size()) {
        throw InputError(path_, std::to_string(record_line_),
                         "expected " + std::to_string(header_.size()) +
                             " fields (as in the header), found " + std::to_string(n));
    }
    fields_.resize(n);
    return true;
}

void CsvReader::refill(size_t keep_from) {
    buffer_.erase(0, keep_from);
    const size_t kept = buffer_.size();
    // Grow with the record in progress so a huge record costs O(size) re-parsing in all.
    const size_t want = std::max(chunk_bytes_, kept);
    buffer_.resize(kept + want);
    const size_t got = std::fread(buffer_.data() + kept, 1, want, file_.get());
    buffer_.resize(kept + got);
    if (got < want) {
        if (std::ferror(file_.get()) != 0) {
            throw InputError(path_, "", "read error");
        }
        at_eof_ = true;
    }
    text_ = buffer_;
}

size_t CsvReader::read_record(std::vector<std::string>& out) {
    while (true) {
        const size_t start = pos_;
        const int64_t start_line = line_;
        size_t n = 0;
        switch (parse_record(out, n)) {
            case Status::kRecord:
                return n;
            case Status::kEnd:
                return 0;
            case Status::kNeedMore:
                refill(start);
                pos_ = 0;
                line_ = start_line;
                break;
        }
    }
}

CsvReader::Status CsvReader::parse_record(std::vector<std::string>& out, size_t& n) {
    const char* data = text_.data();
    const size_t size = text_.size();
    // Blank lines are not records (a trailing "\n\n" or a spacer line), unless a 1-column file
    // could mean an empty value by them.
    while (header_.size() != 1) {
        if (pos_ < size && data[pos_] == '\n') {
            ++pos_;
            ++line_;
        } else if (pos_ + 1 < size && data[pos_] == '\r' && data[pos_ + 1] == '\n') {
            pos_ += 2;
            ++line_;
        } else if (!at_eof_ && pos_ + 1 >= size) {
            return Status::kNeedMore;
        } else {
            break;
        }
    }
    if (pos_ >= size) {
        return at_eof_ ? Status::kEnd : Status::kNeedMore;
    }
    record_line_ = line_;
    n = 0;
    while (true) {
        if (out.size() <= n) {
            out.emplace_back();
        }
        std::string& field = out[n++];
        field.clear();
        if (pos_ < size && data[pos_] == '"') {
            const int64_t field_line = line_;
            ++pos_;
            while (true) {
                const char* q =
                    static_cast<const char*>(std::memchr(data + pos_, '"', size - pos_));
                if (q == nullptr) {
                    if (!at_eof_) {
                        return Status::kNeedMore;
                    }
                    throw InputError(path_, std::to_string(field_line),
                                     "unterminated quoted field");
                }
                const char* from = data + pos_;
                field.append(from, static_cast<size_t>(q - from));
                line_ += std::count(from, q, '\n');
                pos_ = static_cast<size_t>(q - data) + 1;
                if (pos_ >= size && !at_eof_) {
                    return Status::kNeedMore;  // the quote may be the first half of a `""`
                }
                if (pos_ < size && data[pos_] == '"') {  // "" is an escaped quote
                    field.push_back('"');
                    ++pos_;
                    continue;
                }
                break;
            }
            if (pos_ >= size) {
                return Status::kRecord;
            }
            const char c = data[pos_];
            if (c == ',') {
                ++pos_;
                continue;
            }
            if (c == '\n') {
                ++pos_;
                ++line_;
                return Status::kRecord;
            }
            if (c == '\r' && pos_ + 1 >= size && !at_eof_) {
                return Status::kNeedMore;
            }
            if (c == '\r' && pos_ + 1 < size && data[pos_ + 1] == '\n') {
                pos_ += 2;
                ++line_;
                return Status::kRecord;
            }
            throw InputError(path_, std::to_string(line_),
                             std::string("unexpected character '") + c +
                                 "' after a closing quote (expected ',' or a line end)");
        }
        const size_t start = pos_;
        while (pos_ < size && data[pos_] != ',' && data[pos_] != '\n') {
            ++pos_;
        }
        if (pos_ >= size && !at_eof_) {
            return Status::kNeedMore;
        }
        size_t stop = pos_;
        // CRLF row end: the '\r' belongs to the line break, not to the field.
        if (stop > start && data[stop - 1] == '\r' && (pos_ >= size || data[pos_] == '\n')) {
            --stop;
        }
        field.assign(data + start, stop - start);
        if (pos_ >= size) {
            return Status::kRecord;
        }
        if (data[pos_] == ',') {
            ++pos_;
            continue;
        }
        ++pos_;  // '\n'
        ++line_;
        return Status::kRecord;
    }
}

}  // namespace gk::data
