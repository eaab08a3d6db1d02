// A pretraining corpus of real C/C++ source: documents (top-level functions or whole files) read
// straight from source tarballs or directories, filtered (binary, non-UTF-8, size, exact repeats),
// sampled deterministically and decontaminated against the fine-tuning data. Torch-free: the
// pretrain command consumes it as text. Rules and counts: docs/corpus.md.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gk::corpus {

struct Source {
    std::string name;     // short name: "linux", "glibc" ... (in each document's `source`)
    std::string path;     // a tarball (.tar.xz/.tar.gz/.tar.bz2/.tar) or a directory
    std::string license;  // SPDX expression of the source's licence
};

struct Options {
    std::vector<Source> sources;
    std::vector<std::string> extensions{".c", ".cc", ".cpp", ".h"};
    std::string granularity = "function";  // "function" (top-level definitions) or "file"
    std::size_t min_doc_bytes = 64;        // shorter documents are dropped (prototypes, stubs)
    std::size_t max_doc_bytes = 65536;     // longer ones too (generated tables, firmware blobs)
    std::uint64_t max_member_bytes = std::uint64_t{8} << 20;  // members above: not even read
    std::uint64_t max_total_bytes = 0;  // stop once this much text is kept (0 = everything)
    double sample_fraction = 1.0;       // keep a member when hash(seed, source, path) < this
    std::uint64_t seed = 0;
    bool dedup = true;  // drop exact repeats (whitespace-normalised) inside the corpus
    std::vector<std::string> decontaminate;  // CSV/JSONL files in the BigVul layout
    double near_threshold = 0.8;             // MinHash Jaccard for near matches
};

// The four Debian 12 source packages `make corpus` installs, with their upstream tarballs under
// /usr/src and their licences (from /usr/share/doc/<package>/copyright).
struct DebianSource {
    std::string package;
    Source source;
};
std::vector<DebianSource> debian_sources();
// The licence of a source tarball recognised by its file name (linux-source-*, glibc-*,
// binutils-*, gcc-*), else "".
std::string known_license(const std::string& path);

struct Document {
    std::string text;
    std::string source;  // Source::name
    std::string path;    // member path inside the tarball (or relative to the directory)
};

struct SourceStats {
    std::string name;
    std::string path;
    std::string license;
    int64_t members_total = 0;        // regular files in the tarball/directory
    int64_t members_matched = 0;      // of those, with a wanted extension
    int64_t members_sampled_out = 0;  // not drawn by sample_fraction
    int64_t members_read = 0;
    int64_t skipped_size = 0;      // larger than max_member_bytes (never read)
    int64_t skipped_binary = 0;    // contains a NUL byte
    int64_t skipped_non_utf8 = 0;  // not valid UTF-8
    int64_t members_kept = 0;      // gave at least one document
    int64_t candidates = 0;        // functions found (function granularity) or files (file)
    int64_t docs_too_small = 0;
    int64_t docs_too_large = 0;
    int64_t docs_duplicate = 0;       // exact repeat of an earlier document of the corpus
    int64_t removed_exact = 0;        // decontamination: equal to a reference text
    int64_t removed_near = 0;         // MinHash/Jaccard >= near_threshold with one
    int64_t removed_containment = 0;  // contains one
    int64_t documents = 0;
    int64_t bytes = 0;
    double duration_s = 0.0;
};

struct DecontaminationStats {
    std::string path;
    int64_t rows = 0;
    int64_t texts = 0;
    int64_t distinct = 0;
    int64_t removed_exact = 0;  // corpus documents removed because of a text of this file
    int64_t removed_near = 0;
    int64_t removed_containment = 0;
};

struct Stats {
    std::vector<SourceStats> sources;
    std::vector<DecontaminationStats> decontamination;
    std::string granularity;
    std::vector<std::string> extensions;
    uint64_t min_doc_bytes = 0;
    uint64_t max_doc_bytes = 0;
    uint64_t max_total_bytes = 0;
    double sample_fraction = 1.0;
    uint64_t seed = 0;
    double near_threshold = 0.0;
    int64_t reference_texts = 0;  // distinct reference texts in the index
    int64_t documents = 0;
    int64_t bytes = 0;
    int64_t removed_exact = 0;
    int64_t removed_near = 0;
    int64_t removed_containment = 0;
    bool truncated = false;  // stopped at max_total_bytes
    double duration_s = 0.0;

    nlohmann::json to_json() const;
    static Stats from_json(const nlohmann::json& j);
};

struct Corpus {
    std::vector<Document> docs;
    Stats stats;
};

// Where the build is, for a progress bar: input bytes are those of the tarballs on disk.
struct Progress {
    std::string source;
    size_t source_index = 0;
    size_t sources = 0;
    int64_t input_done_bytes = 0;   // over all sources
    int64_t input_total_bytes = 0;  // over all sources
    int64_t documents = 0;
    int64_t bytes = 0;  // text kept
};
using ProgressFn = std::function<void(const Progress&)>;

// Builds the corpus in memory. Same options -> same documents in the same order (sources in the
// given order, members in archive order, functions in file order). InputError for a missing or
// corrupt source, a bad decontamination file, or bad options.
Corpus build(const Options& options, const ProgressFn& progress = {});
// The same, handing each kept document to `sink` instead of keeping it (for corpora larger than
// memory); returns the stats.
Stats build_streaming(const Options& options, const std::function<void(Document&&)>& sink,
                      const ProgressFn& progress = {});

// "<path minus .jsonl>.stats.json": where write_jsonl puts the stats.
std::string stats_path_for(const std::string& jsonl_path);
// {"text","source","path"} per line, written atomically, and the stats beside it.
void write_jsonl(const Corpus& corpus, const std::string& path);
// Reloads a written corpus; stats from the side file when it exists (else only counts).
// InputError naming file:line for a malformed line.
Corpus read_jsonl(const std::string& path);

// Streams a JSONL corpus to `path` as documents arrive (tmp file renamed on close()).
class JsonlWriter {
  public:
    explicit JsonlWriter(const std::string& path);
    ~JsonlWriter();
    JsonlWriter(const JsonlWriter&) = delete;
    JsonlWriter& operator=(const JsonlWriter&) = delete;
    void write(const Document& doc);
    // Renames the file into place and writes the stats beside it.
    void close(const Stats& stats);

  private:
    std::string path_;
    std::string tmp_;
    std::FILE* file_ = nullptr;
    std::string buf_;
};

}  // namespace gk::corpus
