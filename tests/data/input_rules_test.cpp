// Regression tests of issue #12's classes of bad data files (docs/input-rules.md): each is an
// InputError naming file and place, with a hint where the cause is guessable; none crashes or
// passes silently.
#include <string>

#include <gtest/gtest.h>

#include "greenknobs/data/csv.h"
#include "greenknobs/data/dataset.h"
#include "greenknobs/data/rows.h"

#include "test_util.h"

using gk::config::DataConfig;
using gk::data::CsvReader;
using gk::data::Dataset;
using gk::data::load_dataset;
using namespace gk::data::testing_util;

namespace {

DataConfig config(const std::string& path, const std::string& mode = "natural") {
    DataConfig c;
    c.path = path;
    c.mode = gk::config::parse_or_throw<gk::config::DataMode>(mode, "test", "data.mode");
    return c;
}

std::string load_error(const std::string& name, const std::string& bytes,
                       const std::string& mode = "natural") {
    const std::string path = write_tmp(name, bytes);
    return input_error_of([&] { load_dataset(config(path, mode), 1); });
}

// Three rows per split so a file that parses also loads.
const std::string kRows = "a,1,train\nb,0,train\nc,1,validation\nd,0,test\n";

}  // namespace

TEST(CsvRules, InvalidUtf8NamesLineAndByteOffset) {
    const std::string msg =
        load_error("latin1.csv", "func_before,vul,split\n" + kRows + "\"caf\xE9\",1,train\n");
    EXPECT_EQ(msg, tmp_path("latin1.csv") +
                       ":6: not valid UTF-8: byte 0xE9 at byte offset 70 "
                       "(Latin-1 or Windows-1252 text? convert with iconv -f latin1 -t utf-8)");
}

TEST(CsvRules, InvalidUtf8IsFoundAcrossStreamedChunks) {
    // The same offset whatever the chunk size: records cut by a refill are checked whole.
    const std::string text = "func_before,vul\nabc,1\n\"de\nf\xFF\",0\n";
    const std::string path = write_tmp("chunks.csv", text);
    for (size_t chunk : {1, 3, 7, 4096}) {
        const std::string msg = input_error_of([&] {
            CsvReader r = CsvReader::open_file(path, chunk);
            while (r.next()) {
            }
        });
        EXPECT_EQ(msg.rfind(path + ":4: not valid UTF-8: byte 0xFF at byte offset 27 (", 0), 0u)
            << chunk << " " << msg;
    }
}

TEST(CsvRules, OtherEncodingsAreNamed) {
    std::string utf16 = "\xFF\xFE";
    for (char c : std::string("func_before,vul\n")) {
        utf16 += c;
        utf16 += '\0';
    }
    EXPECT_EQ(load_error("utf16.csv", utf16).find("starts with a UTF-16 LE byte order mark"),
              tmp_path("utf16.csv").size() + std::string(":1: ").size());
    EXPECT_NE(load_error("nul.csv", std::string("func_before,vul\nx\0y,1\n", 22))
                  .find(":2: NUL byte at byte offset 17"),
              std::string::npos);
}

TEST(CsvRules, DuplicateColumnIsRejected) {
    EXPECT_NE(load_error("dup.csv", "func_before,vul,vul\nx,1,0\n")
                  .find(":1: the header names column 'vul' twice (columns 2 and 3)"),
              std::string::npos);
}

TEST(CsvRules, QuoteInsideAnUnquotedFieldIsRejected) {
    EXPECT_NE(load_error("quote.csv", "func_before,vul\nsay \"hi\",1\n")
                  .find(":2: a quote inside an unquoted field (RFC 4180"),
              std::string::npos);
}

TEST(CsvRules, BareCrLineEndsAreNamed) {
    const std::string msg = load_error("mac.csv", "func_before,vul\rx,1\ry,0\r");
    EXPECT_NE(msg.find(":1: a bare CR (carriage return without a line feed)"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("classic Mac line ends"), std::string::npos) << msg;
    // CRLF is fine, inside quotes a CR is data.
    const std::string path = write_tmp("crlf.csv",
                                       "func_before,vul,split\r\n\"a\rb\",1,train\r\n"
                                       "c,0,validation\r\nd,1,test\r\n");
    Dataset ds = load_dataset(config(path), 1);
    EXPECT_EQ(ds.train.at(0).text, "a\rb");
}

TEST(CsvRules, BlankFilesAreNamedAsBlank) {
    EXPECT_NE(load_error("blank.csv", "\n\n\n").find(":1: blank file (only line breaks)"),
              std::string::npos);
    EXPECT_NE(load_error("spaces.csv", "   \nx,1\n").find(":1: blank header line"),
              std::string::npos);
    EXPECT_NE(load_error("empty.csv", "").find(":1: empty file"), std::string::npos);
}

TEST(CsvRules, HeaderHintsNamePaddingCaseAndDelimiter) {
    std::string msg = load_error("pad.csv", "func_before, vul\nx,1\n");
    EXPECT_NE(msg.find("column ' vul' has spaces around its name"), std::string::npos) << msg;
    msg = load_error("case.csv", "func_before,Vul\nx,1\n");
    EXPECT_NE(msg.find("found 'Vul' (names are case-sensitive)"), std::string::npos) << msg;
    msg = load_error("semi.csv", "func_before;vul\nx;1\n");
    EXPECT_NE(msg.find("the file seems ';'-separated"), std::string::npos) << msg;
    msg = load_error("tab.csv", "func_before\tvul\nx\t1\n");
    EXPECT_NE(msg.find("seems tab-separated"), std::string::npos) << msg;
}

TEST(CsvRules, HeaderlessFileGetsAShortMessage) {
    std::string body = "\"int f(int a, int b)\n{\n" + std::string(2000, 'x') + "\n}\",1\n";
    const std::string msg = load_error("noheader.csv", body + body);
    EXPECT_LT(msg.size(), 400u) << msg;
    EXPECT_NE(msg.find("is the header row missing?"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(CsvRules, RecordErrorsComeBeforeEmptySplits) {
    // No test rows and a bad label at the end: the record is what must be fixed first.
    const std::string msg =
        load_error("late.csv", "func_before,vul,split\na,1,train\nb,0,validation\nc,7,train\n");
    EXPECT_NE(msg.find(":4: label `vul` must be 0 or 1, found '7'"), std::string::npos) << msg;
}

TEST(JsonLinesRules, OneObjectPerLine) {
    std::string msg = load_error("arr.jsonl", "[{\"func_before\":\"a\",\"vul\":1}]\n");
    EXPECT_NE(msg.find(":1: the file is one JSON array, but JSON Lines holds one object per line"),
              std::string::npos)
        << msg;
    msg = load_error("arr2.jsonl", "{\"func_before\":\"a\",\"vul\":1}\n[1, 2]\n");
    EXPECT_NE(msg.find(":2: a JSON array: JSON Lines holds one object per line"), std::string::npos)
        << msg;
    msg = load_error("two.jsonl",
                     "{\"func_before\":\"a\",\"vul\":1} {\"func_before\":\"b\",\"vul\":0}\n");
    EXPECT_NE(msg.find(":1: invalid JSON"), std::string::npos) << msg;
}

TEST(JsonLinesRules, TextMustBeAString) {
    std::string msg = load_error("null.jsonl", "{\"func_before\":null,\"vul\":1}\n");
    EXPECT_NE(msg.find(":1: field 'func_before' must be a string, found null null"),
              std::string::npos)
        << msg;
    msg = load_error("num.jsonl", "{\"func_before\":12,\"vul\":1}\n");
    EXPECT_NE(msg.find(":1: field 'func_before' must be a string, found number 12"),
              std::string::npos)
        << msg;
    msg = load_error("numafter.jsonl", "{\"func_before\":\"a\",\"func_after\":[1],\"vul\":1}\n",
                     "paired");
    EXPECT_NE(msg.find("field 'func_after' must be a string, found array"), std::string::npos)
        << msg;
    msg = load_error("numcwe.jsonl", "{\"func_before\":\"a\",\"CWE ID\":119,\"vul\":1}\n");
    EXPECT_NE(msg.find("field 'CWE ID' must be a string, found number 119"), std::string::npos)
        << msg;
}

TEST(JsonLinesRules, NullMetadataMeansAbsent) {
    const std::string path =
        write_tmp("nullmeta.jsonl",
                  "{\"func_before\":\"a\",\"vul\":1,\"CVE ID\":null,\"split\":\"train\"}\n"
                  "{\"func_before\":\"b\",\"vul\":0,\"CVE ID\":null,\"split\":\"validation\"}\n"
                  "{\"func_before\":\"c\",\"vul\":0,\"CVE ID\":null,\"split\":\"test\"}\n");
    Dataset ds = load_dataset(config(path), 1);
    EXPECT_EQ(ds.train.size(), 1u);
}

TEST(JsonLinesRules, DuplicateKeysAndEncodingAreNamed) {
    std::string msg = load_error("dupkey.jsonl", "{\"func_before\":\"a\",\"vul\":0,\"vul\":1}\n");
    EXPECT_NE(msg.find(":1: duplicate key 'vul'"), std::string::npos) << msg;
    msg =
        load_error("bad8.jsonl",
                   "{\"func_before\":\"a\",\"vul\":0}\n{\"func_before\":\"caf\xE9\",\"vul\":1}\n");
    EXPECT_NE(msg.find(":2: not valid UTF-8: byte 0xE9 at byte offset 47"), std::string::npos)
        << msg;
    msg = load_error("mac.jsonl",
                     "{\"func_before\":\"a\",\"vul\":0}\r{\"func_before\":\"b\",\"vul\":1}\r");
    EXPECT_NE(msg.find(":1: a bare CR"), std::string::npos) << msg;
    std::string utf16 = "\xFF\xFE";
    for (char c : std::string("{\"vul\":1}\n")) {
        utf16 += c;
        utf16 += '\0';
    }
    msg = load_error("utf16.jsonl", utf16);
    EXPECT_NE(msg.find(":1: starts with a UTF-16 LE byte order mark"), std::string::npos) << msg;
}

TEST(JsonLinesRules, JsonArrayFileStaysStrict) {
    const std::string msg =
        load_error("arrdup.json", "[{\"func_before\":\"a\",\"vul\":1,\"func_before\":\"b\"}]");
    EXPECT_NE(msg.find("duplicate key '[0].func_before'"), std::string::npos) << msg;
}

TEST(CsvRules, LeadingBlankLineBeforeAHeaderCutByAChunk) {
    // Fuzz finding: a retry after a refill skipped no blank lines while the header was being read,
    // so a streamed file read its blank first line as a one-column header.
    const std::string text = "\nfunc_before,vul\nx,1\n";
    const std::string path = write_tmp("blankfirst.csv", text);
    for (size_t chunk : {1, 2, 5, 7, 4096}) {
        CsvReader r = CsvReader::open_file(path, chunk);
        EXPECT_EQ(r.header(), (std::vector<std::string>{"func_before", "vul"})) << chunk;
        ASSERT_TRUE(r.next()) << chunk;
        EXPECT_EQ(r.record_line(), 3) << chunk;
    }
}
