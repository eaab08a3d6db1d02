// De-duplication: exact (after whitespace normalisation) and near (MinHash over token 5-shingles,
// LSH banding, exact Jaccard check). Copies in several splits keep the one in test, else
// validation, else train: evaluation sets never lose rows to train rows, and no text is in two
// splits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "greenknobs/data/dataset.h"
#include "greenknobs/data/split.h"

namespace gk::data {

struct Entry {
    Sample sample;
    Split split = Split::kTrain;
};

// Runs of ASCII whitespace collapse to one space; leading and trailing whitespace is dropped.
std::string normalize_whitespace(std::string_view text);

struct ExactDedupCounts {
    int64_t duplicates_removed = 0;   // copies whose kept twin is in the same split
    int64_t cross_split_removed = 0;  // copies whose kept twin is in another split
    int64_t conflicting_dropped = 0;  // all copies of texts seen with both labels
};

// Removes exact duplicates from `entries` (order of the rest kept). Texts with both labels are
// dropped entirely: neither label can be trusted and keeping one would teach the model a coin flip.
ExactDedupCounts dedup_exact(std::vector<Entry>& entries);

// Token 5-shingles (tokens: runs of [A-Za-z0-9_] or non-ASCII bytes, or any other single non-space
// byte) as a sorted set of 64-bit hashes. A text with fewer than `k` tokens gives one shingle of
// all of them.
std::vector<uint64_t> shingles(std::string_view text, int k = 5);
// |A ∩ B| / |A ∪ B| of two sorted sets (1 for two empty sets).
double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

struct NearDedupOptions {
    double threshold = 0.9;  // Jaccard at or above which two same-label texts are duplicates
    int num_hashes = 128;    // MinHash signature length
    uint64_t seed = 0;
};
// LSH rows per band for `num_hashes` signature values: the largest power of two that still makes a
// pair at the threshold a candidate with probability >= 0.99 (1 - (1 - t^r)^(n/r)).
int lsh_rows_per_band(double threshold, int num_hashes);

// Removes same-label near-duplicates (greedy in split priority, then file order: a text is dropped
// when a kept text of the same label has Jaccard >= threshold). Texts with different labels are
// never merged: paired mode's before/after versions are near-identical by design. Returns the
// number removed.
int64_t dedup_near(std::vector<Entry>& entries, const NearDedupOptions& options);

}  // namespace gk::data
