// BPE merge loop in the manner of HF's `Word::merge_all`: repeatedly apply the lowest-ranked
// adjacent pair (leftmost on ties), skipping queue entries made stale by earlier merges.
#include "greenknobs/text/bpe.h"

#include <functional>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "greenknobs/text/pre_tokenizer.h"
#include "greenknobs/util/error.h"

namespace gk::text {

// Sharded map word bytes → ids. Readers share a shard lock; a full shard stops taking entries (HF's
// cache does the same) so memory stays bounded on huge corpora.
class WordCache {
  public:
    static constexpr size_t kShards = 64;
    static constexpr size_t kMaxEntriesPerShard = 4096;
    static constexpr size_t kMaxWordBytes = 256;  // longer words are rare and not worth caching

    bool get(const std::string& word, std::vector<int32_t>* out) const {
        const Shard& shard = shards_[shard_of(word)];
        std::shared_lock<std::shared_mutex> lock(shard.mutex);
        auto it = shard.map.find(word);
        if (it == shard.map.end()) {
            return false;
        }
        out->insert(out->end(), it->second.begin(), it->second.end());
        return true;
    }
    void put(const std::string& word, const int32_t* ids, size_t n) {
        Shard& shard = shards_[shard_of(word)];
        std::unique_lock<std::shared_mutex> lock(shard.mutex);
        if (shard.map.size() >= kMaxEntriesPerShard) {
            return;
        }
        shard.map.emplace(word, std::vector<int32_t>(ids, ids + n));
    }

  private:
    struct Shard {
        mutable std::shared_mutex mutex;
        std::unordered_map<std::string, std::vector<int32_t>> map;
    };
    static size_t shard_of(const std::string& word) {
        return std::hash<std::string>{}(word) % kShards;
    }
    std::array<Shard, kShards> shards_;
};

Bpe::Bpe(const std::unordered_map<std::string, int32_t>& vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
         const std::string& file)
    : ignore_merges_(ignore_merges), cache_(std::make_unique<WordCache>()) {
    for (int b = 0; b < 256; ++b) {
        char c = static_cast<char>(b);
        auto it = vocab.find(byte_level_spelling(&c, 1));
        byte_id_[static_cast<size_t>(b)] = it == vocab.end() ? -1 : it->second;
    }
    merges_.reserve(merges.size() * 2);
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [a, b] = merges[rank];
        std::string place = "model.merges[" + std::to_string(rank) + "]";
        auto ia = vocab.find(a);
        auto ib = vocab.find(b);
        auto iab = vocab.find(a + b);
        if (ia == vocab.end() || ib == vocab.end()) {
            throw InputError(file, place,
                             "merge \"" + a + " " + b + "\" names a token not in model.vocab");
        }
        if (iab == vocab.end()) {
            throw InputError(file, place, "merged token \"" + a + b + "\" is not in model.vocab");
        }
        // A pair listed twice keeps its first (lowest) rank, as HF does.
        merges_.emplace(pair_key(ia->second, ib->second),
                        MergeInfo{static_cast<int32_t>(rank), iab->second});
    }
    if (ignore_merges_) {
        vocab_ = vocab;
    }
}

Bpe::~Bpe() = default;
Bpe::Bpe(Bpe&&) noexcept = default;
Bpe& Bpe::operator=(Bpe&&) noexcept = default;

void Bpe::encode_word(const char* s, size_t n, std::vector<int32_t>* out) const {
    if (n == 1) {
        int32_t id = byte_id_[static_cast<unsigned char>(s[0])];
        if (id >= 0) {
            out->push_back(id);
        }
        return;
    }
    if (n > WordCache::kMaxWordBytes) {
        encode_word_uncached(s, n, out);
        return;
    }
    std::string key(s, n);
    if (cache_->get(key, out)) {
        return;
    }
    size_t first = out->size();
    encode_word_uncached(s, n, out);
    cache_->put(key, out->data() + first, out->size() - first);
}

void Bpe::encode_word_uncached(const char* s, size_t n, std::vector<int32_t>* out) const {
    if (ignore_merges_) {
        auto it = vocab_.find(byte_level_spelling(s, n));
        if (it != vocab_.end()) {
            out->push_back(it->second);
            return;
        }
    }
    struct Symbol {
        int32_t id;
        int32_t prev;  // index of the previous live symbol, -1 at the start
        int32_t next;  // index of the next live symbol, -1 at the end
        bool live;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        int32_t id = byte_id_[static_cast<unsigned char>(s[i])];
        if (id < 0) {
            continue;  // no unk token in a byte-level vocab without that byte: HF drops it too
        }
        auto idx = static_cast<int32_t>(symbols.size());
        symbols.push_back({id, idx - 1, -1, true});
        if (idx > 0) {
            symbols[static_cast<size_t>(idx - 1)].next = idx;
        }
    }
    // Candidate merges, lowest rank first and leftmost among equal ranks.
    struct Candidate {
        int32_t rank;
        int32_t pos;  // index of the left symbol
        int32_t new_id;
        bool operator>(const Candidate& o) const {
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    auto push_pair = [&](int32_t left) {
        int32_t right = symbols[static_cast<size_t>(left)].next;
        if (right < 0) {
            return;
        }
        auto it = merges_.find(pair_key(symbols[static_cast<size_t>(left)].id,
                                        symbols[static_cast<size_t>(right)].id));
        if (it != merges_.end()) {
            queue.push({it->second.rank, left, it->second.new_id});
        }
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) {
        push_pair(i);
    }
    while (!queue.empty()) {
        Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[static_cast<size_t>(top.pos)];
        if (!left.live || left.next < 0) {
            continue;
        }
        Symbol& right = symbols[static_cast<size_t>(left.next)];
        // Stale if either side changed since this candidate was queued.
        auto it = merges_.find(pair_key(left.id, right.id));
        if (it == merges_.end() || it->second.new_id != top.new_id) {
            continue;
        }
        left.id = top.new_id;
        right.live = false;
        left.next = right.next;
        if (right.next >= 0) {
            symbols[static_cast<size_t>(right.next)].prev = top.pos;
        }
        if (left.prev >= 0) {
            push_pair(left.prev);
        }
        push_pair(top.pos);
    }
    for (const Symbol& sym : symbols) {
        if (sym.live) {
            out->push_back(sym.id);
        }
    }
}

}  // namespace gk::text
