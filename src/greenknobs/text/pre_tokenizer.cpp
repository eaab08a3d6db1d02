// The GPT-2 split as a small hand-written matcher: at each position try the pattern's alternatives
// in order, exactly as a backtracking engine would, and take the first that matches.
#include "greenknobs/text/pre_tokenizer.h"

#include "greenknobs/text/unicode.h"

namespace gk::text {
namespace {

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(int32_t cp) {
    if (unicode::is_letter(cp)) {
        return CharClass::kLetter;
    }
    if (unicode::is_number(cp)) {
        return CharClass::kNumber;
    }
    if (unicode::is_whitespace(cp)) {
        return CharClass::kSpace;
    }
    return CharClass::kOther;
}

// One decoded character: class, code point and byte length. ASCII goes through a table.
struct Char {
    CharClass cls;
    int32_t cp;
    size_t len;
};

struct AsciiTable {
    std::array<CharClass, 128> cls{};
    AsciiTable() {
        for (int32_t c = 0; c < 128; ++c) {
            cls[static_cast<size_t>(c)] = classify(c);
        }
    }
};

Char char_at(const char* s, size_t n, size_t i) {
    static const AsciiTable kAscii;
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        return {kAscii.cls[b], static_cast<int32_t>(b), 1};
    }
    size_t len = 1;
    int32_t cp = unicode::decode(s + i, n - i, &len);
    return {classify(cp), cp, len};
}

// End of the run of characters of class `cls` starting at i (i itself if none).
size_t run_end(const char* s, size_t n, size_t i, CharClass cls) {
    while (i < n) {
        Char c = char_at(s, n, i);
        if (c.cls != cls) {
            break;
        }
        i += c.len;
    }
    return i;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0. Case-sensitive, like the pattern.
size_t contraction_at(const char* s, size_t n, size_t i) {
    if (s[i] != '\'' || i + 1 >= n) {
        return 0;
    }
    char a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        return 2;
    }
    if (i + 2 < n) {
        char b = s[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
            return 3;
        }
    }
    return 0;
}

}  // namespace

void split_gpt2(const char* s, size_t n, std::vector<Span>* out) {
    size_t i = 0;
    while (i < n) {
        // 's|'t|'re|'ve|'m|'ll|'d
        if (size_t len = contraction_at(s, n, i)) {
            out->push_back({i, i + len});
            i += len;
            continue;
        }
        Char c0 = char_at(s, n, i);
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run of one
        // class.
        size_t j = i;
        Char cj = c0;
        if (c0.cp == ' ' && i + 1 < n) {
            j = i + 1;
            cj = char_at(s, n, j);
        }
        if (cj.cls != CharClass::kSpace && (j > i || c0.cls != CharClass::kSpace)) {
            size_t end = run_end(s, n, j, cj.cls);
            out->push_back({i, end});
            i = end;
            continue;
        }
        // Here c0 is whitespace (a lone space followed by whitespace, or another space character).
        // `\s+(?!\S)`: the whole run when it reaches the end; otherwise the engine backtracks one
        // character so the match is followed by whitespace (that last space then prefixes the next
        // word).
        size_t end = run_end(s, n, i, CharClass::kSpace);
        if (end < n) {
            // Start of the run's last character: the run minus it, if non-empty, is the match.
            size_t last = i;
            size_t k = i;
            while (k < end) {
                last = k;
                k += char_at(s, n, k).len;
            }
            if (last > i) {
                end = last;
            }
            // else: a single whitespace character before non-space; `\s+` takes it (end stays i +
            // len).
        }
        out->push_back({i, end});
        i = end;
    }
}

const std::array<int32_t, 256>& byte_to_unicode() {
    static const std::array<int32_t, 256> kTable = [] {
        std::array<int32_t, 256> t{};
        int32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            bool printable =
                (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[static_cast<size_t>(b)] = printable ? b : next++;
        }
        return t;
    }();
    return kTable;
}

std::string byte_level_spelling(const char* s, size_t n) {
    const auto& table = byte_to_unicode();
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        unicode::append_utf8(&out, table[static_cast<unsigned char>(s[i])]);
    }
    return out;
}

}  // namespace gk::text
