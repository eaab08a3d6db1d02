// Rows of a BigVul-layout file (MSR_data_cleaned.csv or HF `bigvul` JSON Lines), reduced to the
// columns the pipeline uses, with labels parsed and the source line kept for error messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gk::data {

struct RawRow {
    int64_t line = 0;  // 1-based line where the row starts in its file
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

struct RowTable {
    std::vector<RawRow> rows;
    bool has_split = false;  // every row carries a `split` value
    bool has_func_after = false;
    bool has_commit_id = false;
    bool has_cve = false;
};

// Which columns must exist. `func_before` and `vul` always; `func_after` for paired mode.
struct RowRequirements {
    bool func_after = false;
};

// Parses `text` (the file's bytes; `path` names it in errors). `vul` must be 0 or 1 ("0"/"1" as
// strings too); anything else is an InputError naming file:line and the value.
RowTable read_csv_rows(const std::string& text, const std::string& path,
                       const RowRequirements& req);
// JSON Lines: one object per line (blank lines skipped). A file whose first character is '[' is
// read as one JSON array of such objects (places are then "record N").
RowTable read_jsonl_rows(const std::string& text, const std::string& path,
                         const RowRequirements& req);

// "0"/"1" → 0/1; anything else throws InputError(path, place, ...) quoting the value.
int parse_label(const std::string& value, const std::string& path, const std::string& place);

}  // namespace gk::data
