// Byte-level checks every reader shares: strict UTF-8 validation (with the offset of the first bad
// byte), recognising other encodings by their byte order mark or NUL pattern, and turning any bytes
// into one printable line for error messages and run records. No dependencies.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gk {

// Offset of the first byte that does not belong to well-formed UTF-8 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF, no truncated sequence), or std::string_view::npos.
size_t utf8_invalid_at(std::string_view s);

// What `s` starts with when it is not plain UTF-8 text: "a UTF-16 LE byte order mark",
// "a UTF-32 BE byte order mark", "UTF-16 LE text (NUL every other byte)", ...; "a UTF-8 byte order
// mark" for EF BB BF. Empty when none of these.
std::string foreign_encoding(std::string_view s);

// The bytes as one printable line: valid UTF-8 kept, control characters written as \n \r \t or
// \xNN, bytes that are not UTF-8 as \xNN. Idempotent (its output maps to itself).
std::string printable(std::string_view s);

// Empty when `bytes` is UTF-8 without NUL bytes; else what is wrong and where ("NUL byte at byte
// offset 12 ...", "not valid UTF-8: byte 0xE9 at byte offset 40 (Latin-1 ...)"), offsets counted
// from `offset_base` (the offset of bytes[0] in its file).
std::string utf8_problem(std::string_view bytes, size_t offset_base = 0);

// Throws InputError(file, place, ...) unless `bytes` is UTF-8 without NUL bytes. The message names
// the byte offset (`offset_base` is added: the offset of bytes[0] in the file) and the encoding the
// bytes look like instead (UTF-16 by its mark when offset_base is 0, Latin-1 ...).
void require_utf8_text(std::string_view bytes, const std::string& file, const std::string& place,
                       size_t offset_base = 0);

}  // namespace gk
