// The build loop (one pass, one thread: sources in order, members in archive order), the JSONL
// writer/reader and the stats' JSON form. Each candidate document is dropped by the first rule that
// applies, in this order: size, exact repeat inside the corpus, exact / near / containment match
// with the fine-tuning data; so every count is of distinct reasons and they add up.
#include "greenknobs/corpus/corpus.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_set>

#include <unistd.h>

#include "greenknobs/corpus/archive.h"
#include "greenknobs/corpus/c_functions.h"
#include "greenknobs/corpus/decontaminate.h"
#include "greenknobs/data/dedup.h"
#include "greenknobs/data/split.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::corpus {
namespace {

bool has_extension(const std::string& path, const std::vector<std::string>& exts) {
    for (const std::string& e : exts) {
        if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0) {
            return true;
        }
    }
    return false;
}

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        uint32_t min = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

void validate(const Options& o) {
    if (o.sources.empty()) {
        throw InputError("corpus: no source given (expected at least one tarball or directory)");
    }
    std::set<std::string> names;
    for (const Source& s : o.sources) {
        if (s.name.empty() || s.path.empty()) {
            throw InputError("corpus: a source needs a name and a path (NAME=PATH), got '" +
                             s.name + "=" + s.path + "'");
        }
        if (!names.insert(s.name).second) {
            throw InputError("corpus: source name '" + s.name + "' given twice");
        }
    }
    if (o.granularity != "function" && o.granularity != "file") {
        throw InputError("corpus: granularity must be 'function' or 'file', got '" + o.granularity +
                         "'");
    }
    if (o.extensions.empty()) {
        throw InputError("corpus: no file extensions given");
    }
    if (o.min_doc_bytes > o.max_doc_bytes) {
        throw InputError("corpus: min_doc_bytes " + std::to_string(o.min_doc_bytes) +
                         " exceeds max_doc_bytes " + std::to_string(o.max_doc_bytes));
    }
    if (!(o.sample_fraction > 0.0 && o.sample_fraction <= 1.0)) {
        throw InputError("corpus: sample fraction must be in (0, 1], got " +
                         std::to_string(o.sample_fraction));
    }
    if (!(o.near_threshold > 0.0 && o.near_threshold <= 1.0)) {
        throw InputError("corpus: near threshold must be in (0, 1], got " +
                         std::to_string(o.near_threshold));
    }
}

// A 128-bit fingerprint of a normalised text for the in-corpus exact dedup (two independent 64-bit
// hashes: a false "duplicate" among a million documents has probability ~1e-27).
struct Fingerprint {
    uint64_t a;
    uint64_t b;
    bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
};
struct FingerprintHash {
    size_t operator()(const Fingerprint& f) const { return static_cast<size_t>(f.a); }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<DebianSource> debian_sources() {
    return {
        {"linux-source-6.1",
         {"linux", "/usr/src/linux-source-6.1.tar.xz", "GPL-2.0-only WITH Linux-syscall-note"}},
        {"glibc-source", {"glibc", "/usr/src/glibc/glibc-2.36.tar.xz", "LGPL-2.1-or-later"}},
        {"binutils-source",
         {"binutils", "/usr/src/binutils/binutils-2.40.tar.xz", "GPL-3.0-or-later"}},
        {"gcc-12-source",
         {"gcc", "/usr/src/gcc-12/gcc-12.2.0-dfsg.tar.xz",
          "GPL-3.0-or-later WITH GCC-exception-3.1"}},
    };
}

std::string known_license(const std::string& path) {
    const std::string base = std::filesystem::path(path).filename().string();
    auto starts = [&](const char* p) { return base.rfind(p, 0) == 0; };
    if (starts("linux-source-") || starts("linux-")) {
        return "GPL-2.0-only WITH Linux-syscall-note";
    }
    if (starts("glibc-")) {
        return "LGPL-2.1-or-later";
    }
    if (starts("binutils-")) {
        return "GPL-3.0-or-later";
    }
    if (starts("gcc-")) {
        return "GPL-3.0-or-later WITH GCC-exception-3.1";
    }
    return "";
}

Stats build_streaming(const Options& options, const std::function<void(Document&&)>& sink,
                      const ProgressFn& progress) {
    validate(options);
    const auto t0 = std::chrono::steady_clock::now();
    // Open every source first: a missing tarball fails the build before any work is done.
    std::vector<std::unique_ptr<MemberReader>> readers;
    int64_t input_total = 0;
    for (const Source& s : options.sources) {
        readers.push_back(MemberReader::open(s.path));
        input_total += readers.back()->total_bytes();
    }
    ReferenceIndex index(options.near_threshold);
    for (const std::string& f : options.decontaminate) {
        index.add_file(f);
    }

    Stats st;
    st.granularity = options.granularity;
    st.extensions = options.extensions;
    st.min_doc_bytes = options.min_doc_bytes;
    st.max_doc_bytes = options.max_doc_bytes;
    st.max_total_bytes = options.max_total_bytes;
    st.sample_fraction = options.sample_fraction;
    st.seed = options.seed;
    st.near_threshold = options.near_threshold;
    st.reference_texts = static_cast<int64_t>(index.size());
    for (const ReferenceFileStats& f : index.files()) {
        DecontaminationStats d;
        d.path = f.path;
        d.rows = f.rows;
        d.texts = f.texts;
        d.distinct = f.distinct;
        st.decontamination.push_back(d);
    }
    for (const Source& s : options.sources) {
        SourceStats ss;
        ss.name = s.name;
        ss.path = s.path;
        ss.license = s.license;
        st.sources.push_back(ss);
    }

    const bool file_level = options.granularity == "file";
    std::unordered_set<Fingerprint, FingerprintHash> seen;
    int64_t input_done_before = 0;
    Progress pr;
    pr.sources = options.sources.size();
    pr.input_total_bytes = input_total;

    for (size_t si = 0; si < options.sources.size() && !st.truncated; ++si) {
        const Source& src = options.sources[si];
        SourceStats& ss = st.sources[si];
        MemberReader& reader = *readers[si];
        const auto ts = std::chrono::steady_clock::now();
        pr.source = src.name;
        pr.source_index = si;
        Member m;
        while (!st.truncated && reader.next(&m)) {
            ++ss.members_total;
            if (!has_extension(m.path, options.extensions)) {
                continue;
            }
            ++ss.members_matched;
            if (options.sample_fraction < 1.0) {
                const uint64_t h = data::stable_hash(src.name + '\n' + m.path, options.seed);
                const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
                if (u >= options.sample_fraction) {
                    ++ss.members_sampled_out;
                    continue;
                }
            }
            if (m.size_bytes > static_cast<int64_t>(options.max_member_bytes)) {
                ++ss.skipped_size;
                continue;
            }
            const std::string data = reader.read();
            ++ss.members_read;
            if (data.size() > options.max_member_bytes) {
                ++ss.skipped_size;
                continue;
            }
            if (std::memchr(data.data(), '\0', data.size()) != nullptr) {
                ++ss.skipped_binary;
                continue;
            }
            if (!is_valid_utf8(data)) {
                ++ss.skipped_non_utf8;
                continue;
            }
            std::vector<FunctionSpan> spans;
            if (file_level) {
                spans.push_back(FunctionSpan{0, data.size()});
            } else {
                spans = split_functions(data);
            }
            bool kept_any = false;
            for (const FunctionSpan& span : spans) {
                ++ss.candidates;
                const std::string_view text(data.data() + span.begin, span.end - span.begin);
                if (text.size() < options.min_doc_bytes) {
                    ++ss.docs_too_small;
                    continue;
                }
                if (text.size() > options.max_doc_bytes) {
                    ++ss.docs_too_large;
                    continue;
                }
                const std::string norm = data::normalize_whitespace(text);
                if (options.dedup) {
                    const Fingerprint fp{data::stable_hash(norm, 1), data::stable_hash(norm, 2)};
                    if (!seen.insert(fp).second) {
                        ++ss.docs_duplicate;
                        continue;
                    }
                }
                const Match match = index.match(text, norm, file_level);
                if (match.kind != MatchKind::kNone) {
                    int64_t SourceStats::*src_count = &SourceStats::removed_exact;
                    int64_t DecontaminationStats::*file_count =
                        &DecontaminationStats::removed_exact;
                    int64_t* total = &st.removed_exact;
                    if (match.kind == MatchKind::kNear) {
                        src_count = &SourceStats::removed_near;
                        file_count = &DecontaminationStats::removed_near;
                        total = &st.removed_near;
                    } else if (match.kind == MatchKind::kContainment) {
                        src_count = &SourceStats::removed_containment;
                        file_count = &DecontaminationStats::removed_containment;
                        total = &st.removed_containment;
                    }
                    ++(ss.*src_count);
                    ++*total;
                    for (size_t f = 0; f < st.decontamination.size(); ++f) {
                        if ((match.files >> f) & 1U) {
                            ++(st.decontamination[f].*file_count);
                        }
                    }
                    continue;
                }
                kept_any = true;
                ++ss.documents;
                ss.bytes += static_cast<int64_t>(text.size());
                ++st.documents;
                st.bytes += static_cast<int64_t>(text.size());
                sink(Document{std::string(text), src.name, m.path});
                if (options.max_total_bytes > 0 &&
                    static_cast<uint64_t>(st.bytes) >= options.max_total_bytes) {
                    st.truncated = true;
                    break;
                }
            }
            if (kept_any) {
                ++ss.members_kept;
            }
            if (progress) {
                pr.input_done_bytes = input_done_before + reader.position_bytes();
                pr.documents = st.documents;
                pr.bytes = st.bytes;
                progress(pr);
            }
        }
        input_done_before += reader.total_bytes();
        ss.duration_s = seconds_since(ts);
    }
    st.duration_s = seconds_since(t0);
    if (progress) {
        pr.input_done_bytes = input_total;
        pr.documents = st.documents;
        pr.bytes = st.bytes;
        progress(pr);
    }
    return st;
}

Corpus build(const Options& options, const ProgressFn& progress) {
    Corpus c;
    c.stats = build_streaming(
        options, [&](Document&& d) { c.docs.push_back(std::move(d)); }, progress);
    return c;
}

// ---- JSON ----

nlohmann::json Stats::to_json() const {
    nlohmann::json j;
    j["granularity"] = granularity;
    j["extensions"] = extensions;
    j["min_doc_bytes"] = min_doc_bytes;
    j["max_doc_bytes"] = max_doc_bytes;
    j["max_total_bytes"] = max_total_bytes;
    j["sample_fraction"] = sample_fraction;
    j["seed"] = seed;
    j["near_threshold"] = near_threshold;
    j["reference_texts"] = reference_texts;
    j["documents"] = documents;
    j["bytes"] = bytes;
    j["removed_exact"] = removed_exact;
    j["removed_near"] = removed_near;
    j["removed_containment"] = removed_containment;
    j["truncated"] = truncated;
    j["duration_s"] = duration_s;
    j["sources"] = nlohmann::json::array();
    for (const SourceStats& s : sources) {
        j["sources"].push_back({{"name", s.name},
                                {"path", s.path},
                                {"license", s.license},
                                {"members_total", s.members_total},
                                {"members_matched", s.members_matched},
                                {"members_sampled_out", s.members_sampled_out},
                                {"members_read", s.members_read},
                                {"skipped_size", s.skipped_size},
                                {"skipped_binary", s.skipped_binary},
                                {"skipped_non_utf8", s.skipped_non_utf8},
                                {"members_kept", s.members_kept},
                                {"candidates", s.candidates},
                                {"docs_too_small", s.docs_too_small},
                                {"docs_too_large", s.docs_too_large},
                                {"docs_duplicate", s.docs_duplicate},
                                {"removed_exact", s.removed_exact},
                                {"removed_near", s.removed_near},
                                {"removed_containment", s.removed_containment},
                                {"documents", s.documents},
                                {"bytes", s.bytes},
                                {"duration_s", s.duration_s}});
    }
    j["decontamination"] = nlohmann::json::array();
    for (const DecontaminationStats& d : decontamination) {
        j["decontamination"].push_back({{"path", d.path},
                                        {"rows", d.rows},
                                        {"texts", d.texts},
                                        {"distinct", d.distinct},
                                        {"removed_exact", d.removed_exact},
                                        {"removed_near", d.removed_near},
                                        {"removed_containment", d.removed_containment}});
    }
    return j;
}

Stats Stats::from_json(const nlohmann::json& j) {
    Stats st;
    st.granularity = j.value("granularity", "");
    st.extensions = j.value("extensions", std::vector<std::string>{});
    st.min_doc_bytes = j.value("min_doc_bytes", uint64_t{0});
    st.max_doc_bytes = j.value("max_doc_bytes", uint64_t{0});
    st.max_total_bytes = j.value("max_total_bytes", uint64_t{0});
    st.sample_fraction = j.value("sample_fraction", 1.0);
    st.seed = j.value("seed", uint64_t{0});
    st.near_threshold = j.value("near_threshold", 0.0);
    st.reference_texts = j.value("reference_texts", int64_t{0});
    st.documents = j.value("documents", int64_t{0});
    st.bytes = j.value("bytes", int64_t{0});
    st.removed_exact = j.value("removed_exact", int64_t{0});
    st.removed_near = j.value("removed_near", int64_t{0});
    st.removed_containment = j.value("removed_containment", int64_t{0});
    st.truncated = j.value("truncated", false);
    st.duration_s = j.value("duration_s", 0.0);
    for (const auto& s : j.value("sources", nlohmann::json::array())) {
        SourceStats ss;
        ss.name = s.value("name", "");
        ss.path = s.value("path", "");
        ss.license = s.value("license", "");
        ss.members_total = s.value("members_total", int64_t{0});
        ss.members_matched = s.value("members_matched", int64_t{0});
        ss.members_sampled_out = s.value("members_sampled_out", int64_t{0});
        ss.members_read = s.value("members_read", int64_t{0});
        ss.skipped_size = s.value("skipped_size", int64_t{0});
        ss.skipped_binary = s.value("skipped_binary", int64_t{0});
        ss.skipped_non_utf8 = s.value("skipped_non_utf8", int64_t{0});
        ss.members_kept = s.value("members_kept", int64_t{0});
        ss.candidates = s.value("candidates", int64_t{0});
        ss.docs_too_small = s.value("docs_too_small", int64_t{0});
        ss.docs_too_large = s.value("docs_too_large", int64_t{0});
        ss.docs_duplicate = s.value("docs_duplicate", int64_t{0});
        ss.removed_exact = s.value("removed_exact", int64_t{0});
        ss.removed_near = s.value("removed_near", int64_t{0});
        ss.removed_containment = s.value("removed_containment", int64_t{0});
        ss.documents = s.value("documents", int64_t{0});
        ss.bytes = s.value("bytes", int64_t{0});
        ss.duration_s = s.value("duration_s", 0.0);
        st.sources.push_back(ss);
    }
    for (const auto& d : j.value("decontamination", nlohmann::json::array())) {
        DecontaminationStats ds;
        ds.path = d.value("path", "");
        ds.rows = d.value("rows", int64_t{0});
        ds.texts = d.value("texts", int64_t{0});
        ds.distinct = d.value("distinct", int64_t{0});
        ds.removed_exact = d.value("removed_exact", int64_t{0});
        ds.removed_near = d.value("removed_near", int64_t{0});
        ds.removed_containment = d.value("removed_containment", int64_t{0});
        st.decontamination.push_back(ds);
    }
    return st;
}

// ---- JSONL ----

std::string stats_path_for(const std::string& jsonl_path) {
    const std::string ext = ".jsonl";
    if (jsonl_path.size() > ext.size() &&
        jsonl_path.compare(jsonl_path.size() - ext.size(), ext.size(), ext) == 0) {
        return jsonl_path.substr(0, jsonl_path.size() - ext.size()) + ".stats.json";
    }
    return jsonl_path + ".stats.json";
}

JsonlWriter::JsonlWriter(const std::string& path)
    : path_(path), tmp_(path + ".tmp." + std::to_string(::getpid())) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
        fs::make_dirs(parent.string());
    }
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (file_ == nullptr) {
        throw InputError(path, "", std::string("cannot open for writing: ") + std::strerror(errno));
    }
}

JsonlWriter::~JsonlWriter() {
    if (file_ != nullptr) {
        std::fclose(file_);
        std::remove(tmp_.c_str());
    }
}

void JsonlWriter::write(const Document& doc) {
    GK_CHECK(file_ != nullptr, "JsonlWriter used after close()");
    const nlohmann::json j = {{"text", doc.text}, {"source", doc.source}, {"path", doc.path}};
    // Member paths are not guaranteed UTF-8: replace bad bytes rather than fail the whole corpus.
    buf_ += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    buf_.push_back('\n');
    if (buf_.size() >= (size_t{1} << 20)) {
        if (std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
            throw InputError(path_, "", "write failed");
        }
        buf_.clear();
    }
}

void JsonlWriter::close(const Stats& stats) {
    GK_CHECK(file_ != nullptr, "JsonlWriter closed twice");
    const bool ok = std::fwrite(buf_.data(), 1, buf_.size(), file_) == buf_.size();
    buf_.clear();
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed) {
        std::remove(tmp_.c_str());
        throw InputError(path_, "", "write failed");
    }
    fs::write_file_atomic(stats_path_for(path_), stats.to_json().dump(2) + "\n");
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
        std::remove(tmp_.c_str());
        throw InputError(path_, "", "cannot rename temporary file into place");
    }
}

void write_jsonl(const Corpus& corpus, const std::string& path) {
    JsonlWriter w(path);
    for (const Document& d : corpus.docs) {
        w.write(d);
    }
    w.close(corpus.stats);
}

Corpus read_jsonl(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path, "", "cannot open corpus file");
    }
    Corpus c;
    std::string line;
    int64_t line_no = 0;
    int64_t bytes = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error& e) {
            throw InputError(path, std::to_string(line_no),
                             std::string("not valid JSON: ") + e.what());
        }
        auto text = j.is_object() ? j.find("text") : j.end();
        if (!j.is_object() || text == j.end() || !text->is_string()) {
            throw InputError(path, std::to_string(line_no),
                             "expected an object with a string field \"text\"");
        }
        Document d;
        d.text = text->get<std::string>();
        d.source = j.value("source", "");
        d.path = j.value("path", "");
        bytes += static_cast<int64_t>(d.text.size());
        c.docs.push_back(std::move(d));
    }
    const std::string sp = stats_path_for(path);
    if (fs::exists(sp)) {
        try {
            c.stats = Stats::from_json(nlohmann::json::parse(fs::read_file(sp)));
        } catch (const nlohmann::json::exception& e) {
            throw InputError(sp, "", std::string("not valid corpus stats JSON: ") + e.what());
        }
    } else {
        c.stats.documents = static_cast<int64_t>(c.docs.size());
        c.stats.bytes = bytes;
    }
    return c;
}

}  // namespace gk::corpus
