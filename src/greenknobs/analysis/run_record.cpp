// Loading run directories and the paper's reference table. Bad JSON in one run directory is counted
// as a failed run, not fatal: a study with one corrupt record still reports the others.
#include "greenknobs/analysis/run_record.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"

namespace gk::analysis {

namespace fsys = std::filesystem;

std::vector<RunRecord> load_run_dirs(const std::string& dir, int* failed_count) {
    const fsys::path runs_dir = fsys::path(dir) / "runs";
    if (!fsys::is_directory(runs_dir)) {
        throw InputError(dir, "", "no runs/ directory (expected DIR/runs/<run>/run.json)");
    }
    std::vector<fsys::path> run_dirs;
    for (const auto& entry : fsys::directory_iterator(runs_dir)) {
        if (entry.is_directory() && fsys::exists(entry.path() / "run.json")) {
            run_dirs.push_back(entry.path());
        }
    }
    std::sort(run_dirs.begin(), run_dirs.end());
    int failed = 0;
    std::vector<RunRecord> out;
    std::map<std::string, int> next_repeat;
    for (const auto& d : run_dirs) {
        const std::string path = (d / "run.json").string();
        nlohmann::json doc;
        try {
            doc = nlohmann::json::parse(fs::read_file(path));
        } catch (const std::exception& e) {
            log::warn(path + ": unreadable run record, counted as failed: " + e.what());
            ++failed;
            continue;
        }
        if (doc.value("status", "") != "complete") {
            ++failed;
            continue;
        }
        RunRecord r;
        r.variant = doc.value("name", d.filename().string());
        if (doc.contains("repeat") && doc["repeat"].is_number_integer()) {
            r.repeat = doc["repeat"].get<int>();
        } else {
            r.repeat = next_repeat[r.variant];
        }
        next_repeat[r.variant] = std::max(next_repeat[r.variant], r.repeat + 1);
        r.run = std::move(doc);
        out.push_back(std::move(r));
    }
    std::sort(out.begin(), out.end(), [](const RunRecord& a, const RunRecord& b) {
        if (a.variant != b.variant) {
            return variant_id_less(a.variant, b.variant);
        }
        return a.repeat < b.repeat;
    });
    if (failed_count != nullptr) {
        *failed_count = failed;
    }
    return out;
}

double json_number(const nlohmann::json& doc, const std::string& pointer) {
    const nlohmann::json::json_pointer ptr(pointer);
    if (!doc.contains(ptr)) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    const auto& v = doc.at(ptr);
    return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

bool variant_id_less(const std::string& a, const std::string& b) {
    size_t i = 0;
    size_t j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) &&
            std::isdigit(static_cast<unsigned char>(b[j]))) {
            size_t ie = i;
            size_t je = j;
            while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) {
                ++ie;
            }
            while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) {
                ++je;
            }
            const unsigned long long na = std::stoull(a.substr(i, ie - i));
            const unsigned long long nb = std::stoull(b.substr(j, je - j));
            if (na != nb) {
                return na < nb;
            }
            i = ie;
            j = je;
            continue;
        }
        if (a[i] != b[j]) {
            return a[i] < b[j];
        }
        ++i;
        ++j;
    }
    return a.size() - i < b.size() - j;
}

namespace {

// Splits one CSV line; the reference table has no quoted commas except in descriptions, handled
// here.
std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (char c : line) {
        if (c == '"') {
            quoted = !quoted;
        } else if (c == ',' && !quoted) {
            out.push_back(cur);
            cur.clear();
        } else if (c != '\r') {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

}  // namespace

std::vector<PaperRow> load_paper_table(const std::string& csv_path) {
    std::istringstream in(fs::read_file(csv_path));
    std::string line;
    if (!std::getline(in, line)) {
        throw InputError(csv_path, "1", "empty file, expected the paper's Table I header");
    }
    const auto header = split_csv_line(line);
    auto col = [&](const std::string& name) {
        const auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end()) {
            throw InputError(csv_path, "1", "missing column '" + name + "'");
        }
        return static_cast<size_t>(it - header.begin());
    };
    const size_t c_variant = col("variant");
    const size_t c_desc = col("description");
    const size_t c_stages = col("stages");
    const size_t c_total = col("total_kwh");
    const size_t c_dtotal = col("delta_total_pct");
    const size_t c_df1 = col("delta_f1_pct");
    const size_t c_time = col("total_time_s");
    const size_t c_eval = col("eval_time_s");
    const size_t c_deval = col("delta_eval_time_pct");
    std::vector<PaperRow> rows;
    int line_no = 1;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.empty() || line == "\r") {
            continue;
        }
        const auto f = split_csv_line(line);
        if (f.size() != header.size()) {
            throw InputError(csv_path, std::to_string(line_no),
                             "expected " + std::to_string(header.size()) + " fields, got " +
                                 std::to_string(f.size()));
        }
        auto num = [&](size_t c) {
            try {
                return std::stod(f[c]);
            } catch (const std::exception&) {
                throw InputError(csv_path, std::to_string(line_no),
                                 "column '" + header[c] + "': '" + f[c] + "' is not a number");
            }
        };
        PaperRow r;
        r.variant = f[c_variant];
        r.description = f[c_desc];
        r.stages = f[c_stages];
        r.total_kwh = num(c_total);
        r.delta_total_pct = num(c_dtotal);
        r.delta_f1_pct = num(c_df1);
        r.total_time_s = num(c_time);
        r.eval_time_s = num(c_eval);
        r.delta_eval_time_pct = num(c_deval);
        rows.push_back(r);
    }
    return rows;
}

}  // namespace gk::analysis
