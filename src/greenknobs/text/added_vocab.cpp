// A byte trie is enough for ~100 short patterns; the first-byte table rejects most positions at
// once.
#include "greenknobs/text/added_vocab.h"

#include <algorithm>

#include "greenknobs/text/unicode.h"

namespace gk::text {
namespace {

// Start of the UTF-8 character that ends at s[end) (end > 0).
size_t prev_char_start(const char* s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) {
        --i;
    }
    return i;
}

int32_t char_at(const char* s, size_t n, size_t i) {
    size_t len = 1;
    return unicode::decode(s + i, n - i, &len);
}

// Regex `\w$` on s[0..end).
bool ends_with_word(const char* s, size_t end) {
    return end > 0 && unicode::is_word_char(char_at(s, end, prev_char_start(s, end)));
}

// Regex `^\w` on s[begin..n).
bool starts_with_word(const char* s, size_t n, size_t begin) {
    return begin < n && unicode::is_word_char(char_at(s, n, begin));
}

// Start of the `\s*$` run in s[0..end).
size_t space_leftmost_at_end(const char* s, size_t end) {
    size_t i = end;
    while (i > 0) {
        size_t p = prev_char_start(s, i);
        if (!unicode::is_whitespace(char_at(s, i, p))) {
            break;
        }
        i = p;
    }
    return i;
}

// End of the `^\s*` run in s[begin..n).
size_t space_rightmost_at_start(const char* s, size_t n, size_t begin) {
    size_t i = begin;
    while (i < n) {
        size_t len = 1;
        int32_t cp = unicode::decode(s + i, n - i, &len);
        if (!unicode::is_whitespace(cp)) {
            break;
        }
        i += len;
    }
    return i;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens,
                              const std::vector<std::string>& patterns) {
    nodes_.assign(1, Node{});
    first_byte_.fill(false);
    tokens_ = tokens;
    for (size_t t = 0; t < tokens.size(); ++t) {
        const std::string& pattern = patterns[t];
        if (pattern.empty()) {
            continue;  // HF ignores empty added tokens
        }
        first_byte_[static_cast<unsigned char>(pattern[0])] = true;
        int32_t node = 0;
        for (char ch : pattern) {
            auto c = static_cast<unsigned char>(ch);
            int32_t next = -1;
            for (const auto& [label, child] : nodes_[static_cast<size_t>(node)].children) {
                if (label == c) {
                    next = child;
                    break;
                }
            }
            if (next < 0) {
                next = static_cast<int32_t>(nodes_.size());
                nodes_[static_cast<size_t>(node)].children.emplace_back(c, next);
                nodes_.push_back(Node{});
            }
            node = next;
        }
        // Two tokens with the same pattern: the first listed wins (it is found first).
        if (nodes_[static_cast<size_t>(node)].token < 0) {
            nodes_[static_cast<size_t>(node)].token = static_cast<int32_t>(t);
        }
    }
}

int32_t AddedTokenMatcher::longest_at(const char* s, size_t n, size_t i, size_t* end) const {
    int32_t best = -1;
    int32_t node = 0;
    for (size_t k = i; k < n; ++k) {
        auto c = static_cast<unsigned char>(s[k]);
        int32_t next = -1;
        for (const auto& [label, child] : nodes_[static_cast<size_t>(node)].children) {
            if (label == c) {
                next = child;
                break;
            }
        }
        if (next < 0) {
            break;
        }
        node = next;
        if (nodes_[static_cast<size_t>(node)].token >= 0) {
            best = nodes_[static_cast<size_t>(node)].token;
            *end = k + 1;
        }
    }
    return best;
}

void AddedTokenMatcher::split(const char* s, size_t n, std::vector<AddedSplit>* out) const {
    if (n == 0) {
        return;
    }
    if (tokens_.empty()) {
        out->push_back({0, n, -1});
        return;
    }
    // 1. Non-overlapping leftmost-longest matches (the aho-corasick MatchKind::LeftmostLongest
    // iterator).
    struct Match {
        size_t begin;
        size_t end;
        int32_t token;
    };
    std::vector<Match> matches;
    for (size_t i = 0; i < n;) {
        if (!first_byte_[static_cast<unsigned char>(s[i])]) {
            ++i;
            continue;
        }
        size_t end = 0;
        int32_t t = longest_at(s, n, i, &end);
        if (t < 0) {
            ++i;
            continue;
        }
        matches.push_back({i, end, t});
        i = end;
    }
    // 2. HF's find_matches: apply single_word, lstrip, rstrip to each match in order.
    size_t start_offset = 0;
    for (const Match& m : matches) {
        const AddedToken& tok = tokens_[static_cast<size_t>(m.token)];
        size_t start = m.begin;
        size_t stop = m.end;
        if (tok.single_word) {
            bool start_space = start == 0 || !ends_with_word(s, start);
            bool stop_space = stop == n || !starts_with_word(s, n, stop);
            if (!start_space || !stop_space) {
                continue;
            }
        }
        if (tok.lstrip) {
            // Spaces already taken by the previous match (its rstrip) stay with it.
            start = std::max(space_leftmost_at_end(s, start), start_offset);
        }
        if (tok.rstrip) {
            stop = space_rightmost_at_start(s, n, stop);
        }
        if (start_offset < start) {
            out->push_back({start_offset, start, -1});
        }
        out->push_back({start, stop, tok.id});
        start_offset = stop;
    }
    if (start_offset < n) {
        out->push_back({start_offset, n, -1});
    }
}

}  // namespace gk::text
