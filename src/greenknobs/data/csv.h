// RFC 4180 CSV reader over an in-memory buffer: quoted fields with embedded commas, `""` escapes
// and line breaks, CRLF or LF row ends, a UTF-8 BOM, a header row. One pass, no regex; a bad file
// throws InputError naming the file and the line where the bad record or field started.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gk::data {

class CsvReader {
  public:
    // `text` must outlive the reader; `path` only names the file in errors. Reads the header row at
    // once (an empty input is an InputError).
    CsvReader(std::string_view text, std::string path);

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
    // Parses one record into `out`; returns the number of fields, 0 at the end of input.
    size_t read_record(std::vector<std::string>& out);

    std::string_view text_;
    std::string path_;
    size_t pos_ = 0;
    int64_t line_ = 1;  // line of text_[pos_]
    int64_t record_line_ = 0;
    std::vector<std::string> header_;
    std::vector<std::string> fields_;
};

}  // namespace gk::data
