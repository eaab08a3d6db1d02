// Two passes over a file. (1) Mask: copy the text with comments, literal contents and preprocessor
// directives blanked, noting each conditional directive (#if/#else/#endif) and where it is. (2)
// Scan the masked copy for braces: a '{' at top level opens a function body when the declaration
// before it (its "head") looks like a function declarator; the matching '}' closes the document.
#include "greenknobs/corpus/c_functions.h"

#include <algorithm>
#include <cctype>

namespace gk::corpus {
namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

bool is_ident_char(unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '$' || c >= 0x80;
}

bool is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

enum class PpKind { kIf, kIfZero, kElse, kEndif, kOther };

struct PpEvent {
    size_t pos = 0;
    PpKind kind = PpKind::kOther;
};

// Blanks [from, to) of `code`, keeping newlines so line structure survives.
void blank(std::string& code, size_t from, size_t to) {
    for (size_t k = from; k < to && k < code.size(); ++k) {
        if (code[k] != '\n') {
            code[k] = ' ';
        }
    }
}

// Backslash-newline (or backslash-CR-LF) at t[j]: the length of the splice, else 0.
size_t splice_at(std::string_view t, size_t j) {
    if (t[j] != '\\' || j + 1 >= t.size()) {
        return 0;
    }
    if (t[j + 1] == '\n') {
        return 2;
    }
    if (t[j + 1] == '\r' && j + 2 < t.size() && t[j + 2] == '\n') {
        return 3;
    }
    return 0;
}

// `//` comment starting at i: returns the position of the newline that ends it (or the end).
size_t line_comment_end(std::string_view t, size_t i) {
    size_t j = i + 2;
    while (j < t.size()) {
        const size_t s = splice_at(t, j);
        if (s > 0) {
            j += s;
        } else if (t[j] == '\n') {
            return j;
        } else {
            ++j;
        }
    }
    return t.size();
}

// `/* */` comment starting at i: returns the position just past it (or the end).
size_t block_comment_end(std::string_view t, size_t i) {
    const size_t close = t.find("*/", i + 2);
    return close == std::string_view::npos ? t.size() : close + 2;
}

// A quoted literal starting at t[i] == quote: returns the position just past the closing quote. An
// unterminated literal ends at the newline (not consumed), so one stray apostrophe in dead code or
// an `#error` message cannot swallow the rest of the file.
size_t quoted_end(std::string_view t, size_t i, char quote) {
    size_t j = i + 1;
    while (j < t.size()) {
        const char c = t[j];
        if (c == '\\') {
            const size_t s = splice_at(t, j);
            j += s > 0 ? s : 2;
        } else if (c == quote) {
            return j + 1;
        } else if (c == '\n') {
            return j;
        } else {
            ++j;
        }
    }
    return t.size();
}

// t[i] == '"': is it the quote of a C++ raw string (R"delim( ... )delim")? Returns the end of the
// literal, or kNone when it is an ordinary string.
size_t raw_string_end(std::string_view t, size_t i) {
    static const char* const kPrefixes[] = {"u8R", "uR", "UR", "LR", "R"};
    bool raw = false;
    for (const char* p : kPrefixes) {
        const size_t len = std::char_traits<char>::length(p);
        if (i >= len && t.substr(i - len, len) == p &&
            (i == len || !is_ident_char(static_cast<unsigned char>(t[i - len - 1])))) {
            raw = true;
            break;
        }
    }
    if (!raw) {
        return kNone;
    }
    size_t j = i + 1;
    while (j < t.size() && j - i <= 17 && t[j] != '(') {
        const char c = t[j];
        if (c == ')' || c == '\\' || is_space(static_cast<unsigned char>(c)) || c == '"') {
            return kNone;
        }
        ++j;
    }
    if (j >= t.size() || t[j] != '(') {
        return kNone;
    }
    std::string close = ")";
    close.append(t.substr(i + 1, j - i - 1));
    close.push_back('"');
    const size_t at = t.find(close, j + 1);
    return at == std::string_view::npos ? t.size() : at + close.size();
}

// t[i] == '\'': a C++14 digit separator (1'000'000) rather than a character literal?
bool is_digit_separator(std::string_view t, size_t i) {
    size_t s = i;
    while (s > 0) {
        const auto c = static_cast<unsigned char>(t[s - 1]);
        if (std::isalnum(c) != 0 || c == '_' || c == '.' || c == '\'') {
            --s;
        } else {
            break;
        }
    }
    return s < i && std::isdigit(static_cast<unsigned char>(t[s])) != 0;
}

// A preprocessor directive whose '#' is at t[i]: blanks it in `code` and returns where it ends (the
// newline, not consumed). Comments and literals inside it are skipped, splices continue it.
size_t directive(std::string_view t, size_t i, std::string& code, std::vector<PpEvent>& events) {
    size_t j = i + 1;
    while (j < t.size() && (t[j] == ' ' || t[j] == '\t')) {
        ++j;
    }
    const size_t name_begin = j;
    while (j < t.size() && is_ident_char(static_cast<unsigned char>(t[j]))) {
        ++j;
    }
    const std::string_view name = t.substr(name_begin, j - name_begin);
    std::string condition;  // the directive's text without comments, for `#if 0`
    size_t end = t.size();
    while (j < t.size()) {
        const size_t s = splice_at(t, j);
        const char c = t[j];
        if (s > 0) {
            j += s;
        } else if (c == '\n') {
            end = j;
            break;
        } else if (c == '/' && j + 1 < t.size() && t[j + 1] == '*') {
            j = block_comment_end(t, j);
            condition.push_back(' ');
        } else if (c == '/' && j + 1 < t.size() && t[j + 1] == '/') {
            j = line_comment_end(t, j);
        } else if (c == '"' || c == '\'') {
            j = quoted_end(t, j, c);
            condition.push_back('x');
        } else {
            if (condition.size() < 64) {
                condition.push_back(c);
            }
            ++j;
        }
    }
    blank(code, i, end);
    PpKind kind = PpKind::kOther;
    if (name == "if" || name == "ifdef" || name == "ifndef") {
        kind = PpKind::kIf;
        if (name == "if") {
            const size_t a = condition.find_first_not_of(" \t\r");
            const size_t b = condition.find_last_not_of(" \t\r");
            if (a != std::string::npos && condition.substr(a, b - a + 1) == "0") {
                kind = PpKind::kIfZero;
            }
        }
    } else if (name == "else" || name == "elif" || name == "elifdef" || name == "elifndef") {
        kind = PpKind::kElse;
    } else if (name == "endif") {
        kind = PpKind::kEndif;
    }
    if (kind != PpKind::kOther) {
        events.push_back(PpEvent{i, kind});
    }
    return end;
}

std::string mask(std::string_view t, std::vector<PpEvent>* events) {
    std::string code(t);
    std::vector<PpEvent> local;
    std::vector<PpEvent>& ev = events != nullptr ? *events : local;
    bool line_blank = true;  // only whitespace (or comments) so far on this line
    size_t i = 0;
    while (i < t.size()) {
        const char c = t[i];
        const char next = i + 1 < t.size() ? t[i + 1] : '\0';
        if (c == '\n') {
            line_blank = true;
            ++i;
        } else if (is_space(static_cast<unsigned char>(c))) {
            ++i;
        } else if (splice_at(t, i) > 0) {
            i += splice_at(t, i);
        } else if (c == '/' && next == '/') {
            const size_t end = line_comment_end(t, i);
            blank(code, i, end);
            i = end;
        } else if (c == '/' && next == '*') {
            const size_t end = block_comment_end(t, i);
            blank(code, i, end);
            i = end;
        } else if (c == '#' && line_blank) {
            i = directive(t, i, code, ev);
        } else if (c == '"') {
            size_t end = raw_string_end(t, i);
            if (end == kNone) {
                end = quoted_end(t, i, '"');
            }
            // Keep both quotes (the scanner sees a string token), blank what is between them.
            const bool closed = end > i + 1 && t[end - 1] == '"';
            blank(code, i + 1, closed ? end - 1 : end);
            line_blank = false;
            i = end;
        } else if (c == '\'' && !is_digit_separator(t, i)) {
            const size_t end = quoted_end(t, i, '\'');
            const bool closed = end > i + 1 && t[end - 1] == '\'';
            blank(code, i + 1, closed ? end - 1 : end);
            line_blank = false;
            i = end;
        } else {
            line_blank = false;
            ++i;
        }
    }
    return code;
}

// ---- Pass 2: the brace scanner over masked code ----

enum class TokKind { kIdent, kNumber, kString, kPunct };

struct Tok {
    TokKind kind;
    size_t b;
    size_t e;
    int depth;  // parenthesis depth before the token
};

// Tokens of masked code [from, to): identifiers, numbers, literals (already blanked), one-character
// punctuators.
std::vector<Tok> tokenize(std::string_view m, size_t from, size_t to) {
    std::vector<Tok> out;
    int depth = 0;
    size_t i = from;
    while (i < to) {
        const auto c = static_cast<unsigned char>(m[i]);
        if (is_space(c)) {
            ++i;
            continue;
        }
        size_t j = i + 1;
        TokKind kind = TokKind::kPunct;
        if (std::isdigit(c) != 0) {
            kind = TokKind::kNumber;
            while (j < to && (is_ident_char(static_cast<unsigned char>(m[j])) || m[j] == '.' ||
                              m[j] == '\'')) {
                ++j;
            }
        } else if (is_ident_char(c)) {
            kind = TokKind::kIdent;
            while (j < to && is_ident_char(static_cast<unsigned char>(m[j]))) {
                ++j;
            }
        } else if (c == '"' || c == '\'') {
            kind = TokKind::kString;
            while (j < to && m[j] != static_cast<char>(c)) {
                ++j;
            }
            j = std::min(to, j + 1);
        }
        if (c == ')') {
            depth = std::max(0, depth - 1);
        }
        out.push_back(Tok{kind, i, j, depth});
        if (c == '(') {
            ++depth;
        }
        i = j;
    }
    return out;
}

bool tok_is(std::string_view m, const Tok& t, std::string_view text) {
    return m.substr(t.b, t.e - t.b) == text;
}

bool is_attribute_word(std::string_view w) {
    return w == "__attribute__" || w == "__attribute" || w == "__declspec" || w == "alignas" ||
           w == "_Alignas" || w == "__asm__" || w == "__asm" || w == "asm" || w == "noexcept" ||
           w == "throw" || w == "__aligned";
}

// Is the '=' token at index k an assignment ('=' alone, not part of ==, !=, <=, >=, and not the
// name of an operator function)?
bool is_assignment(std::string_view m, const std::vector<Tok>& toks, size_t k) {
    const size_t p = toks[k].b;
    if (p + 1 < m.size() && m[p + 1] == '=') {
        return false;
    }
    if (p > 0 && (m[p - 1] == '=' || m[p - 1] == '!' || m[p - 1] == '<' || m[p - 1] == '>')) {
        return false;
    }
    for (size_t back = 1; back <= 3 && back <= k; ++back) {
        if (toks[k - back].kind == TokKind::kIdent && tok_is(m, toks[k - back], "operator")) {
            return false;
        }
    }
    return true;
}

enum class BlockKind { kTransparent, kFunction, kOther };

// Where a function whose head is `toks` really starts. glibc writes macro invocations without a
// ';' (`weak_alias (a, b)`, `libc_hidden_def (f)`) on the lines before a definition; the scanner
// cannot tell them from the head, so they are cut off here: each leading `name (...)` that ends
// its line (and is not an attribute) is dropped when what follows it has at least a return type and
// a name before its first parenthesis.
size_t function_begin(std::string_view m, const std::vector<Tok>& toks) {
    const size_t n = toks.size();
    size_t begin = toks.front().b;
    size_t k = 0;  // start of the next invocation
    while (k < n && toks[k].kind == TokKind::kIdent &&
           !is_attribute_word(m.substr(toks[k].b, toks[k].e - toks[k].b))) {
        size_t open = k + 1;
        while (open < n && toks[open].kind == TokKind::kIdent) {
            ++open;  // `static DEFINE_X (...)`: words before the parenthesis
        }
        if (open >= n || m[toks[open].b] != '(' || toks[open].depth != 0) {
            break;
        }
        size_t close = open + 1;
        while (close < n && !(toks[close].depth == 0 && m[toks[close].b] == ')')) {
            ++close;
        }
        const size_t next = close + 1;
        if (next >= n || m.substr(toks[close].e, toks[next].b - toks[close].e).find('\n') ==
                             std::string_view::npos) {
            break;
        }
        // The rest must still look like `type name (`: two or more tokens before its first '(',
        // the last of them a name.
        size_t paren = next;
        while (paren < n && !(toks[paren].kind == TokKind::kPunct && m[toks[paren].b] == '(')) {
            ++paren;
        }
        if (paren < n && paren - next >= 2 && toks[paren - 1].kind == TokKind::kIdent &&
            !is_attribute_word(
                m.substr(toks[paren - 1].b, toks[paren - 1].e - toks[paren - 1].b))) {
            begin = toks[next].b;
        }
        k = next;  // another invocation may follow
    }
    return begin;
}

struct HeadClass {
    BlockKind kind = BlockKind::kOther;
    size_t begin = kNone;  // kFunction: where the document starts
};

// What the declaration m[h0, brace) before a top-level '{' makes of the block.
HeadClass classify_head(std::string_view m, size_t h0, size_t brace) {
    const std::vector<Tok> toks = tokenize(m, h0, brace);
    if (toks.empty()) {
        return HeadClass{BlockKind::kOther, kNone};
    }
    const Tok& first = toks.front();
    const bool has_paren = std::any_of(toks.begin(), toks.end(), [&](const Tok& t) {
        return t.kind == TokKind::kPunct && m[t.b] == '(';
    });
    if (first.kind == TokKind::kIdent) {
        if (!has_paren &&
            (tok_is(m, first, "namespace") ||
             (tok_is(m, first, "inline") && toks.size() > 1 && tok_is(m, toks[1], "namespace")))) {
            return HeadClass{BlockKind::kTransparent, kNone};
        }
        if (tok_is(m, first, "extern") && toks.size() == 2 && toks[1].kind == TokKind::kString) {
            return HeadClass{BlockKind::kTransparent, kNone};
        }
        if (tok_is(m, first, "typedef")) {
            return HeadClass{BlockKind::kOther, kNone};
        }
    }
    // An initialiser (`... = {`) is data, whatever parentheses it has.
    for (size_t k = 0; k < toks.size(); ++k) {
        if (toks[k].depth == 0 && toks[k].kind == TokKind::kPunct && m[toks[k].b] == '=' &&
            is_assignment(m, toks, k)) {
            return HeadClass{BlockKind::kOther, kNone};
        }
    }
    // Top-level parenthesis groups: [open, close] token indices.
    std::vector<std::pair<size_t, size_t>> groups;
    for (size_t k = 0; k < toks.size(); ++k) {
        if (toks[k].kind != TokKind::kPunct || toks[k].depth != 0 || m[toks[k].b] != '(') {
            continue;
        }
        size_t close = k + 1;
        while (close < toks.size() && !(toks[close].depth == 0 && m[toks[close].b] == ')')) {
            ++close;
        }
        if (close >= toks.size()) {
            return HeadClass{BlockKind::kOther,
                             kNone};  // unclosed '(' (cannot happen: the scanner checks depth)
        }
        groups.emplace_back(k, close);
        k = close;
    }
    // The parameter list: the first group that is not an attribute's argument list.
    size_t params = kNone;
    for (size_t g = 0; g < groups.size(); ++g) {
        const size_t open = groups[g].first;
        if (open == 0) {
            continue;
        }
        const Tok& before = toks[open - 1];
        if (before.kind == TokKind::kIdent &&
            !is_attribute_word(m.substr(before.b, before.e - before.b))) {
            params = g;
            break;
        }
        if (before.kind == TokKind::kPunct &&
            (m[before.b] == ')' || m[before.b] == '>' || m[before.b] == ']')) {
            params = g;
            break;
        }
        bool operator_name = false;  // operator=, operator<<, operator[] ...
        for (size_t back = 1; back <= 3 && back <= open; ++back) {
            operator_name = operator_name || (toks[open - back].kind == TokKind::kIdent &&
                                              tok_is(m, toks[open - back], "operator"));
        }
        if (operator_name) {
            params = g;
            break;
        }
    }
    if (params == kNone) {
        return HeadClass{BlockKind::kOther,
                         kNone};  // a struct/enum/class body, an aggregate, a stray block
    }
    // Constructor initialiser list (`Foo::Foo(int a) : a_{a} {`): a '{' right after a member name
    // is that member's braced initialiser, not the body.
    size_t after = groups[params].second + 1;
    while (after < toks.size() && toks[after].kind == TokKind::kIdent) {
        ++after;  // const, noexcept, override ...
    }
    if (after < toks.size() && toks[after].kind == TokKind::kPunct && m[toks[after].b] == ':' &&
        (after + 1 >= toks.size() || m[toks[after + 1].b] != ':') &&
        (toks[after].b == 0 || m[toks[after].b - 1] != ':')) {
        const Tok& last = toks.back();
        if (last.kind == TokKind::kIdent || (last.kind == TokKind::kPunct && m[last.b] == '>')) {
            return HeadClass{BlockKind::kOther, kNone};
        }
        return HeadClass{BlockKind::kFunction, function_begin(m, toks)};
    }
    // What follows the last group must be qualifiers, attributes or a trailing return type.
    for (size_t k = groups.back().second + 1; k < toks.size(); ++k) {
        const Tok& t = toks[k];
        if (t.kind == TokKind::kIdent) {
            const std::string_view w = m.substr(t.b, t.e - t.b);
            if (w == "struct" || w == "union" || w == "enum" || w == "class" || w == "typedef") {
                return HeadClass{BlockKind::kOther, kNone};  // `MACRO(x) enum { ... }`
            }
            continue;
        }
        if (t.kind == TokKind::kNumber) {
            continue;
        }
        if (t.kind == TokKind::kString) {
            return HeadClass{BlockKind::kOther, kNone};
        }
        const char c = m[t.b];
        const bool ok = c == ':' || c == '*' || c == '&' || c == '<' || c == '>' || c == ',' ||
                        c == '[' || c == ']' ||
                        (c == '-' && t.b + 1 < m.size() && m[t.b + 1] == '>');
        if (!ok) {
            return HeadClass{BlockKind::kOther, kNone};
        }
    }
    return HeadClass{BlockKind::kFunction, function_begin(m, toks)};
}

// K&R definition `int f(a, b) int a; char *b; {`: the ';'-terminated segment holding the
// declarator `f(a, b)` followed by the first parameter declaration.
bool is_knr_head(std::string_view m, const std::vector<Tok>& toks) {
    for (size_t k = 1; k < toks.size(); ++k) {
        if (toks[k].kind != TokKind::kPunct || toks[k].depth != 0 || m[toks[k].b] != '(') {
            continue;
        }
        if (toks[k - 1].kind != TokKind::kIdent) {
            return false;
        }
        size_t j = k + 1;
        int idents = 0;
        while (j < toks.size() && !(toks[j].depth == 0 && m[toks[j].b] == ')')) {
            if (toks[j].kind == TokKind::kIdent) {
                ++idents;
            } else if (!(toks[j].kind == TokKind::kPunct && m[toks[j].b] == ',')) {
                return false;
            }
            ++j;
        }
        if (j >= toks.size() || idents == 0 || j + 1 >= toks.size()) {
            return false;
        }
        for (size_t r = j + 1; r < toks.size(); ++r) {
            const Tok& t = toks[r];
            if (t.kind == TokKind::kString || (t.kind == TokKind::kPunct && m[t.b] == '=')) {
                return false;
            }
        }
        return toks[j + 1].kind == TokKind::kIdent;
    }
    return false;
}

bool is_plain_declaration(std::string_view m, const std::vector<Tok>& toks) {
    for (const Tok& t : toks) {
        if (t.kind == TokKind::kString) {
            return false;
        }
        if (t.kind == TokKind::kPunct && (m[t.b] == '=' || m[t.b] == '{' || m[t.b] == '}')) {
            return false;
        }
    }
    return !toks.empty();
}

struct Scope {
    BlockKind kind;
    size_t begin;         // function: where its document starts
    bool reset_on_close;  // a block with no declaration before it: forget the segment after it
};

struct Conditional {
    std::vector<Scope> at_if;
    std::vector<Scope> first_end;
    bool has_else = false;
    bool zero = false;
};

class Scanner {
  public:
    Scanner(std::string_view m, const std::vector<PpEvent>& events) : m_(m), events_(events) {}

    std::vector<FunctionSpan> run(SplitCounts* counts) {
        size_t e = 0;
        for (size_t i = 0; i < m_.size(); ++i) {
            while (e < events_.size() && events_[e].pos <= i) {
                on_directive(events_[e++].kind);
            }
            const char c = m_[i];
            if (c == '{') {
                open(i);
            } else if (c == '}') {
                close(i);
            } else if (opaque_ == 0 && !is_space(static_cast<unsigned char>(c))) {
                top_level_char(i, c);
            }
        }
        counts_.unclosed_at_eof += opaque_ > 0 ? 1 : 0;
        counts_.functions = static_cast<int64_t>(out_.size());
        if (counts != nullptr) {
            *counts = counts_;
        }
        return std::move(out_);
    }

  private:
    void reset_top() {
        seg_start_ = kNone;
        segments_.clear();
        paren_ = 0;
    }

    void top_level_char(size_t i, char c) {
        if (c == ';' && paren_ == 0) {
            if (seg_start_ != kNone) {
                segments_.emplace_back(seg_start_, i);
                if (segments_.size() > 64) {
                    segments_.erase(segments_.begin(), segments_.begin() + 32);
                }
            }
            seg_start_ = kNone;
            return;
        }
        if (seg_start_ == kNone) {
            seg_start_ = i;
        }
        if (c == '(') {
            ++paren_;
        } else if (c == ')') {
            paren_ = std::max(0, paren_ - 1);
        }
    }

    void push(BlockKind kind, size_t begin, bool reset) {
        stack_.push_back(Scope{kind, begin, reset});
        if (kind != BlockKind::kTransparent) {
            ++opaque_;
        }
    }

    void open(size_t i) {
        if (opaque_ > 0 || paren_ > 0) {
            // Nested block, or braces inside a top-level parenthesis (a macro argument).
            if (opaque_ == 0 && seg_start_ == kNone) {
                seg_start_ = i;
            }
            push(BlockKind::kOther, kNone, false);
            return;
        }
        if (seg_start_ == kNone) {
            open_after_empty_head(i);
            return;
        }
        const HeadClass head = classify_head(m_, seg_start_, i);
        if (head.kind == BlockKind::kTransparent) {
            push(head.kind, kNone, false);
            reset_top();
        } else if (head.kind == BlockKind::kFunction) {
            push(head.kind, head.begin, false);
            reset_top();
        } else {
            push(head.kind, kNone, false);  // the declaration goes on to its ';'
        }
    }

    // '{' straight after a ';' (or at the start): a K&R definition, or a stray block.
    void open_after_empty_head(size_t i) {
        const size_t oldest = segments_.size() > 32 ? segments_.size() - 32 : 0;
        for (size_t s = segments_.size(); s > oldest; --s) {
            const auto [b, e] = segments_[s - 1];
            const std::vector<Tok> toks = tokenize(m_, b, e);
            if (is_knr_head(m_, toks)) {
                push(BlockKind::kFunction, b, false);
                reset_top();
                return;
            }
            if (!is_plain_declaration(m_, toks)) {
                break;
            }
        }
        push(BlockKind::kOther, kNone, true);
        (void)i;
    }

    void close(size_t i) {
        if (stack_.empty()) {
            ++counts_.unbalanced_closes;
            reset_top();
            return;
        }
        const Scope top = stack_.back();
        stack_.pop_back();
        if (top.kind == BlockKind::kTransparent) {
            reset_top();
            return;
        }
        --opaque_;
        if (opaque_ > 0) {
            return;
        }
        if (top.kind == BlockKind::kFunction) {
            if (out_.empty() || top.begin >= out_.back().end) {
                out_.push_back(FunctionSpan{top.begin, i + 1});
            }
            reset_top();
        } else if (top.reset_on_close) {
            reset_top();
        }
    }

    void set_stack(const std::vector<Scope>& s) {
        stack_ = s;
        opaque_ = 0;
        for (const Scope& sc : stack_) {
            opaque_ += sc.kind != BlockKind::kTransparent ? 1 : 0;
        }
    }

    void on_directive(PpKind kind) {
        switch (kind) {
            case PpKind::kIf:
            case PpKind::kIfZero:
                conds_.push_back(Conditional{stack_, {}, false, kind == PpKind::kIfZero});
                break;
            case PpKind::kElse:
                if (!conds_.empty()) {
                    Conditional& c = conds_.back();
                    if (!c.has_else) {
                        c.has_else = true;
                        c.first_end = stack_;
                    }
                    set_stack(c.at_if);
                }
                break;
            case PpKind::kEndif:
                if (!conds_.empty()) {
                    Conditional c = std::move(conds_.back());
                    conds_.pop_back();
                    if (c.zero && !c.has_else) {
                        set_stack(c.at_if);  // the dead branch leaves no trace
                    } else if (c.has_else && !c.zero) {
                        set_stack(c.first_end);
                    }
                    // `#if 0 ... #else ...`: the live else branch's nesting stands.
                }
                break;
            case PpKind::kOther:
                break;
        }
    }

    std::string_view m_;
    const std::vector<PpEvent>& events_;
    std::vector<Scope> stack_;
    int opaque_ = 0;  // scopes on the stack that are not namespace/extern "C"
    std::vector<Conditional> conds_;
    size_t seg_start_ = kNone;
    std::vector<std::pair<size_t, size_t>> segments_;
    int paren_ = 0;
    SplitCounts counts_;
    std::vector<FunctionSpan> out_;
};

}  // namespace

std::string mask_c_source(std::string_view text) { return mask(text, nullptr); }

std::vector<FunctionSpan> split_functions(std::string_view text, SplitCounts* counts) {
    std::vector<PpEvent> events;
    const std::string masked = mask(text, &events);
    Scanner scanner(masked, events);
    return scanner.run(counts);
}

}  // namespace gk::corpus
