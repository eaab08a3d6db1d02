// See text_check.h. The UTF-8 check follows RFC 3629's table of well-formed byte sequences.
#include "greenknobs/util/text_check.h"

#include <cstdio>

#include "greenknobs/util/error.h"

namespace gk {
namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 if there is none.
size_t utf8_sequence_at(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const size_t left = s.size() - i;
    const unsigned char c = b(0);
    if (c < 0x80) {
        return 1;
    }
    auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return k < left && b(k) >= lo && b(k) <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF) {
        return cont(1) ? 2 : 0;
    }
    if (c == 0xE0) {
        return cont(1, 0xA0) && cont(2) ? 3 : 0;
    }
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        return cont(1) && cont(2) ? 3 : 0;
    }
    if (c == 0xED) {  // U+D800..U+DFFF are surrogates, not characters
        return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    }
    if (c == 0xF0) {
        return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    }
    if (c >= 0xF1 && c <= 0xF3) {
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    if (c == 0xF4) {  // nothing above U+10FFFF
        return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

std::string hex_byte(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", c);
    return buf;
}

bool starts_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

}  // namespace

size_t utf8_invalid_at(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        // ASCII runs dominate source code: skip them 8 bytes at a time.
        while (i + 8 <= s.size()) {
            bool ascii = true;
            for (size_t k = 0; k < 8; ++k) {
                ascii = ascii && static_cast<unsigned char>(s[i + k]) < 0x80;
            }
            if (!ascii) {
                break;
            }
            i += 8;
        }
        if (i >= s.size()) {
            break;
        }
        const size_t n = utf8_sequence_at(s, i);
        if (n == 0) {
            return i;
        }
        i += n;
    }
    return std::string_view::npos;
}

std::string foreign_encoding(std::string_view s) {
    // UTF-32 LE's mark begins with UTF-16 LE's: test the longer one first.
    if (starts_with(s, std::string_view("\xFF\xFE\x00\x00", 4))) {
        return "a UTF-32 LE byte order mark";
    }
    if (starts_with(s, std::string_view("\x00\x00\xFE\xFF", 4))) {
        return "a UTF-32 BE byte order mark";
    }
    if (starts_with(s, "\xFF\xFE")) {
        return "a UTF-16 LE byte order mark";
    }
    if (starts_with(s, "\xFE\xFF")) {
        return "a UTF-16 BE byte order mark";
    }
    if (starts_with(s, "\xEF\xBB\xBF")) {
        return "a UTF-8 byte order mark";
    }
    // UTF-16 without a mark: ASCII characters with a NUL beside each.
    if (s.size() >= 4 && s[0] != '\0' && s[1] == '\0' && s[2] != '\0' && s[3] == '\0') {
        return "UTF-16 LE text (a NUL byte after each ASCII character)";
    }
    if (s.size() >= 4 && s[0] == '\0' && s[1] != '\0' && s[2] == '\0' && s[3] != '\0') {
        return "UTF-16 BE text (a NUL byte before each ASCII character)";
    }
    return "";
}

std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x80) {
            out += hex_byte(c);  // other C0 controls and DEL
        } else {
            const size_t n = utf8_sequence_at(s, i);
            // C1 controls (U+0080..U+009F) are UTF-8 but not printable either.
            if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
                out += hex_byte(c) + hex_byte(static_cast<unsigned char>(s[i + 1]));
            } else if (n > 0) {
                out.append(s.substr(i, n));
            } else {
                out += hex_byte(c);
                ++i;
                continue;
            }
            i += n;
            continue;
        }
        ++i;
    }
    return out;
}

std::string utf8_problem(std::string_view bytes, size_t offset_base) {
    const size_t at = utf8_invalid_at(bytes);
    const size_t nul = bytes.find('\0');
    if (at == std::string_view::npos && nul == std::string_view::npos) {
        return "";
    }
    if (nul != std::string_view::npos && (at == std::string_view::npos || nul < at)) {
        return "NUL byte at byte offset " + std::to_string(offset_base + nul) +
               ": expected UTF-8 text (is this a binary file, or UTF-16?)";
    }
    const auto c = static_cast<unsigned char>(bytes[at]);
    char shown[8];
    std::snprintf(shown, sizeof shown, "0x%02X", c);
    std::string what = std::string("not valid UTF-8: byte ") + shown + " at byte offset " +
                       std::to_string(offset_base + at);
    // Latin-1 / Windows-1252 text is what C sources from old projects usually are.
    if (c >= 0xA0) {
        what += " (Latin-1 or Windows-1252 text? convert with iconv -f latin1 -t utf-8)";
    }
    return what;
}

void require_utf8_text(std::string_view bytes, const std::string& file, const std::string& place,
                       size_t offset_base) {
    if (offset_base == 0) {
        const std::string enc = foreign_encoding(bytes);
        if (!enc.empty() && enc != "a UTF-8 byte order mark") {
            throw InputError(file, place,
                             "starts with " + enc +
                                 ": expected UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)");
        }
    }
    const std::string problem = utf8_problem(bytes, offset_base);
    if (!problem.empty()) {
        throw InputError(file, place, problem);
    }
}

}  // namespace gk
