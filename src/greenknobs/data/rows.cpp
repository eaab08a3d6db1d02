// CSV and JSON Lines → RawRow. Column names are MSR_data_cleaned.csv's; JSON values that are not
// strings (ints for ids, null for missing) are turned into text so both formats give the same rows.
#include "greenknobs/data/rows.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "greenknobs/data/csv.h"
#include "greenknobs/util/error.h"

namespace gk::data {
namespace {

std::string quoted_value(const std::string& v) {
    constexpr size_t kMaxShown = 40;
    return "'" + (v.size() > kMaxShown ? v.substr(0, kMaxShown) + "..." : v) + "'";
}

std::string header_list(const std::vector<std::string>& header) {
    std::string s;
    for (const auto& h : header) {
        s += (s.empty() ? "" : ", ") + h;
    }
    return s;
}

int64_t read_csv(CsvReader& csv, const std::string& path, const RowRequirements& req,
                 const RowSink& sink) {
    auto require = [&](const char* name, const char* why) {
        int i = csv.column(name);
        if (i < 0) {
            throw InputError(path, "",
                             std::string("missing required column '") + name + "' (" + why +
                                 "); header has: " + header_list(csv.header()));
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

// A JSON scalar as text: strings as they are, numbers as written, null as empty.
std::string as_text(const nlohmann::json& v, const std::string& path, const std::string& place,
                    const char* key) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_null()) {
        return "";
    }
    if (v.is_number()) {
        return v.dump();
    }
    throw InputError(path, place,
                     std::string("field '") + key + "' must be a string, found " + v.dump());
}

// Turns one JSON record into a row; the first record fixes `columns`.
RawRow row_from_object(const nlohmann::json& obj, int64_t line, const std::string& path,
                       const std::string& place, const RowRequirements& req, RowColumns& columns,
                       bool first) {
    if (!obj.is_object()) {
        throw InputError(path, place, "expected a JSON object per record");
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
        return it == obj.end() ? std::string() : as_text(*it, path, place, key);
    };
    RawRow row;
    row.line = line;
    row.func_before = as_text(need("func_before"), path, place, "func_before");
    const nlohmann::json& vul = need("vul");
    if (vul.is_number_integer() || vul.is_number_unsigned()) {
        row.vul = parse_label(vul.dump(), path, place);
    } else if (vul.is_string()) {
        row.vul = parse_label(vul.get<std::string>(), path, place);
    } else {
        throw InputError(path, place, "label `vul` must be 0 or 1, found " + vul.dump());
    }
    row.func_after =
        req.func_after ? as_text(need("func_after"), path, place, "func_after") : opt("func_after");
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
        row.split = as_text(obj.at("split"), path, place, "split");
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
    std::string text;
    while (std::getline(in, text)) {
        ++line;
        if (line == 1 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) {
            text.erase(0, 3);
        }
        const size_t first = text.find_first_not_of(" \t\r");
        if (first == std::string::npos) {
            continue;
        }
        if (count == 0 && text[first] == '[') {
            // One JSON array: the whole file is one document.
            std::string rest = text.substr(first);
            std::string more((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
            rest += '\n';
            rest += more;
            nlohmann::json arr;
            try {
                arr = nlohmann::json::parse(rest);
            } catch (const nlohmann::json::exception& e) {
                throw InputError(path, "", std::string("invalid JSON: ") + e.what());
            }
            for (size_t i = 0; i < arr.size(); ++i) {
                sink(row_from_object(arr[i], static_cast<int64_t>(i + 1), path,
                                     "record " + std::to_string(i + 1), req, columns, i == 0),
                     columns);
                ++count;
            }
            return count;
        }
        const std::string place = std::to_string(line);
        nlohmann::json obj;
        try {
            obj = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            throw InputError(path, place, std::string("invalid JSON: ") + e.what());
        }
        sink(row_from_object(obj, line, path, place, req, columns, count == 0), columns);
        ++count;
    }
    if (in.bad()) {
        throw InputError(path, "", "read error");
    }
    return count;
}

}  // namespace gk::data
