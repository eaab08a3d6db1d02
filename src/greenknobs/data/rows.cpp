// CSV and JSON Lines → RawRow. Column names are MSR_data_cleaned.csv's. JSON Lines is strict: one
// object per line, UTF-8, no duplicate keys, text fields are strings (null only for optional
// metadata, where it means "absent"); docs/input-rules.md.
#include "greenknobs/data/rows.h"

#include <cctype>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "greenknobs/data/csv.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/json_strict.h"
#include "greenknobs/util/text_check.h"

namespace gk::data {
namespace {

std::string quoted_value(const std::string& v) {
    constexpr size_t kMaxShown = 40;
    return "'" + (v.size() > kMaxShown ? v.substr(0, kMaxShown) + "..." : v) + "'";
}

// The header as a short list: long names cut, at most 12 shown (a header-less file would otherwise
// print a whole function as "the header").
std::string header_list(const std::vector<std::string>& header) {
    constexpr size_t kMaxNames = 12;
    std::string s;
    for (size_t i = 0; i < header.size() && i < kMaxNames; ++i) {
        s += (i == 0 ? "" : ", ") + quoted_value(header[i]);
    }
    if (header.size() > kMaxNames) {
        s += ", ... (" + std::to_string(header.size()) + " columns)";
    }
    return s;
}

std::string trimmed(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) {
        return "";
    }
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool same_ignoring_case(const std::string& a, const char* b) {
    size_t i = 0;
    for (; i < a.size() && b[i] != '\0'; ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return i == a.size() && b[i] == '\0';
}

// Why a required column may be missing, when the header shows it: padded or differently cased
// names, another delimiter, no header row at all.
std::string missing_column_hint(const std::vector<std::string>& header, const char* name) {
    for (const auto& h : header) {
        if (trimmed(h) == name) {
            return "; column " + quoted_value(h) + " has spaces around its name (names are exact)";
        }
        if (same_ignoring_case(trimmed(h), name)) {
            return "; found " + quoted_value(h) + " (names are case-sensitive)";
        }
    }
    if (header.size() == 1) {
        for (const char* d : {";", "\t", "|"}) {
            if (header[0].find(d) != std::string::npos) {
                const std::string shown = d[0] == '\t' ? "tab" : std::string("'") + d + "'";
                return "; the header is one column holding " + shown + ": the file seems " + shown +
                       "-separated, but CSV here means comma-separated";
            }
        }
    }
    for (const auto& h : header) {
        if (h.size() > 40 || h.find_first_of("(){};") != std::string::npos) {
            return "; the first line does not look like a header (is the header row missing?)";
        }
    }
    return "";
}

int64_t read_csv(CsvReader& csv, const std::string& path, const RowRequirements& req,
                 const RowSink& sink) {
    auto require = [&](const char* name, const char* why) {
        int i = csv.column(name);
        if (i < 0) {
            throw InputError(path, "1",
                             std::string("missing required column '") + name + "' (" + why +
                                 "); header has: " + header_list(csv.header()) +
                                 missing_column_hint(csv.header(), name));
        }
        return i;
    };
    const int c_before = require("func_before", "the function text");
    const int c_vul = require("vul", "the label");
    const int c_after = req.func_after
                            ? require("func_after", "data.mode = paired needs the fixed version")
                            : csv.column("func_after");
    const int c_cwe = csv.column("CWE ID");
    const int c_cve = csv.column("CVE ID");
    const int c_project = csv.column("project");
    const int c_commit = csv.column("commit_id");
    const int c_file = csv.column("file_name");
    const int c_split = csv.column("split");

    RowColumns columns;
    columns.split = c_split >= 0;
    columns.func_after = c_after >= 0;
    columns.commit_id = c_commit >= 0;
    columns.cve = c_cve >= 0;
    int64_t count = 0;
    while (csv.next()) {
        auto& f = csv.fields();
        RawRow row;
        row.line = csv.record_line();
        row.vul = parse_label(f[static_cast<size_t>(c_vul)], path, std::to_string(row.line));
        auto take = [&](int col, std::string& into) {
            if (col >= 0) {
                into = std::move(f[static_cast<size_t>(col)]);
            }
        };
        take(c_before, row.func_before);
        take(c_after, row.func_after);
        take(c_cwe, row.cwe);
        take(c_cve, row.cve);
        take(c_project, row.project);
        take(c_commit, row.commit_id);
        take(c_file, row.file_name);
        take(c_split, row.split);
        sink(std::move(row), columns);
        ++count;
    }
    return count;
}

// A text field: must be a JSON string. `nullable` (optional metadata only): null means absent.
std::string as_text(const nlohmann::json& v, const std::string& path, const std::string& place,
                    const char* key, bool nullable) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_null() && nullable) {
        return "";
    }
    std::string shown = v.dump();
    if (shown.size() > 40) {
        shown = shown.substr(0, 40) + "...";
    }
    throw InputError(
        path, place,
        std::string("field '") + key + "' must be a string, found " + v.type_name() + " " + shown);
}

// Turns one JSON record into a row; the first record fixes `columns`.
RawRow row_from_object(const nlohmann::json& obj, int64_t line, const std::string& path,
                       const std::string& place, const RowRequirements& req, RowColumns& columns,
                       bool first) {
    if (!obj.is_object()) {
        throw InputError(
            path, place,
            std::string("expected a JSON object per record, found ") + obj.type_name());
    }
    auto need = [&](const char* key) -> const nlohmann::json& {
        auto it = obj.find(key);
        if (it == obj.end()) {
            throw InputError(path, place, std::string("missing required field '") + key + "'");
        }
        return *it;
    };
    auto opt = [&](const char* key) -> std::string {
        auto it = obj.find(key);
        return it == obj.end() ? std::string() : as_text(*it, path, place, key, /*nullable=*/true);
    };
    RawRow row;
    row.line = line;
    row.func_before = as_text(need("func_before"), path, place, "func_before", false);
    const nlohmann::json& vul = need("vul");
    if (vul.is_number_integer() || vul.is_number_unsigned()) {
        row.vul = parse_label(vul.dump(), path, place);
    } else if (vul.is_string()) {
        row.vul = parse_label(vul.get<std::string>(), path, place);
    } else {
        throw InputError(path, place,
                         "label `vul` must be 0 or 1, found " + std::string(vul.type_name()) + " " +
                             vul.dump().substr(0, 40));
    }
    row.func_after = req.func_after ? as_text(need("func_after"), path, place, "func_after", false)
                                    : opt("func_after");
    row.cwe = opt("CWE ID");
    row.cve = opt("CVE ID");
    row.project = opt("project");
    row.commit_id = opt("commit_id");
    row.file_name = opt("file_name");
    // The split is all-or-nothing: the first record decides whether the file carries one.
    const bool has_split = obj.contains("split");
    if (first) {
        columns.split = has_split;
        columns.func_after = obj.contains("func_after");
        columns.commit_id = obj.contains("commit_id");
        columns.cve = obj.contains("CVE ID");
    } else if (has_split != columns.split) {
        throw InputError(path, place,
                         has_split ? "record has a 'split' field but the first record has none"
                                   : "record has no 'split' field but the first record has one");
    }
    if (has_split) {
        row.split = as_text(obj.at("split"), path, place, "split", false);
    }
    return row;
}

}  // namespace

int parse_label(const std::string& value, const std::string& path, const std::string& place) {
    if (value == "0") {
        return 0;
    }
    if (value == "1") {
        return 1;
    }
    throw InputError(path, place, "label `vul` must be 0 or 1, found " + quoted_value(value));
}

int64_t read_csv_rows(const std::string& path, const RowRequirements& req, const RowSink& sink) {
    CsvReader csv = CsvReader::open_file(path);
    return read_csv(csv, path, req, sink);
}

int64_t read_csv_rows_from(std::string_view text, const std::string& path,
                           const RowRequirements& req, const RowSink& sink) {
    CsvReader csv(text, path);
    return read_csv(csv, path, req, sink);
}

int64_t read_jsonl_rows(const std::string& path, const RowRequirements& req, const RowSink& sink) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path, "", "cannot open file for reading");
    }
    RowColumns columns;
    int64_t count = 0;
    int64_t line = 0;
    size_t offset = 0;  // of the current line in the file
    std::string text;
    while (std::getline(in, text)) {
        ++line;
        const size_t line_offset = offset;
        offset += text.size() + 1;
        size_t skip = 0;
        if (line == 1) {
            const std::string enc = foreign_encoding(text);
            if (enc == "a UTF-8 byte order mark") {
                skip = 3;  // written by Windows tools; not part of the first record
            } else if (!enc.empty()) {
                throw InputError(path, "1",
                                 "starts with " + enc +
                                     ": expected UTF-8 JSON Lines (convert it, e.g. iconv -f "
                                     "UTF-16 -t UTF-8)");
            }
        }
        const size_t first = text.find_first_not_of(" \t\r", skip);
        if (first == std::string::npos) {
            continue;
        }
        const std::string place = std::to_string(line);
        if (count == 0 && text[first] == '[') {
            // A JSON array of records is a .json document, not JSON Lines.
            if (path.size() < 5 || path.compare(path.size() - 5, 5, ".json") != 0) {
                throw InputError(path, place,
                                 "the file is one JSON array, but JSON Lines holds one object per "
                                 "line (name the file .json to read it as an array of records)");
            }
            in.clear();
            in.seekg(0);
            std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (in.bad()) {
                throw InputError(path, "", "read error");
            }
            const size_t bom = all.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
            nlohmann::json arr = parse_json_strict(std::string_view(all).substr(bom), path, "",
                                                   /*offset_base=*/bom);
            if (!arr.is_array()) {
                throw InputError(path, "", "expected one JSON array of records");
            }
            for (size_t i = 0; i < arr.size(); ++i) {
                sink(row_from_object(arr[i], static_cast<int64_t>(i + 1), path,
                                     "record " + std::to_string(i + 1), req, columns, i == 0),
                     columns);
                ++count;
            }
            return count;
        }
        if (text[first] == '[') {
            throw InputError(path, place, "a JSON array: JSON Lines holds one object per line");
        }
        const size_t cr = text.find('\r');
        if (cr != std::string::npos && cr + 1 < text.size() &&
            text.find_first_not_of(" \t\r", cr) != std::string::npos) {
            throw InputError(path, place,
                             "a bare CR (carriage return without a line feed) inside the line: "
                             "the file seems to use classic Mac line ends; JSON Lines records "
                             "end with LF (or CRLF)");
        }
        nlohmann::json obj =
            parse_json_strict(std::string_view(text).substr(skip), path, place, line_offset + skip);
        sink(row_from_object(obj, line, path, place, req, columns, count == 0), columns);
        ++count;
    }
    if (in.bad()) {
        throw InputError(path, "", "read error");
    }
    return count;
}

}  // namespace gk::data
