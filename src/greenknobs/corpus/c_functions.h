// Top-level C/C++ function definitions found in one source file by a brace scanner, not a parser:
// comments, string/char literals (raw strings, digit separators) and preprocessor lines are masked
// first, so braces inside them never count. What is kept and dropped is listed in docs/corpus.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gk::corpus {

// A function definition as bytes [begin, end) of the file: from the first token of its declaration
// (comments and preprocessor lines before it excluded) through its closing '}'.
struct FunctionSpan {
    size_t begin = 0;
    size_t end = 0;
};

struct SplitCounts {
    int64_t functions = 0;
    int64_t unbalanced_closes = 0;  // '}' with nothing open (reset to top level)
    int64_t unclosed_at_eof =
        0;  // a block still open at the end of the file (its function dropped)
};

// The file's text with every comment, every string/char literal's contents and every preprocessor
// directive replaced by spaces (newlines kept), so offsets are the same as in `text`.
std::string mask_c_source(std::string_view text);

// Finds the top-level function definitions of a C or C++ file, in file order, never overlapping.
// Functions inside `namespace` and `extern "C"` blocks are top level; member functions defined
// inside a class body are not. `#if/#elif/#else` branches that open or close a different number of
// braces are handled like ctags does: the brace nesting after `#endif` is the first branch's (for
// `#if 0`, the live `#else` branch's, or none).
std::vector<FunctionSpan> split_functions(std::string_view text, SplitCounts* counts = nullptr);

}  // namespace gk::corpus
