// Rows of a BigVul-layout file (MSR_data_cleaned.csv or HF `bigvul` JSON Lines), reduced to the
// columns the pipeline uses, with labels parsed and the source line kept for error messages. Rows
// are handed to a callback one at a time, so a multi-gigabyte file is never held whole.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gk::data {

struct RawRow {
    int64_t line = 0;  // 1-based line where the row starts in its file (JSON array: record number)
    std::string func_before;
    std::string func_after;  // empty when the file has no such column
    int vul = 0;
    std::string cwe;  // `CWE ID`
    std::string cve;  // `CVE ID`
    std::string project;
    std::string commit_id;
    std::string file_name;
    std::string split;  // as written; empty when the file has no split
};

// Which optional columns the file has (CSV: its header; JSON Lines: the first record, which every
// other record must agree with on `split`).
struct RowColumns {
    bool split = false;
    bool func_after = false;
    bool commit_id = false;
    bool cve = false;
};

// Which columns must exist: `func_before` and `vul` always; `func_after` for paired mode.
struct RowRequirements {
    bool func_after = false;
};

using RowSink = std::function<void(RawRow&& row, const RowColumns& columns)>;

// Streams the CSV file at `path` into `sink`; returns the row count. `vul` must be 0 or 1 ("0"/"1"
// as strings too); anything else is an InputError naming file:line and the value.
int64_t read_csv_rows(const std::string& path, const RowRequirements& req, const RowSink& sink);
// The same over bytes in memory (`path` names them in errors).
int64_t read_csv_rows_from(std::string_view text, const std::string& path,
                           const RowRequirements& req, const RowSink& sink);
// JSON Lines: one object per line (blank lines skipped), streamed. A file whose first character is
// '[' is read as one JSON array of such objects (places are then "record N").
int64_t read_jsonl_rows(const std::string& path, const RowRequirements& req, const RowSink& sink);

// "0"/"1" → 0/1; anything else throws InputError(path, place, ...) quoting the value.
int parse_label(const std::string& value, const std::string& path, const std::string& place);

}  // namespace gk::data
