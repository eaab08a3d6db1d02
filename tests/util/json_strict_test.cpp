// parse_json_strict: duplicate keys with their path, UTF-8 and byte order marks, parse errors with
// line and column, nesting bounded.
#include "greenknobs/util/json_strict.h"

#include <string>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

#include "../common/errors.h"

using gk::parse_json_strict;
using gk::testing::error_of;

TEST(JsonStrict, ParsesOrdinaryDocuments) {
    nlohmann::json j = parse_json_strict(R"({"a": [1, {"b": 2}, {"b": 3}], "c": {"b": 4}})", "f");
    EXPECT_EQ(j["a"][2]["b"], 3);
    EXPECT_EQ(j["c"]["b"], 4);  // the same key in different objects is fine
}

TEST(JsonStrict, DuplicateKeysAreNamedWithTheirPath) {
    EXPECT_EQ(
        error_of([] { parse_json_strict(R"({"hidden_size": 32, "hidden_size": 64})", "c.json"); }),
        "c.json:hidden_size: duplicate key 'hidden_size' (the later value would silently "
        "replace the earlier one)");
    const std::string deep = error_of(
        [] { parse_json_strict(R"({"model": {"vocab": {"a": 0, "b": 1, "a": 2}}})", "tok.json"); });
    EXPECT_EQ(deep.rfind("tok.json:model.vocab.a: duplicate key 'model.vocab.a'", 0), 0u) << deep;
    const std::string in_array =
        error_of([] { parse_json_strict(R"({"l": [{"x": 1}, 5, {"y": 1, "y": 2}]})", "f.json"); });
    EXPECT_EQ(in_array.rfind("f.json:l[2].y: duplicate key", 0), 0u) << in_array;
    // With a place given (a JSON Lines line), the place stays and the path goes into the message.
    EXPECT_EQ(error_of([] {
                  parse_json_strict(R"({"vul": 0, "vul": 1})", "d.jsonl", "7");
              }).rfind("d.jsonl:7: duplicate key 'vul'", 0),
              0u);
}

TEST(JsonStrict, EncodingProblemsAreNamed) {
    EXPECT_EQ(error_of([] {
                  parse_json_strict("\xEF\xBB\xBF{}", "c.json");
              }).rfind("c.json: starts with a UTF-8 byte order mark", 0),
              0u);
    EXPECT_EQ(error_of([] {
                  parse_json_strict(std::string("\xFF\xFE{\0}\0", 6), "c.json");
              }).rfind("c.json: starts with a UTF-16 LE byte order mark", 0),
              0u);
    const std::string bad = error_of([] { parse_json_strict("{\"a\": \"caf\xE9\"}", "c.json"); });
    EXPECT_EQ(bad.rfind("c.json: not valid UTF-8: byte 0xE9 at byte offset 10", 0), 0u) << bad;
}

TEST(JsonStrict, SyntaxErrorsNameLineAndColumn) {
    const std::string msg =
        error_of([] { parse_json_strict("{\n  \"a\": 1,\n  oops\n}", "c.json"); });
    EXPECT_EQ(msg.rfind("c.json: invalid JSON at line 3, column 3: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find("json.exception"), std::string::npos) << msg;
}

TEST(JsonStrict, NestingIsBounded) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_NE(error_of([&] { parse_json_strict(deep, "d.json"); }).find("nested deeper than 512"),
              std::string::npos);
    EXPECT_NO_THROW(parse_json_strict(std::string(100, '[') + std::string(100, ']'), "ok.json"));
}

TEST(JsonStrict, NumbersBeyondDoubleAreInputErrors) {
    // Fuzz finding: nlohmann reports 1e999 as out_of_range.406, not as a parse error.
    EXPECT_EQ(error_of([] {
                  parse_json_strict(R"({"hidden_size": 589e8321})", "c.json");
              }).rfind("c.json: a number out of range: number overflow parsing '589e8321'", 0),
              0u);
}
