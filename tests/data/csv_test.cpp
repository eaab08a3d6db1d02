// CsvReader: RFC 4180 edge cases (quotes, escapes, multi-line fields, CRLF, BOM, empty fields,
// final line with or without a newline) and the errors, each with the line where the bad record or
// field started.
#include "greenknobs/data/csv.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

using gk::data::CsvReader;
using gk::data::testing_util::input_error_of;

namespace {

std::vector<std::vector<std::string>> read_all(const std::string& text,
                                               std::vector<int64_t>* lines = nullptr) {
    CsvReader r(text, "t.csv");
    std::vector<std::vector<std::string>> rows;
    rows.push_back(r.header());
    while (r.next()) {
        rows.push_back(r.fields());
        if (lines != nullptr) {
            lines->push_back(r.record_line());
        }
    }
    return rows;
}

using Rows = std::vector<std::vector<std::string>>;

}  // namespace

TEST(Csv, PlainRowsWithAndWithoutTrailingNewline) {
    Rows want = {{"a", "b"}, {"1", "2"}, {"3", "4"}};
    EXPECT_EQ(read_all("a,b\n1,2\n3,4\n"), want);
    EXPECT_EQ(read_all("a,b\n1,2\n3,4"), want);
}

TEST(Csv, QuotedFieldsWithCommasEscapedQuotesAndLineBreaks) {
    std::vector<int64_t> lines;
    Rows got =
        read_all("id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"line1\nline2\n\"\n4,x\n", &lines);
    Rows want = {
        {"id", "text"}, {"1", "a, b"}, {"2", "say \"hi\""}, {"3", "line1\nline2\n"}, {"4", "x"}};
    EXPECT_EQ(got, want);
    // Record 4 starts on line 7: the multi-line field of record 3 spans lines 4-6.
    EXPECT_EQ(lines, (std::vector<int64_t>{2, 3, 4, 7}));
}

TEST(Csv, CrlfRowEndsAreNotPartOfFieldsButCrlfInsideQuotesIs) {
    Rows got = read_all("a,b\r\n1,2\r\n\"x\r\ny\",z\r\n");
    Rows want = {{"a", "b"}, {"1", "2"}, {"x\r\ny", "z"}};
    EXPECT_EQ(got, want);
}

TEST(Csv, EmptyFieldsQuotedOrNot) {
    Rows got = read_all("a,b,c\n,,\n\"\",x,\n1,\"\",\"\"\n");
    Rows want = {{"a", "b", "c"}, {"", "", ""}, {"", "x", ""}, {"1", "", ""}};
    EXPECT_EQ(got, want);
}

TEST(Csv, ByteOrderMarkIsSkipped) {
    CsvReader r(
        "\xEF\xBB\xBF"
        "func_before,vul\nx,1\n",
        "t.csv");
    EXPECT_EQ(r.column("func_before"), 0);
    EXPECT_EQ(r.column("vul"), 1);
    EXPECT_EQ(r.column("nope"), -1);
}

TEST(Csv, BlankLinesBetweenRecordsAreSkipped) {
    Rows got = read_all("a,b\n\n1,2\r\n\r\n3,4\n\n");
    Rows want = {{"a", "b"}, {"1", "2"}, {"3", "4"}};
    EXPECT_EQ(got, want);
}

TEST(Csv, UnterminatedQuoteNamesTheLineWhereTheFieldStarted) {
    // A good multi-line field (lines 2-3), then a quote opened on line 4 that never closes.
    std::string msg =
        input_error_of([] { read_all("a,b\n1,\"x\ny\"\n2,\"open\nmore\nand more\n"); });
    EXPECT_EQ(msg, "t.csv:4: unterminated quoted field");
}

TEST(Csv, WrongFieldCountNamesTheLine) {
    std::string msg = input_error_of([] { read_all("a,b\n1,2\n\"m\nn\",2,3\n"); });
    EXPECT_EQ(msg, "t.csv:3: expected 2 fields (as in the header), found 3");
    msg = input_error_of([] { read_all("a,b\n1,2\n3\n"); });
    EXPECT_EQ(msg, "t.csv:3: expected 2 fields (as in the header), found 1");
}

TEST(Csv, GarbageAfterClosingQuoteIsAnError) {
    std::string msg = input_error_of([] { read_all("a,b\n\"x\"y,2\n"); });
    EXPECT_NE(msg.find("t.csv:2: unexpected character 'y' after a closing quote"),
              std::string::npos)
        << msg;
}

TEST(Csv, EmptyInputHasNoHeader) {
    EXPECT_EQ(input_error_of([] { read_all(""); }),
              "t.csv:1: empty file: expected a CSV header row");
}
