// Unicode helpers for the tokenizer: UTF-8 decoding/encoding, the character classes the GPT-2 split
// regex and HF's added-token rules need (from utf8proc's categories), and NFC. No regex engine
// involved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gk::text::unicode {

// Decodes the code point starting at s[0] (n bytes available); *len gets its byte length. The input
// must be valid UTF-8 (see to_valid_utf8); a stray byte decodes as U+FFFD with *len = 1.
int32_t decode(const char* s, size_t n, size_t* len);
void append_utf8(std::string* out, int32_t cp);

// True when every byte of s is ASCII (NFC and the category tables then have fast paths).
bool is_ascii(const std::string& s);
// Returns s unchanged when it is valid UTF-8; otherwise replaces each invalid byte with U+FFFD
// (what a lossy UTF-8 decode does: Python's errors="replace", Rust's from_utf8_lossy per byte).
std::string to_valid_utf8(const std::string& s);
// Unicode Normalization Form C (utf8proc). s must be valid UTF-8.
std::string nfc(const std::string& s);

// \p{L}: Lu Ll Lt Lm Lo.
bool is_letter(int32_t cp);
// \p{N}: Nd Nl No.
bool is_number(int32_t cp);
// \s as Oniguruma and Rust's regex define it: U+0009..U+000D, U+0085 and the Z* separators
// (the White_Space property).
bool is_whitespace(int32_t cp);
// \w as Rust's regex defines it (Alphabetic ≈ L* + Nl, marks, decimal digits, connector
// punctuation).
bool is_word_char(int32_t cp);

}  // namespace gk::text::unicode
