// utf8proc does the Unicode tables and NFC; ASCII, by far the most common case in source code,
// never reaches it.
#include "greenknobs/text/unicode.h"

#include <cstdlib>

#include <utf8proc.h>

#include "greenknobs/util/error.h"

namespace gk::text::unicode {

int32_t decode(const char* s, size_t n, size_t* len) {
    auto b0 = static_cast<unsigned char>(s[0]);
    if (b0 < 0x80) {
        *len = 1;
        return b0;
    }
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t got = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s),
                                            static_cast<utf8proc_ssize_t>(n), &cp);
    if (got <= 0 || cp < 0) {
        *len = 1;
        return 0xFFFD;
    }
    *len = static_cast<size_t>(got);
    return cp;
}

void append_utf8(std::string* out, int32_t cp) {
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
    out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

bool is_ascii(const std::string& s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return false;
        }
    }
    return true;
}

std::string to_valid_utf8(const std::string& s) {
    // First pass: is anything wrong? Almost always not, and then no copy is made.
    size_t i = 0;
    bool valid = true;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t got =
            utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                             static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
        if (got <= 0) {
            valid = false;
            break;
        }
        i += static_cast<size_t>(got);
    }
    if (valid) {
        return s;
    }
    std::string out;
    out.reserve(s.size() + 16);
    i = 0;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            out.push_back(s[i]);
            ++i;
            continue;
        }
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t got =
            utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                             static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
        if (got <= 0) {
            append_utf8(&out, 0xFFFD);
            ++i;
        } else {
            out.append(s, i, static_cast<size_t>(got));
            i += static_cast<size_t>(got);
        }
    }
    return out;
}

std::string nfc(const std::string& s) {
    if (is_ascii(s)) {
        return s;  // ASCII is always in NFC
    }
    utf8proc_uint8_t* dst = nullptr;
    utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                     static_cast<utf8proc_ssize_t>(s.size()), &dst,
                     static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) {
        std::free(dst);
        throw InputError(std::string("text is not valid UTF-8 (") + utf8proc_errmsg(n) + ")");
    }
    std::string out(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
    std::free(dst);
    return out;
}

bool is_letter(int32_t cp) {
    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    }
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
            return true;
        default:
            return false;
    }
}

bool is_number(int32_t cp) {
    if (cp < 0x80) {
        return cp >= '0' && cp <= '9';
    }
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            return true;
        default:
            return false;
    }
}

bool is_whitespace(int32_t cp) {
    if (cp < 0x80) {
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    }
    if (cp == 0x85) {
        return true;
    }
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_ZS:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
            return true;
        default:
            return false;
    }
}

bool is_word_char(int32_t cp) {
    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    }
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return false;
    }
}

}  // namespace gk::text::unicode
