// CSV parsing: memchr to the next quote inside quoted fields (the long multi-line function bodies),
// a plain byte loop for unquoted ones. Strings are reused across records so a 15 MB file costs one
// copy of its text.
#include "greenknobs/data/csv.h"

#include <algorithm>
#include <cstring>

#include "greenknobs/util/error.h"

namespace gk::data {

CsvReader::CsvReader(std::string_view text, std::string path)
    : text_(text), path_(std::move(path)) {
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

size_t CsvReader::read_record(std::vector<std::string>& out) {
    const char* data = text_.data();
    const size_t size = text_.size();
    // Blank lines are not records (a trailing "\n\n" or a spacer line), unless a 1-column file
    // could mean an empty value by them.
    while (pos_ < size && header_.size() != 1) {
        if (data[pos_] == '\n') {
            ++pos_;
            ++line_;
        } else if (data[pos_] == '\r' && pos_ + 1 < size && data[pos_ + 1] == '\n') {
            pos_ += 2;
            ++line_;
        } else {
            break;
        }
    }
    if (pos_ >= size) {
        return 0;
    }
    record_line_ = line_;
    size_t n = 0;
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
                    throw InputError(path_, std::to_string(field_line),
                                     "unterminated quoted field");
                }
                const char* from = data + pos_;
                field.append(from, static_cast<size_t>(q - from));
                line_ += std::count(from, q, '\n');
                pos_ = static_cast<size_t>(q - data) + 1;
                if (pos_ < size && data[pos_] == '"') {  // "" is an escaped quote
                    field.push_back('"');
                    ++pos_;
                    continue;
                }
                break;
            }
            if (pos_ >= size) {
                return n;
            }
            const char c = data[pos_];
            if (c == ',') {
                ++pos_;
                continue;
            }
            if (c == '\n') {
                ++pos_;
                ++line_;
                return n;
            }
            if (c == '\r' && pos_ + 1 < size && data[pos_ + 1] == '\n') {
                pos_ += 2;
                ++line_;
                return n;
            }
            throw InputError(path_, std::to_string(line_),
                             std::string("unexpected character '") + c +
                                 "' after a closing quote (expected ',' or a line end)");
        }
        const size_t start = pos_;
        while (pos_ < size && data[pos_] != ',' && data[pos_] != '\n') {
            ++pos_;
        }
        size_t stop = pos_;
        // CRLF row end: the '\r' belongs to the line break, not to the field.
        if (stop > start && data[stop - 1] == '\r' && (pos_ >= size || data[pos_] == '\n')) {
            --stop;
        }
        field.assign(data + start, stop - start);
        if (pos_ >= size) {
            return n;
        }
        if (data[pos_] == ',') {
            ++pos_;
            continue;
        }
        ++pos_;  // '\n'
        ++line_;
        return n;
    }
}

}  // namespace gk::data
