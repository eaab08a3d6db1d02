// Exact and near de-duplication. Near: MinHash signatures of 5-shingle sets, cut into bands hashed
// into buckets; only texts sharing a bucket are compared, by exact Jaccard of their shingle sets
// (so no false positives; recall >= 0.99 at the threshold).
#include "greenknobs/data/dedup.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace gk::data {
namespace {

bool is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

// Keeps the entries whose flag is false, in order.
void erase_flagged(std::vector<Entry>& entries, const std::vector<char>& drop) {
    size_t out = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (!drop[i]) {
            if (out != i) {
                entries[out] = std::move(entries[i]);
            }
            ++out;
        }
    }
    entries.resize(out);
}

}  // namespace

std::string normalize_whitespace(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool pending_space = false;
    for (unsigned char c : text) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out.push_back(' ');
            pending_space = false;
        }
        out.push_back(static_cast<char>(c));
    }
    return out;
}

ExactDedupCounts dedup_exact(std::vector<Entry>& entries) {
    struct Group {
        int label_mask = 0;
        size_t kept = 0;  // index of the copy that stays
    };
    std::unordered_map<std::string, size_t> index;
    index.reserve(entries.size() * 2);
    std::vector<Group> groups;
    std::vector<size_t> group_of(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        auto [it, inserted] =
            index.emplace(normalize_whitespace(entries[i].sample.text), groups.size());
        if (inserted) {
            groups.push_back(Group{0, i});
        }
        Group& g = groups[it->second];
        g.label_mask |= 1 << (entries[i].sample.label != 0 ? 1 : 0);
        // Entries come in file order, so only a strictly higher-priority split displaces the kept
        // copy.
        if (entries[i].split < entries[g.kept].split) {
            g.kept = i;
        }
        group_of[i] = it->second;
    }
    ExactDedupCounts counts;
    std::vector<char> drop(entries.size(), 0);
    for (size_t i = 0; i < entries.size(); ++i) {
        const Group& g = groups[group_of[i]];
        if (g.label_mask == 3) {
            drop[i] = 1;
            ++counts.conflicting_dropped;
        } else if (g.kept != i) {
            drop[i] = 1;
            if (entries[g.kept].split == entries[i].split) {
                ++counts.duplicates_removed;
            } else {
                ++counts.cross_split_removed;
            }
        }
    }
    erase_flagged(entries, drop);
    return counts;
}

std::vector<uint64_t> shingles(std::string_view text, int k) {
    std::vector<uint64_t> tokens;
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (is_space(c)) {
            ++i;
            continue;
        }
        size_t j = i + 1;
        if (is_word(c)) {
            while (j < n && is_word(static_cast<unsigned char>(text[j]))) {
                ++j;
            }
        }
        tokens.push_back(stable_hash(text.substr(i, j - i), /*seed=*/0));
        i = j;
    }
    std::vector<uint64_t> out;
    if (tokens.empty()) {
        return out;
    }
    const size_t width = std::min(tokens.size(), static_cast<size_t>(std::max(k, 1)));
    out.reserve(tokens.size() - width + 1);
    for (size_t s = 0; s + width <= tokens.size(); ++s) {
        uint64_t h = 0;
        for (size_t t = 0; t < width; ++t) {
            h = splitmix64(h ^ tokens[s + t]);
        }
        out.push_back(h);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    if (a.empty() && b.empty()) {
        return 1.0;
    }
    size_t i = 0;
    size_t j = 0;
    size_t common = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i] < b[j]) {
            ++i;
        } else if (b[j] < a[i]) {
            ++j;
        } else {
            ++common;
            ++i;
            ++j;
        }
    }
    return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

int lsh_rows_per_band(double threshold, int num_hashes) {
    int best = 1;
    for (int r = 1; r <= num_hashes; r *= 2) {
        if (num_hashes % r != 0) {
            break;
        }
        const double bands = num_hashes / r;
        const double p_candidate = 1.0 - std::pow(1.0 - std::pow(threshold, r), bands);
        if (p_candidate >= 0.99) {
            best = r;
        }
    }
    return best;
}

int64_t dedup_near(std::vector<Entry>& entries, const NearDedupOptions& options) {
    const size_t n = entries.size();
    const int k = options.num_hashes;
    const int rows = lsh_rows_per_band(options.threshold, k);
    const int bands = k / rows;

    // Hash family: h → a·h + b (mod 2^64), a odd, i.e. a random bijection per signature slot over
    // hashes that are already well mixed.
    std::vector<uint64_t> mul(static_cast<size_t>(k));
    std::vector<uint64_t> add(static_cast<size_t>(k));
    uint64_t state = splitmix64(options.seed ^ 0x6E6561722D647570ULL);
    for (int s = 0; s < k; ++s) {
        state = splitmix64(state);
        mul[static_cast<size_t>(s)] = state | 1;
        state = splitmix64(state);
        add[static_cast<size_t>(s)] = state;
    }

    std::vector<std::vector<uint64_t>> sets(n);
    std::vector<uint64_t> sig(n * static_cast<size_t>(k), std::numeric_limits<uint64_t>::max());
    for (size_t i = 0; i < n; ++i) {
        sets[i] = shingles(entries[i].sample.text);
        uint64_t* row = sig.data() + i * static_cast<size_t>(k);
        for (uint64_t h : sets[i]) {
            for (int s = 0; s < k; ++s) {
                const uint64_t v = mul[static_cast<size_t>(s)] * h + add[static_cast<size_t>(s)];
                row[s] = v < row[s] ? v : row[s];
            }
        }
    }

    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return entries[a].split < entries[b].split; });

    std::unordered_map<uint64_t, std::vector<uint32_t>> buckets;
    buckets.reserve(n * static_cast<size_t>(bands));
    std::vector<size_t> seen(n, std::numeric_limits<size_t>::max());
    std::vector<uint64_t> keys(static_cast<size_t>(bands));
    std::vector<char> drop(n, 0);
    int64_t removed = 0;
    for (size_t i : order) {
        const uint64_t* row = sig.data() + i * static_cast<size_t>(k);
        for (int b = 0; b < bands; ++b) {
            uint64_t h = splitmix64(static_cast<uint64_t>(b));
            for (int r = 0; r < rows; ++r) {
                h = splitmix64(h ^ row[b * rows + r]);
            }
            keys[static_cast<size_t>(b)] = h;
        }
        bool duplicate = false;
        for (int b = 0; b < bands && !duplicate; ++b) {
            auto it = buckets.find(keys[static_cast<size_t>(b)]);
            if (it == buckets.end()) {
                continue;
            }
            for (uint32_t j : it->second) {
                if (seen[j] == i) {
                    continue;
                }
                seen[j] = i;
                if (entries[j].sample.label == entries[i].sample.label &&
                    jaccard(sets[i], sets[j]) >= options.threshold) {
                    duplicate = true;
                    break;
                }
            }
        }
        if (duplicate) {
            drop[i] = 1;
            ++removed;
            continue;
        }
        for (int b = 0; b < bands; ++b) {
            buckets[keys[static_cast<size_t>(b)]].push_back(static_cast<uint32_t>(i));
        }
    }
    erase_flagged(entries, drop);
    return removed;
}

}  // namespace gk::data
