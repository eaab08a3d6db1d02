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

namespace {

std::vector<std::vector<std::string>> read_file_all(const std::string& path, size_t chunk_bytes,
                                                    std::vector<int64_t>* lines) {
    CsvReader r = CsvReader::open_file(path, chunk_bytes);
    std::vector<std::vector<std::string>> rows;
    rows.push_back(r.header());
    while (r.next()) {
        rows.push_back(r.fields());
        lines->push_back(r.record_line());
    }
    return rows;
}

}  // namespace

// Streaming cuts records at every possible byte: the rows and line numbers must not change.
TEST(Csv, StreamingFromFileMatchesInMemoryAtEveryChunkSize) {
    const std::string text =
        "\xEF\xBB\xBF"
        "func_before,vul,note\r\n"
        "\"int f()\r\n{\n  return \"\"x\"\";\n}\",1,\"\"\"\"\r\n"
        "\r\n"
        "plain,0,\"a,b\"\n"
        "\"\",1,\n"
        "last,0,\"end\"";
    const std::string path = gk::data::testing_util::write_tmp("stream.csv", text);
    std::vector<int64_t> want_lines;
    const auto want = read_all(text, &want_lines);
    ASSERT_EQ(want.size(), 5u);
    EXPECT_EQ(want[0][0], "func_before");
    EXPECT_EQ(want[1][0], "int f()\r\n{\n  return \"x\";\n}");
    EXPECT_EQ(want[1][2], "\"");
    EXPECT_EQ(want_lines, (std::vector<int64_t>{2, 7, 8, 9}));
    for (size_t chunk = 1; chunk <= text.size() + 1; ++chunk) {
        std::vector<int64_t> lines;
        EXPECT_EQ(read_file_all(path, chunk, &lines), want) << "chunk " << chunk;
        EXPECT_EQ(lines, want_lines) << "chunk " << chunk;
    }
}

TEST(Csv, StreamingReportsTheSameErrors) {
    const std::string path =
        gk::data::testing_util::write_tmp("stream_bad.csv", "a,b\n1,\"x\ny\"\n2,\"open\nmore\n");
    for (size_t chunk : {1, 2, 3, 5, 64}) {
        std::vector<int64_t> lines;
        EXPECT_EQ(input_error_of([&] { read_file_all(path, chunk, &lines); }),
                  path + ":4: unterminated quoted field");
    }
    EXPECT_EQ(input_error_of([] { CsvReader::open_file("/nonexistent.csv"); }),
              "/nonexistent.csv: cannot open file for reading");
}
