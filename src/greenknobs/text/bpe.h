// Byte-level BPE (the `model` of a HF tokenizer.json of type BPE): merges applied by rank with a
// priority queue over a linked list of symbols, and a thread-safe per-word cache, since source code
// repeats words.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gk::text {

class WordCache;

class Bpe {
  public:
    // vocab: byte-level spelling → id; merges in rank order (rank = index). `file` names the
    // tokenizer.json in errors (a merge naming a token outside the vocab is an InputError at
    // "model.merges[i]").
    Bpe(const std::unordered_map<std::string, int32_t>& vocab,
        const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
        const std::string& file);
    ~Bpe();
    Bpe(Bpe&&) noexcept;
    Bpe& operator=(Bpe&&) noexcept;

    // Appends the ids of one pre-token given as raw bytes s[0..n). Thread-safe.
    void encode_word(const char* s, size_t n, std::vector<int32_t>* out) const;
    // The same without the cache (for tests and benches of the merge loop itself).
    void encode_word_uncached(const char* s, size_t n, std::vector<int32_t>* out) const;

  private:
    struct MergeInfo {
        int32_t rank;
        int32_t new_id;
    };
    static uint64_t pair_key(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
               static_cast<uint32_t>(right);
    }

    std::array<int32_t, 256> byte_id_{};  // id of each single byte's spelling; -1 if absent
    std::unordered_map<uint64_t, MergeInfo> merges_;
    bool ignore_merges_ = false;
    std::unordered_map<std::string, int32_t>
        vocab_;  // kept only when ignore_merges_ (whole-word lookup)
    std::unique_ptr<WordCache> cache_;
};

}  // namespace gk::text
