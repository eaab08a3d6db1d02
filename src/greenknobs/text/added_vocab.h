// Added tokens (HF `added_tokens`): found in the text before normalisation/pre-tokenisation by a
// leftmost-longest trie search, then widened or discarded by each token's lstrip/rstrip/single_word
// flags exactly as HF's AddedVocabulary::find_matches does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gk::text {

struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

// One piece of a split: an added token (id >= 0) or plain text to tokenise further (id = -1).
struct AddedSplit {
    size_t begin = 0;
    size_t end = 0;
    int32_t id = -1;
};

// Matches one set of added tokens (HF keeps two: those matched on the raw text, normalized = false,
// and those matched on the normalised text, whose patterns are normalised too).
class AddedTokenMatcher {
  public:
    // patterns[i] is what to search for (the content, normalised for the second set) for tokens[i].
    void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);
    bool empty() const { return tokens_.empty(); }
    // Appends non-empty splits tiling s[0..n) (s is valid UTF-8).
    void split(const char* s, size_t n, std::vector<AddedSplit>* out) const;

  private:
    struct Node {
        std::vector<std::pair<unsigned char, int32_t>> children;
        int32_t token = -1;  // index into tokens_ of the pattern ending here
    };
    // Longest pattern starting at s[i]: its token index and end, or -1.
    int32_t longest_at(const char* s, size_t n, size_t i, size_t* end) const;

    std::vector<Node> nodes_;
    std::array<bool, 256> first_byte_{};  // bytes that start some pattern (a fast reject)
    std::vector<AddedToken> tokens_;
};

}  // namespace gk::text
