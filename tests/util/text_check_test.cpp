// UTF-8 validation (RFC 3629's well-formed table), encoding detection, and printable messages: the
// byte-level rules every reader shares (docs/input-rules.md).
#include "greenknobs/util/text_check.h"

#include <string>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

#include "../common/errors.h"

using gk::foreign_encoding;
using gk::printable;
using gk::utf8_invalid_at;
using gk::testing::error_of;

TEST(Utf8, AcceptsWellFormedText) {
    EXPECT_EQ(utf8_invalid_at(""), std::string::npos);
    EXPECT_EQ(utf8_invalid_at("int main() { return 0; }"), std::string::npos);
    EXPECT_EQ(utf8_invalid_at("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"),
              std::string::npos);
}

TEST(Utf8, NamesTheFirstBadByte) {
    EXPECT_EQ(utf8_invalid_at("abcdefghij\xFFxyz"), 10u);            // never valid
    EXPECT_EQ(utf8_invalid_at("caf\xE9!"), 3u);                      // Latin-1 é
    EXPECT_EQ(utf8_invalid_at("a\xC0\x80"), 1u);                     // overlong NUL
    EXPECT_EQ(utf8_invalid_at("a\xE0\x80\xAF"), 1u);                 // overlong '/'
    EXPECT_EQ(utf8_invalid_at("a\xED\xA0\x80"), 1u);                 // surrogate U+D800
    EXPECT_EQ(utf8_invalid_at("a\xF4\x90\x80\x80"), 1u);             // above U+10FFFF
    EXPECT_EQ(utf8_invalid_at("ok \xE2\x82"), 3u);                   // truncated at the end
    EXPECT_EQ(utf8_invalid_at(std::string("12345678\x80", 9)), 8u);  // lone continuation
}

TEST(Utf8, OtherEncodingsAreRecognised) {
    EXPECT_EQ(foreign_encoding("\xFF\xFEv\0u\0"), "a UTF-16 LE byte order mark");
    EXPECT_EQ(foreign_encoding("\xFE\xFF\0v"), "a UTF-16 BE byte order mark");
    EXPECT_EQ(foreign_encoding(std::string("\xFF\xFE\0\0", 4)), "a UTF-32 LE byte order mark");
    EXPECT_EQ(foreign_encoding(std::string("\0\0\xFE\xFF", 4)), "a UTF-32 BE byte order mark");
    EXPECT_EQ(foreign_encoding("\xEF\xBB\xBFx"), "a UTF-8 byte order mark");
    EXPECT_EQ(foreign_encoding(std::string("f\0u\0n\0", 6)).rfind("UTF-16 LE text", 0), 0u);
    EXPECT_EQ(foreign_encoding("func_before,vul"), "");
}

TEST(Utf8, ProblemNamesOffsetNulAndLatin1) {
    EXPECT_EQ(gk::utf8_problem("fine"), "");
    EXPECT_EQ(
        gk::utf8_problem(std::string("ab\0c", 4), 100),
        "NUL byte at byte offset 102: expected UTF-8 text (is this a binary file, or UTF-16?)");
    const std::string latin1 = gk::utf8_problem("caf\xE9", 10);
    EXPECT_EQ(latin1.rfind("not valid UTF-8: byte 0xE9 at byte offset 13 (Latin-1", 0), 0u)
        << latin1;
}

TEST(Printable, EscapesControlsAndBadBytesKeepsUtf8) {
    EXPECT_EQ(printable("a\nb\r\tc"), "a\\nb\\r\\tc");
    EXPECT_EQ(printable(std::string("x\0y\x1B\x7F", 5)), "x\\x00y\\x1B\\x7F");
    EXPECT_EQ(printable("caf\xC3\xA9 \xFF\xE9"), "caf\xC3\xA9 \\xFF\\xE9");
    EXPECT_EQ(printable("\xC2\x85"), "\\xC2\\x85");  // U+0085, a C1 control (NEL)
    const std::string once = printable("bad\n\xFF\\x41");
    EXPECT_EQ(printable(once), once);  // idempotent: re-wrapping a message changes nothing
}

TEST(Printable, InputErrorMessagesAreOnePrintableLine) {
    // A bad value quoted from a file can neither break the line nor the JSON of run.json.
    const std::string msg = error_of([] { throw gk::InputError("f.csv", "3", "bad 'a\nb\xFF'"); });
    EXPECT_EQ(msg, "f.csv:3: bad 'a\\nb\\xFF'");
    EXPECT_EQ(error_of([] { throw gk::InputError("x\ty"); }), "x\\ty");
}

TEST(RequireUtf8, NamesTheEncodingOrTheOffset) {
    EXPECT_EQ(error_of([] { gk::require_utf8_text("\xFF\xFEx\0", "f.json", ""); }),
              "f.json: starts with a UTF-16 LE byte order mark: expected UTF-8 (convert it, e.g. "
              "iconv -f UTF-16 -t UTF-8)");
    EXPECT_EQ(error_of([] { gk::require_utf8_text("ok", "f.json", ""); }), "");
    EXPECT_NE(error_of([] {
                  gk::require_utf8_text("{\"a\":\"\xFF\"}", "f.json", "header", 8);
              }).find("f.json:header: not valid UTF-8: byte 0xFF at byte offset 14"),
              std::string::npos);
}
