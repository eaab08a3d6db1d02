// CSV and JSON Lines → RawRow. Column names are MSR_data_cleaned.csv's; JSON values that are not
// strings (ints for ids, null for missing) are turned into text so both formats give the same rows.
#include "greenknobs/data/rows.h"

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

RowTable read_csv_rows(const std::string& text, const std::string& path,
                       const RowRequirements& req) {
    CsvReader csv(text, path);
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

    RowTable table;
    table.has_split = c_split >= 0;
    table.has_func_after = c_after >= 0;
    table.has_commit_id = c_commit >= 0;
    table.has_cve = c_cve >= 0;
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
        table.rows.push_back(std::move(row));
    }
    return table;
}

namespace {

// A JSON scalar as text: strings as they are, numbers as written, null as empty.
std::string as_text(const nlohmann::json& v, const std::string& path, const std::string& place,
                    const char* key) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_null()) {
        return "";
    }
    if (v.is_number_integer() || v.is_number_unsigned() || v.is_number_float()) {
        return v.dump();
    }
    throw InputError(path, place,
                     std::string("field '") + key + "' must be a string, found " + v.dump());
}

RawRow row_from_object(const nlohmann::json& obj, int64_t line, const std::string& path,
                       const std::string& place, const RowRequirements& req, RowTable& table,
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
    if (req.func_after) {
        row.func_after = as_text(need("func_after"), path, place, "func_after");
    } else {
        row.func_after = opt("func_after");
    }
    row.cwe = opt("CWE ID");
    row.cve = opt("CVE ID");
    row.project = opt("project");
    row.commit_id = opt("commit_id");
    row.file_name = opt("file_name");
    // The split is all-or-nothing: the first record decides whether the file carries one.
    const bool has_split = obj.contains("split");
    if (first) {
        table.has_split = has_split;
        table.has_func_after = obj.contains("func_after");
        table.has_commit_id = obj.contains("commit_id");
        table.has_cve = obj.contains("CVE ID");
    } else if (has_split != table.has_split) {
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

RowTable read_jsonl_rows(const std::string& text, const std::string& path,
                         const RowRequirements& req) {
    RowTable table;
    size_t start = 0;
    if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) {
        start = 3;
    }
    size_t first_char = text.find_first_not_of(" \t\r\n", start);
    if (first_char != std::string::npos && text[first_char] == '[') {
        nlohmann::json arr;
        try {
            arr = nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                                        text.end());
        } catch (const nlohmann::json::exception& e) {
            throw InputError(path, "", std::string("invalid JSON: ") + e.what());
        }
        for (size_t i = 0; i < arr.size(); ++i) {
            table.rows.push_back(row_from_object(arr[i], static_cast<int64_t>(i + 1), path,
                                                 "record " + std::to_string(i + 1), req, table,
                                                 i == 0));
        }
        return table;
    }
    int64_t line = 0;
    size_t pos = start;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        ++line;
        std::string_view s(text.data() + pos, end - pos);
        pos = end + 1;
        if (s.find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        const std::string place = std::to_string(line);
        nlohmann::json obj;
        try {
            obj = nlohmann::json::parse(s.begin(), s.end());
        } catch (const nlohmann::json::exception& e) {
            throw InputError(path, place, std::string("invalid JSON: ") + e.what());
        }
        table.rows.push_back(
            row_from_object(obj, line, path, place, req, table, table.rows.empty()));
    }
    return table;
}

}  // namespace gk::data
