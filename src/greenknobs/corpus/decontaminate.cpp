// Reference index. Near matching reuses the data module's shingles and Jaccard (the same notion of
// "near" as the dataset's own dedup) with its LSH banding rule; candidates are confirmed by exact
// Jaccard, so a reported near match is never a false positive. Containment is a Rabin-Karp scan of
// the document's normalised text for the first 64 bytes of every reference, confirmed by memcmp.
#include "greenknobs/corpus/decontaminate.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "greenknobs/corpus/c_functions.h"
#include "greenknobs/data/csv.h"
#include "greenknobs/data/dedup.h"
#include "greenknobs/data/split.h"
#include "greenknobs/util/error.h"

namespace gk::corpus {
namespace {

using data::splitmix64;

constexpr uint64_t kRollBase = 0x100000001B3ULL;  // odd: multiplication mod 2^64 is invertible
constexpr size_t kAnchorBitsLog2 = 24;            // 16 Mi bits = 2 MiB prefilter

const char* const kTextColumns[] = {"func_before", "func_after", "text"};

uint64_t pow_mod64(uint64_t base, size_t exp) {
    uint64_t r = 1;
    for (size_t i = 0; i < exp; ++i) {
        r *= base;
    }
    return r;
}

uint64_t roll_hash(const char* p, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; ++i) {
        h = h * kRollBase + static_cast<unsigned char>(p[i]);
    }
    return h;
}

size_t anchor_bit(uint64_t h) {
    return static_cast<size_t>(splitmix64(h) >> (64 - kAnchorBitsLog2));
}

bool is_blank(std::string_view s) {
    return s.find_first_not_of(" \t\r\n\v\f") == std::string_view::npos;
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

ReferenceIndex::ReferenceIndex(double near_threshold, uint64_t seed)
    : threshold_(near_threshold),
      rows_per_band_(data::lsh_rows_per_band(near_threshold, kNumHashes)),
      mul_(kNumHashes),
      add_(kNumHashes),
      anchor_bits_((size_t{1} << kAnchorBitsLog2) / 64, 0) {
    if (!(near_threshold > 0.0 && near_threshold <= 1.0)) {
        throw InputError("near_threshold must be in (0, 1], got " + std::to_string(near_threshold));
    }
    // MinHash family h -> a*h + b (mod 2^64), a odd: one random bijection per signature slot.
    uint64_t state = splitmix64(seed ^ 0x636F727075732D6DULL);
    for (int s = 0; s < kNumHashes; ++s) {
        state = splitmix64(state);
        mul_[static_cast<size_t>(s)] = state | 1;
        state = splitmix64(state);
        add_[static_cast<size_t>(s)] = state;
    }
}

void ReferenceIndex::band_keys(const std::vector<uint64_t>& shingles,
                               std::vector<uint64_t>* keys) const {
    uint64_t sig[kNumHashes];
    std::fill(sig, sig + kNumHashes, std::numeric_limits<uint64_t>::max());
    for (uint64_t h : shingles) {
        for (int s = 0; s < kNumHashes; ++s) {
            const uint64_t v = mul_[static_cast<size_t>(s)] * h + add_[static_cast<size_t>(s)];
            sig[s] = v < sig[s] ? v : sig[s];
        }
    }
    const int bands = kNumHashes / rows_per_band_;
    keys->resize(static_cast<size_t>(bands));
    for (int b = 0; b < bands; ++b) {
        uint64_t h = splitmix64(static_cast<uint64_t>(b) + 1);
        for (int r = 0; r < rows_per_band_; ++r) {
            h = splitmix64(h ^ sig[b * rows_per_band_ + r]);
        }
        (*keys)[static_cast<size_t>(b)] = h;
    }
}

void ReferenceIndex::add_text(std::string_view text, size_t file) {
    GK_CHECK(file < files_.size(), "reference file index out of range");
    if (is_blank(text)) {
        return;
    }
    ReferenceFileStats& fs = files_[file];
    ++fs.texts;
    std::string norm = data::normalize_whitespace(text);
    const uint64_t key = data::stable_hash(norm, /*seed=*/0);
    auto& same = exact_[key];
    for (uint32_t id : same) {
        if (normalized_[id] == norm) {
            refs_[id].files |= 1u << file;
            return;
        }
    }
    ++fs.distinct;
    const auto id = static_cast<uint32_t>(refs_.size());
    same.push_back(id);
    Ref ref;
    ref.shingles = data::shingles(norm);
    ref.files = 1u << file;
    std::vector<uint64_t> keys;
    band_keys(ref.shingles, &keys);
    for (uint64_t k : keys) {
        auto& bucket = bands_[k];
        if (bucket.empty() || bucket.back() != id) {
            bucket.push_back(id);
        }
    }
    if (norm.size() >= kContainmentMinBytes) {
        const uint64_t h = roll_hash(norm.data(), kContainmentMinBytes);
        anchors_[h].push_back(id);
        const size_t bit = anchor_bit(h);
        anchor_bits_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
    refs_.push_back(std::move(ref));
    normalized_.push_back(std::move(norm));
}

void ReferenceIndex::add_file(const std::string& path) {
    if (files_.size() >= kMaxFiles) {
        throw InputError(
            path, "",
            "at most " + std::to_string(kMaxFiles) + " decontamination files are supported");
    }
    files_.push_back(ReferenceFileStats{path, 0, 0, 0});
    const size_t file = files_.size() - 1;
    if (ends_with(path, ".jsonl") || ends_with(path, ".json")) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw InputError(path, "", "cannot open decontamination file");
        }
        std::string line;
        int64_t line_no = 0;
        while (std::getline(in, line)) {
            ++line_no;
            if (is_blank(line)) {
                continue;
            }
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(line);
            } catch (const nlohmann::json::parse_error& e) {
                throw InputError(path, std::to_string(line_no),
                                 std::string("not valid JSON: ") + e.what());
            }
            if (!j.is_object()) {
                throw InputError(path, std::to_string(line_no), "expected a JSON object");
            }
            ++files_[file].rows;
            for (const char* col : kTextColumns) {
                auto it = j.find(col);
                if (it != j.end() && it->is_string()) {
                    add_text(it->get_ref<const std::string&>(), file);
                }
            }
        }
    } else {
        data::CsvReader csv = data::CsvReader::open_file(path);
        std::vector<int> cols;
        for (const char* col : kTextColumns) {
            const int c = csv.column(col);
            if (c >= 0) {
                cols.push_back(c);
            }
        }
        if (cols.empty()) {
            throw InputError(path, "header", "expected a func_before, func_after or text column");
        }
        while (csv.next()) {
            ++files_[file].rows;
            for (int c : cols) {
                add_text(csv.fields()[static_cast<size_t>(c)], file);
            }
        }
    }
    if (files_[file].texts == 0) {
        throw InputError(path, "",
                         "no reference text in it (func_before/func_after/text all empty)");
    }
}

Match ReferenceIndex::match_exact_or_near(std::string_view document,
                                          const std::string& normalized) const {
    auto it = exact_.find(data::stable_hash(normalized, /*seed=*/0));
    if (it != exact_.end()) {
        for (uint32_t id : it->second) {
            if (normalized_[id] == normalized) {
                return Match{MatchKind::kExact, refs_[id].files};
            }
        }
    }
    const std::vector<uint64_t> sh = data::shingles(document);
    std::vector<uint64_t> keys;
    band_keys(sh, &keys);
    std::vector<uint32_t> tried;
    for (uint64_t k : keys) {
        auto b = bands_.find(k);
        if (b == bands_.end()) {
            continue;
        }
        for (uint32_t id : b->second) {
            if (std::find(tried.begin(), tried.end(), id) != tried.end()) {
                continue;
            }
            tried.push_back(id);
            const auto& rs = refs_[id].shingles;
            // Jaccard <= min/max of the set sizes: skip pairs that cannot reach the threshold.
            const double lo = static_cast<double>(std::min(rs.size(), sh.size()));
            const double hi = static_cast<double>(std::max(rs.size(), sh.size()));
            if (lo < threshold_ * hi) {
                continue;
            }
            if (data::jaccard(sh, rs) >= threshold_) {
                return Match{MatchKind::kNear, refs_[id].files};
            }
        }
    }
    return Match{};
}

Match ReferenceIndex::match_contained(const std::string& norm) const {
    constexpr size_t w = kContainmentMinBytes;
    if (norm.size() < w || anchors_.empty()) {
        return Match{};
    }
    static const uint64_t kOut = pow_mod64(kRollBase, w);  // weight of the byte leaving the window
    uint64_t h = roll_hash(norm.data(), w);
    for (size_t p = 0;; ++p) {
        const size_t bit = anchor_bit(h);
        if ((anchor_bits_[bit / 64] >> (bit % 64)) & 1U) {
            auto it = anchors_.find(h);
            if (it != anchors_.end()) {
                for (uint32_t id : it->second) {
                    const std::string& ref = normalized_[id];
                    if (p + ref.size() <= norm.size() &&
                        std::memcmp(norm.data() + p, ref.data(), ref.size()) == 0) {
                        return Match{MatchKind::kContainment, refs_[id].files};
                    }
                }
            }
        }
        if (p + w >= norm.size()) {
            break;
        }
        h = h * kRollBase + static_cast<unsigned char>(norm[p + w]) -
            kOut * static_cast<unsigned char>(norm[p]);
    }
    return Match{};
}

Match ReferenceIndex::match(std::string_view document, bool search_functions) const {
    return match(document, data::normalize_whitespace(document), search_functions);
}

Match ReferenceIndex::match(std::string_view document, const std::string& norm,
                            bool search_functions) const {
    if (refs_.empty()) {
        return Match{};
    }
    Match m = match_exact_or_near(document, norm);
    if (m.kind != MatchKind::kNone) {
        return m;
    }
    m = match_contained(norm);
    if (m.kind != MatchKind::kNone || !search_functions) {
        return m;
    }
    for (const FunctionSpan& f : split_functions(document)) {
        const std::string_view fn = document.substr(f.begin, f.end - f.begin);
        if (fn.size() == document.size()) {
            continue;  // the document is this function: already matched above
        }
        const Match inner = match_exact_or_near(fn, data::normalize_whitespace(fn));
        if (inner.kind != MatchKind::kNone) {
            return Match{MatchKind::kContainment, inner.files};
        }
    }
    return Match{};
}

}  // namespace gk::corpus
