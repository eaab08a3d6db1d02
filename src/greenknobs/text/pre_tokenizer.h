// The ByteLevel pre-tokenizer of HF tokenizers: the GPT-2 split pattern, hand-written as a matcher
// over Unicode classes (no regex engine), and GPT-2's reversible byte → printable-character table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gk::text {

struct Span {
    size_t begin = 0;  // byte offsets into the split text
    size_t end = 0;
};

// Splits valid UTF-8 s[0..n) exactly as the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does with leftmost-first alternation (Oniguruma, as HF uses it); appends the matches to *out. The
// pattern matches every character, so the spans tile the input.
void split_gpt2(const char* s, size_t n, std::vector<Span>* out);

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards, so every
// byte string has a printable, reversible spelling (' ' → 'Ġ', '\n' → 'Ċ').
const std::array<int32_t, 256>& byte_to_unicode();
// The byte-level spelling of s[0..n) (UTF-8 of each byte's code point).
std::string byte_level_spelling(const char* s, size_t n);

}  // namespace gk::text
