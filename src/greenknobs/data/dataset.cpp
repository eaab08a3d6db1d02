// load_dataset: read → rows → samples (natural | paired) → split (column or grouped hash) → dedup →
// empty-split check → stratified caps → report. Each step's count lands in DataReport so nothing
// disappears silently.
#include "greenknobs/data/dataset.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <unordered_set>

#include "greenknobs/data/dedup.h"
#include "greenknobs/data/rows.h"
#include "greenknobs/data/sampling.h"
#include "greenknobs/data/split.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/hash.h"

namespace gk::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string resolve_format(const gk::config::DataConfig& cfg) {
    if (cfg.format != gk::config::DataFormat::kAuto) {
        return gk::config::to_string(cfg.format);
    }
    if (ends_with(cfg.path, ".csv")) {
        return "csv";
    }
    if (ends_with(cfg.path, ".jsonl") || ends_with(cfg.path, ".json")) {
        return "jsonl";
    }
    throw InputError(cfg.path, "data.format",
                     "cannot tell the format from the extension (expected .csv, .jsonl or .json); "
                     "set data.format");
}

bool blank(const std::string& s) {
    for (char c : s) {
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') {
            return false;
        }
    }
    return true;
}

std::string fmt_double(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

nlohmann::json stats_json(const SplitStats& s) {
    return {
        {"samples", s.samples},
        {"positives", s.positives},
        {"negatives", s.samples - s.positives},
        {"positive_share",
         s.samples > 0 ? static_cast<double>(s.positives) / static_cast<double>(s.samples) : 0.0}};
}

SplitStats stats_of(const std::vector<Sample>& v) {
    SplitStats s;
    s.samples = static_cast<int64_t>(v.size());
    for (const auto& x : v) {
        s.positives += x.label != 0 ? 1 : 0;
    }
    return s;
}

}  // namespace

nlohmann::json DataReport::to_json() const {
    return {{"path", path},
            {"format", format},
            {"mode", mode},
            {"dedup", dedup},
            {"data_hash", data_hash},
            {"rows_read", rows_read},
            {"samples_built", samples_built},
            {"identical_pairs_dropped", identical_pairs_dropped},
            {"empty_dropped", empty_dropped},
            {"duplicates_removed", duplicates_removed},
            {"conflicting_dropped", conflicting_dropped},
            {"cross_split_removed", cross_split_removed},
            {"near_duplicates_removed", near_duplicates_removed},
            {"removed_by_dedup", removed_by_dedup()},
            {"sampled_out", sampled_out},
            {"split_source", split_source},
            {"groups", groups},
            {"splits",
             {{"train", stats_json(train)},
              {"validation", stats_json(validation)},
              {"test", stats_json(test)}}},
            {"load_duration_s", load_duration_s}};
}

Dataset load_dataset(const gk::config::DataConfig& cfg, uint64_t seed) {
    const auto t0 = std::chrono::steady_clock::now();
    Dataset ds;
    DataReport& rep = ds.report;
    rep.path = cfg.path;
    rep.mode = gk::config::to_string(cfg.mode);
    rep.dedup = gk::config::to_string(cfg.dedup);
    rep.format = resolve_format(cfg);
    const bool paired = cfg.mode == gk::config::DataMode::kPaired;

    RowRequirements req;
    req.func_after = paired;
    RowColumns columns;
    std::vector<Entry> entries;
    std::unordered_set<std::string> groups;
    std::array<int64_t, kSplitCount> rows_in{};
    std::array<int64_t, kSplitCount> built_in{};
    auto add = [&](std::string&& text, int label, const RawRow& row, const std::string& group,
                   Split split) {
        if (blank(text)) {
            ++rep.empty_dropped;
            return;
        }
        Entry e;
        e.sample.text = std::move(text);
        e.sample.label = label;
        e.sample.group = group;
        e.sample.cwe = row.cwe;
        e.sample.project = row.project;
        e.split = split;
        ++built_in[static_cast<size_t>(split)];
        entries.push_back(std::move(e));
    };
    // Rows become samples as they stream in: only the texts a mode keeps are held.
    auto on_row = [&](RawRow&& row, const RowColumns& cols) {
        columns = cols;
        // The split group: a commit (a fix and its vulnerable version, and every function it
        // touched), else the CVE, else the file. Rows without any of these are their own group.
        std::string group;
        if (!row.commit_id.empty()) {
            group = row.commit_id;
        } else if (!row.cve.empty()) {
            group = row.cve;
        } else if (!row.project.empty() || !row.file_name.empty()) {
            group = row.project + "/" + row.file_name;
        } else {
            group = "line:" + std::to_string(row.line);
        }
        Split split = Split::kTrain;
        if (cols.split) {
            auto s = parse_split(row.split);
            if (!s) {
                throw InputError(
                    cfg.path, std::to_string(row.line),
                    "unknown split '" + row.split +
                        "' (expected train, validation or test; also valid, val, dev)");
            }
            split = *s;
        } else {
            split = hash_split(group, seed, cfg.validation_fraction, cfg.test_fraction);
        }
        ++rows_in[static_cast<size_t>(split)];
        groups.insert(group);
        if (!paired) {
            add(std::move(row.func_before), row.vul, row, group, split);
        } else if (row.vul == 1) {
            // A "fix" that changes nothing gives no negative; its positive would be unpaired.
            if (row.func_before == row.func_after) {
                ++rep.identical_pairs_dropped;
                return;
            }
            add(std::move(row.func_before), 1, row, group, split);
            add(std::move(row.func_after), 0, row, group, split);
        } else {
            add(std::move(row.func_before), 0, row, group, split);
        }
    };
    rep.rows_read = rep.format == "csv" ? read_csv_rows(cfg.path, req, on_row)
                                        : read_jsonl_rows(cfg.path, req, on_row);
    if (rep.rows_read == 0) {
        throw InputError(cfg.path, "", "no data rows");
    }
    rep.data_hash = sha256_file_hex(cfg.path);
    const char* group_key = columns.commit_id ? "commit_id"
                            : columns.cve     ? "CVE ID"
                                              : "project+file_name";
    rep.split_source = columns.split ? "column" : std::string("hash:") + group_key;
    rep.groups = static_cast<int64_t>(groups.size());
    rep.samples_built = static_cast<int64_t>(entries.size());

    if (cfg.dedup != gk::config::Dedup::kNone) {
        ExactDedupCounts c = dedup_exact(entries);
        rep.duplicates_removed = c.duplicates_removed;
        rep.cross_split_removed = c.cross_split_removed;
        rep.conflicting_dropped = c.conflicting_dropped;
    }
    if (cfg.dedup == gk::config::Dedup::kNear) {
        NearDedupOptions opt;
        opt.threshold = cfg.near_dup_threshold;
        rep.near_duplicates_removed = dedup_near(entries, opt);
    }

    for (Entry& e : entries) {
        auto& dst = e.split == Split::kTrain        ? ds.train
                    : e.split == Split::kValidation ? ds.validation
                                                    : ds.test;
        dst.push_back(std::move(e.sample));
    }
    entries.clear();

    // An empty split cannot be trained on or evaluated; say which and why. An empty validation
    // split is what validation_fraction = 0 asks for when the split is hashed, so that one is
    // allowed.
    for (int s = 0; s < kSplitCount; ++s) {
        const auto split = static_cast<Split>(s);
        const auto& v = split == Split::kTrain        ? ds.train
                        : split == Split::kValidation ? ds.validation
                                                      : ds.test;
        if (!v.empty()) {
            continue;
        }
        const std::string name = split_name(split);
        if (split == Split::kValidation && !columns.split && cfg.validation_fraction == 0) {
            continue;
        }
        std::string why;
        if (rows_in[static_cast<size_t>(s)] == 0 && columns.split) {
            why = "the file's split column has no " + name + " rows";
        } else if (rows_in[static_cast<size_t>(s)] == 0) {
            const double fraction = split == Split::kTest ? cfg.test_fraction
                                    : split == Split::kValidation
                                        ? cfg.validation_fraction
                                        : 1.0 - cfg.test_fraction - cfg.validation_fraction;
            why = "no group was hashed to it (" + std::to_string(rep.groups) + " groups by " +
                  group_key + ", fraction " + fmt_double(fraction) +
                  "); use more data, a larger fraction or another seed";
        } else if (built_in[static_cast<size_t>(s)] == 0) {
            why = "its " + std::to_string(rows_in[static_cast<size_t>(s)]) +
                  " rows gave no samples (mode " + rep.mode +
                  ": empty texts or vul=1 rows with func_before == func_after)";
        } else {
            why = "all " + std::to_string(built_in[static_cast<size_t>(s)]) +
                  " of its samples were removed by de-duplication (dedup = " + rep.dedup +
                  ": copies kept in another split or texts with both labels)";
        }
        throw InputError(cfg.path, "", "split '" + name + "' is empty: " + why);
    }

    rep.sampled_out += stratified_sample(ds.train, cfg.max_train_samples, seed, /*salt=*/1);
    rep.sampled_out += stratified_sample(ds.validation, cfg.max_eval_samples, seed, /*salt=*/2);
    rep.sampled_out += stratified_sample(ds.test, cfg.max_eval_samples, seed, /*salt=*/3);

    rep.train = stats_of(ds.train);
    rep.validation = stats_of(ds.validation);
    rep.test = stats_of(ds.test);
    rep.load_duration_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return ds;
}

}  // namespace gk::data
