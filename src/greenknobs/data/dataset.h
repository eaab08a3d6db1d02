// The data stage's public API: a BigVul-layout file (CSV or JSON Lines) → train/validation/test
// samples (natural or paired), de-duplicated, split without leaks, optionally subsampled, with a
// report of every count (what run.json's "data" section is built from). No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/config/run_config.h"

namespace gk::data {

struct Sample {
    std::string text;   // the function's source, as in the file
    int label = 0;      // 1 = vulnerable
    std::string group;  // what the split groups by: commit id, else CVE, else project/file
    std::string cwe;
    std::string project;
};

struct SplitStats {
    int64_t samples = 0;
    int64_t positives = 0;
};

// Counts are disjoint: samples_built = duplicates_removed + conflicting_dropped +
// cross_split_removed
// + near_duplicates_removed + sampled_out + (train + validation + test samples).
struct DataReport {
    std::string path;
    std::string format;  // csv | jsonl (resolved)
    std::string mode;    // natural | paired
    int64_t rows_read = 0;
    int64_t duplicates_removed = 0;   // exact (whitespace-normalised) copies within one split
    int64_t conflicting_dropped = 0;  // every sample of a text seen with both labels
    int64_t near_duplicates_removed =
        0;                            // dedup = near: same-label MinHash/Jaccard near-duplicates
    int64_t cross_split_removed = 0;  // exact copies whose kept twin is in another split
    SplitStats train, validation, test;
    std::string data_hash;  // SHA-256 of the file's bytes
    // Beyond the core fields: how samples were built and split.
    std::string dedup;         // none | exact | near
    std::string split_source;  // "column" or "hash:<group key>" (commit_id | CVE ID | project+file)
    int64_t groups = 0;        // distinct split groups among the built samples
    int64_t samples_built = 0;            // samples after the mode, before dedup
    int64_t identical_pairs_dropped = 0;  // paired: vul=1 rows whose func_before == func_after
    int64_t empty_dropped = 0;            // texts that are empty after whitespace normalisation
    int64_t sampled_out = 0;              // removed by max_train_samples / max_eval_samples
    double load_duration_s = 0;
    nlohmann::json to_json() const;
    // Every sample de-duplication took out (what run.json's data.duplicates_removed reports).
    int64_t removed_by_dedup() const {
        return duplicates_removed + conflicting_dropped + near_duplicates_removed +
               cross_split_removed;
    }
};

struct Dataset {
    std::vector<Sample> train, validation, test;  // each in file order
    DataReport report;
};

// Loads cfg.path (relative to the current directory). `seed` drives the hashed split (when the file
// has no split column) and the subsampling. Throws InputError for bad files (file:line and what)
// and for a split left empty (which split and why).
Dataset load_dataset(const gk::config::DataConfig& cfg, uint64_t seed);

}  // namespace gk::data
