// Decontamination: an index of the fine-tuning texts (every func_before/func_after/text field of
// the given files) that tells whether a corpus document repeats one of them: exactly (after
// whitespace normalisation), nearly (Jaccard of token 5-shingles >= a threshold, found through
// MinHash LSH and confirmed exactly), or by containing one (a reference's normalised text inside
// the document's, or, when asked, a function of the document that matches exactly or nearly).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gk::corpus {

enum class MatchKind { kNone, kExact, kNear, kContainment };

struct Match {
    MatchKind kind = MatchKind::kNone;
    uint32_t files = 0;  // bit f set: the matched reference text is in reference file f
};

struct ReferenceFileStats {
    std::string path;
    int64_t rows = 0;      // records read
    int64_t texts = 0;     // non-blank reference fields in them
    int64_t distinct = 0;  // of those, texts no earlier field (of any file) had
};

class ReferenceIndex {
  public:
    // Normalised references shorter than this are matched exactly and nearly, but not searched for
    // inside documents (a 30-byte one-liner inside a file is not a leak of the fine-tuning set).
    static constexpr size_t kContainmentMinBytes = 64;
    static constexpr int kNumHashes = 128;
    static constexpr size_t kMaxFiles = 32;

    explicit ReferenceIndex(double near_threshold, uint64_t seed = 0);

    // Loads every func_before, func_after and text field of a CSV (RFC 4180, header row) or JSON
    // Lines (.jsonl/.json) file. InputError if it cannot be read, is malformed, or has none of
    // those columns.
    void add_file(const std::string& path);
    // One reference text attributed to file `file` (an index into files()).
    void add_text(std::string_view text, size_t file);

    // Exact, else near, else containment. `search_functions`: also split the document into
    // functions and match each one exactly or nearly (for file-level documents).
    Match match(std::string_view document, bool search_functions) const;
    // The same with the document's normalize_whitespace() already at hand.
    Match match(std::string_view document, const std::string& normalized,
                bool search_functions) const;

    const std::vector<ReferenceFileStats>& files() const { return files_; }
    size_t size() const { return refs_.size(); }
    double near_threshold() const { return threshold_; }

  private:
    struct Ref {
        std::vector<uint64_t> shingles;
        uint32_t files = 0;
    };
    void band_keys(const std::vector<uint64_t>& shingles, std::vector<uint64_t>* keys) const;
    Match match_exact_or_near(std::string_view document, const std::string& normalized) const;
    Match match_contained(const std::string& normalized) const;

    double threshold_;
    int rows_per_band_;
    std::vector<uint64_t> mul_;
    std::vector<uint64_t> add_;
    std::vector<ReferenceFileStats> files_;
    std::vector<Ref> refs_;
    std::vector<std::string> normalized_;                        // per ref
    std::unordered_map<uint64_t, std::vector<uint32_t>> exact_;  // hash of the normalised text
    std::unordered_map<uint64_t, std::vector<uint32_t>> bands_;
    std::unordered_map<uint64_t, std::vector<uint32_t>> anchors_;  // hash of the first 64 bytes
    std::vector<uint64_t> anchor_bits_;  // Bloom-style prefilter over anchor hashes
};

}  // namespace gk::corpus
