// RFC 4180 CSV reader: quoted fields with commas, `""` escapes and line breaks, CRLF/LF row ends, a
// BOM, a header row. One pass, no regex, over a buffer or streamed in chunks from a file (MSR's
// full BigVul CSV is gigabytes). Strict (docs/input-rules.md): UTF-8 only, no NUL bytes, no quote
// inside an unquoted field, no bare CR line ends, no duplicate or blank header. Errors name the
// file and the line where the bad record or field started, with a hint where the cause is
// guessable.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gk::data {

class CsvReader {
  public:
    // Over `text`, which must outlive the reader; `path` only names it in errors.
    CsvReader(std::string_view text, std::string path);
    // Streams the file at `path` in chunks of `chunk_bytes` (InputError if it cannot be opened).
    static constexpr size_t kDefaultChunkBytes = size_t{4} << 20;
    static CsvReader open_file(const std::string& path, size_t chunk_bytes = kDefaultChunkBytes);
    // text_ may point into buffer_: never copied or moved (C++17 elision makes open_file work
    // regardless).
    CsvReader(const CsvReader&) = delete;
    CsvReader& operator=(const CsvReader&) = delete;
    CsvReader(CsvReader&&) = delete;
    CsvReader& operator=(CsvReader&&) = delete;

    const std::vector<std::string>& header() const { return header_; }
    // Index of a header column, or -1 when absent.
    int column(std::string_view name) const;

    // Reads the next record into fields(); false at the end of input. Every record must have
    // exactly header().size() fields. Empty lines between records are skipped when the header has >
    // 1 column.
    bool next();
    // The fields of the last record read; the strings may be moved from (they are reassigned on
    // next()).
    std::vector<std::string>& fields() { return fields_; }
    // 1-based line where the last record started.
    int64_t record_line() const { return record_line_; }

  private:
    enum class Status { kRecord, kEnd, kNeedMore };
    struct FileCloser {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };

    CsvReader(std::string path, std::FILE* file, size_t chunk_bytes);
    void read_header();
    // Reads one record (retrying from its start whenever a streamed buffer runs dry); returns its
    // field count, 0 at the end of input.
    size_t read_record(std::vector<std::string>& out);
    Status parse_record(std::vector<std::string>& out, size_t& n);
    // Drops the consumed prefix [0, keep_from) of the buffer and appends the next chunk of the
    // file.
    void refill(size_t keep_from);
    // UTF-8 and NUL check of the record text_[start, pos_) that began on `start_line`.
    void check_record_bytes(size_t start, int64_t start_line) const;

    std::string_view text_;
    std::string buffer_;  // owns text_ when streaming
    std::unique_ptr<std::FILE, FileCloser> file_;
    bool at_eof_ = true;  // no more bytes beyond text_
    size_t chunk_bytes_ = kDefaultChunkBytes;
    std::string path_;
    size_t pos_ = 0;
    uint64_t consumed_ = 0;  // file bytes dropped from the front of buffer_ (for byte offsets)
    int64_t line_ = 1;       // line of text_[pos_]
    int64_t record_line_ = 0;
    std::vector<std::string> header_;
    bool have_header_ = false;
    std::vector<std::string> fields_;
};

}  // namespace gk::data
