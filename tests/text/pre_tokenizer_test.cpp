// The hand-written GPT-2 split against what the pattern matches (worked out from its alternation
// order).
#include "greenknobs/text/pre_tokenizer.h"

#include <gtest/gtest.h>

namespace gk::text {
namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<Span> spans;
    split_gpt2(s.data(), s.size(), &spans);
    std::vector<std::string> out;
    for (const Span& sp : spans) {
        out.push_back(s.substr(sp.begin, sp.end - sp.begin));
    }
    return out;
}

using V = std::vector<std::string>;

TEST(SplitGpt2, WordsTakeOneLeadingSpace) {
    EXPECT_EQ(split("Hello world!"), (V{"Hello", " world", "!"}));
    EXPECT_EQ(split("x = 42;"), (V{"x", " =", " 42", ";"}));
    EXPECT_EQ(split(""), V{});
}

TEST(SplitGpt2, WhitespaceRunsLeaveTheLastSpaceToTheNextWord) {
    EXPECT_EQ(split("a   b"), (V{"a", "  ", " b"}));
    EXPECT_EQ(split("a\t\tb"), (V{"a", "\t", "\t", "b"}));  // \s+(?!\S) then \s+
    EXPECT_EQ(split("a\n  return"), (V{"a", "\n ", " return"}));
    EXPECT_EQ(split("end  "), (V{"end", "  "}));  // a run at the end is taken whole
    EXPECT_EQ(split(" "), (V{" "}));
    EXPECT_EQ(split("\t a"), (V{"\t", " a"}));
}

TEST(SplitGpt2, ContractionsAreCaseSensitive) {
    EXPECT_EQ(split("don't we'll"), (V{"don", "'t", " we", "'ll"}));
    EXPECT_EQ(split("IT'S"), (V{"IT", "'", "S"}));
    EXPECT_EQ(split("'x'"), (V{"'", "x", "'"}));
}

TEST(SplitGpt2, ClassesFollowUnicodeCategories) {
    EXPECT_EQ(split("abc123def"), (V{"abc", "123", "def"}));
    EXPECT_EQ(split("\xC3\xA9t\xC3\xA9 \xE2\x85\xA7"),
              (V{"\xC3\xA9t\xC3\xA9", " \xE2\x85\xA7"}));  // Ⅷ is Nl
    EXPECT_EQ(split("ptr->x"), (V{"ptr", "->", "x"}));
    // U+3000 (ideographic space) is whitespace; U+00A0 too.
    EXPECT_EQ(split("a\xE3\x80\x80"
                    "b"),
              (V{"a", "\xE3\x80\x80", "b"}));
    EXPECT_EQ(split("a \xC2\xA0"
                    "b"),
              (V{"a", " ", "\xC2\xA0", "b"}));  // ` ?` is U+0020 only
}

TEST(ByteToUnicode, IsGpt2sTable) {
    const auto& t = byte_to_unicode();
    EXPECT_EQ(t['A'], 'A');
    EXPECT_EQ(t[' '], 0x120);   // 'Ġ'
    EXPECT_EQ(t['\n'], 0x10A);  // 'Ċ'
    EXPECT_EQ(t[0xAD], 0x143);
    EXPECT_EQ(byte_level_spelling(" a", 2),
              "\xC4\xA0"
              "a");
}

}  // namespace
}  // namespace gk::text
