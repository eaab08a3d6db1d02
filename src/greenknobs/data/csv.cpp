// CSV parsing: memchr to the next quote inside quoted fields (long multi-line function bodies), a
// byte loop elsewhere, field strings reused. Streaming keeps a chunk plus the record in progress; a
// record cut by the chunk end is parsed again from its start after the refill.
#include "greenknobs/data/csv.h"

#include <algorithm>
#include <cstring>

#include "greenknobs/util/error.h"
#include "greenknobs/util/text_check.h"

namespace gk::data {
namespace {

std::string bare_cr_message() {
    return "a bare CR (carriage return without a line feed) outside quotes: the file seems to use "
           "classic Mac line ends; convert them to LF or CRLF (e.g. tr '\\r' '\\n')";
}

}  // namespace

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
    while (!at_eof_ && text_.size() < 4) {  // enough for any byte order mark
        refill(0);
    }
    // A UTF-8 byte order mark (Excel writes one) is not part of the first column's name; other
    // encodings are named rather than misread.
    const std::string enc = foreign_encoding(text_.substr(0, std::min<size_t>(text_.size(), 8)));
    if (enc == "a UTF-8 byte order mark") {
        pos_ = 3;
    } else if (!enc.empty()) {
        throw InputError(path_, "1",
                         "starts with " + enc +
                             ": expected UTF-8 CSV (convert it, e.g. iconv -f UTF-16 -t UTF-8)");
    }
    size_t n = read_record(header_);
    if (n == 0) {
        // At the end of input consumed_ + text_.size() is the file's size.
        const bool blank = consumed_ + text_.size() > (enc.empty() ? 0 : 3);
        throw InputError(path_, "1",
                         blank ? "blank file (only line breaks): expected a CSV header row"
                               : "empty file: expected a CSV header row");
    }
    header_.resize(n);
    have_header_ = true;
    bool all_blank = true;
    for (const auto& h : header_) {
        all_blank = all_blank && h.find_first_not_of(" \t") == std::string::npos;
    }
    if (all_blank) {
        throw InputError(path_, std::to_string(record_line_),
                         "blank header line (only spaces, tabs or commas): expected a CSV header "
                         "row such as func_before,vul");
    }
    for (size_t i = 0; i < header_.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (header_[i] == header_[j]) {
                throw InputError(path_, std::to_string(record_line_),
                                 "the header names column '" + header_[i] + "' twice (columns " +
                                     std::to_string(j + 1) + " and " + std::to_string(i + 1) +
                                     "): which one holds the data is ambiguous");
            }
        }
    }
}

void CsvReader::check_record_bytes(size_t start, int64_t start_line) const {
    const std::string_view raw = text_.substr(start, pos_ - start);
    const size_t bad = std::min(utf8_invalid_at(raw), raw.find('\0'));
    if (bad == std::string_view::npos) {
        return;
    }
    const int64_t line = start_line + std::count(raw.begin(), raw.begin() + bad, '\n');
    throw InputError(path_, std::to_string(line), utf8_problem(raw, consumed_ + start));
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
    consumed_ += keep_from;
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
                check_record_bytes(start, start_line);
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
    // (Decided by have_header_, not header_.size(): while the header is read, header_ is the
    // output vector and a retry after a refill would see its first field.)
    while (!have_header_ || header_.size() != 1) {
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
            if (c == '\r') {
                throw InputError(path_, std::to_string(line_), bare_cr_message());
            }
            throw InputError(path_, std::to_string(line_),
                             std::string("unexpected character '") + c +
                                 "' after a closing quote (expected ',' or a line end; a quote "
                                 "inside a quoted field is written \"\")");
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
        // RFC 4180: an unquoted field holds no quote and no CR.
        for (size_t i = start; i < stop; ++i) {
            if (data[i] == '"') {
                throw InputError(path_, std::to_string(line_),
                                 "a quote inside an unquoted field (RFC 4180: quote the whole "
                                 "field and double the quotes inside it: \"a \"\"b\"\" c\")");
            }
            if (data[i] == '\r') {
                throw InputError(path_, std::to_string(line_), bare_cr_message());
            }
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
