// The reference index: exact (whitespace-insensitive), near (MinHash + exact Jaccard), containment
// (substring of the normalised text, or a function of a file), attribution to reference files, and
// bad reference files.
#include "greenknobs/corpus/decontaminate.h"

#include <string>

#include <gtest/gtest.h>

#include "greenknobs/data/dedup.h"

#include "../common/errors.h"
#include "corpus_fixture.h"

namespace {

using gk::corpus::MatchKind;
using gk::corpus::ReferenceIndex;
using namespace gk::testing;

class ReferenceIndexTest : public ::testing::Test {
  protected:
    void SetUp() override {
        write_text(dir_ / "refs.csv", "func_before,vul,func_after\n" + csv_field(ref_a()) + ",1," +
                                          csv_field(ref_b()) + "\n");
        write_text(dir_ / "more.jsonl", "{\"text\": " + json_string(ref_c()) + "}\n\n{\"text\": " +
                                            json_string(ref_a()) + ", \"other\": 1}\n");
        index_.add_file(dir_ / "refs.csv");
        index_.add_file(dir_ / "more.jsonl");
    }
    static std::string json_string(const std::string& s) {
        std::string out = "\"";
        for (char c : s) {
            if (c == '\n') {
                out += "\\n";
            } else if (c == '\t') {
                out += "\\t";
            } else if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else {
                out += c;
            }
        }
        return out + "\"";
    }
    TempDir dir_{"decontam"};
    ReferenceIndex index_{0.8};
};

TEST_F(ReferenceIndexTest, LoadsEveryTextColumnAndCountsDistinctTexts) {
    EXPECT_EQ(index_.size(), 3u);
    ASSERT_EQ(index_.files().size(), 2u);
    EXPECT_EQ(index_.files()[0].rows, 1);
    EXPECT_EQ(index_.files()[0].texts, 2);
    EXPECT_EQ(index_.files()[0].distinct, 2);
    EXPECT_EQ(index_.files()[1].rows, 2);
    EXPECT_EQ(index_.files()[1].texts, 2);
    EXPECT_EQ(index_.files()[1].distinct, 1);  // ref_a was already in refs.csv
}

TEST_F(ReferenceIndexTest, ExactMatchIgnoresWhitespaceAndKnowsBothFiles) {
    const auto m = index_.match(reindented(ref_a()), false);
    EXPECT_EQ(m.kind, MatchKind::kExact);
    EXPECT_EQ(m.files, 3u);  // in refs.csv and in more.jsonl
    EXPECT_EQ(index_.match(ref_b(), false).files, 1u);
}

TEST_F(ReferenceIndexTest, LightEditIsANearMatchUnrelatedCodeIsNone) {
    const auto near = index_.match(edited_b(), false);
    EXPECT_EQ(near.kind, MatchKind::kNear);
    EXPECT_EQ(near.files, 1u);
    EXPECT_EQ(index_.match(edited_c(), false).files, 2u);
    const std::string unrelated =
        "static unsigned long hash_str(const char *s)\n{\n\tunsigned long h = 5381;\n"
        "\twhile (*s)\n\t\th = h * 33 + (unsigned char)*s++;\n\treturn h;\n}";
    EXPECT_EQ(index_.match(unrelated, true).kind, MatchKind::kNone);
}

TEST_F(ReferenceIndexTest, DocumentContainingAReferenceVerbatimIsContainment) {
    std::string file = "#include <x.h>\n\nstatic int n;\n\n" + reindented(ref_a()) + "\n\n";
    for (int i = 0; i < 4; ++i) {
        file += "int other" + std::to_string(i) + "(int k)\n{\n\tn += k * " + std::to_string(i) +
                ";\n\treturn n > 10 ? n - 10 : n;\n}\n\n";
    }
    // Too much else in the file for a near match of the whole: found as contained.
    EXPECT_LT(gk::data::jaccard(gk::data::shingles(file), gk::data::shingles(ref_a())), 0.8);
    const auto m = index_.match(file, false);
    EXPECT_EQ(m.kind, MatchKind::kContainment);
    EXPECT_EQ(m.files, 3u);
}

TEST_F(ReferenceIndexTest, EditedFunctionInsideAFileNeedsTheFunctionSearch) {
    std::string file = "/* helpers */\n#include <string.h>\n\n";
    for (int i = 0; i < 6; ++i) {
        file += "int helper" + std::to_string(i) + "(int x)\n{\n\tint y = x * " +
                std::to_string(i + 3) + ";\n\tif (y > 100)\n\t\ty -= 7;\n\treturn y + x;\n}\n\n";
    }
    file += edited_b() + "\n";
    EXPECT_EQ(index_.match(file, false).kind, MatchKind::kNone);  // whole-file Jaccard is low
    const auto m = index_.match(file, true);
    EXPECT_EQ(m.kind, MatchKind::kContainment);
    EXPECT_EQ(m.files, 1u);
}

TEST(ReferenceIndex, ShortReferencesAreMatchedWholeButNotSearchedInside) {
    ReferenceIndex index(0.8);
    TempDir dir("short");
    write_text(dir / "r.csv", "text\n\"int one(void) { return 1; }\"\n");
    index.add_file(dir / "r.csv");
    EXPECT_EQ(index.match("int  one(void)\n{\n\treturn 1;\n}", false).kind, MatchKind::kExact);
    EXPECT_EQ(
        index.match("int zero(void) { return 0; }\nint one(void) { return 1; }\n", false).kind,
        MatchKind::kNone);
}

TEST(ReferenceIndex, BadReferenceFilesAreInputErrors) {
    TempDir dir("badref");
    write_text(dir / "nocol.csv", "a,b\n1,2\n");
    write_text(dir / "bad.jsonl", "{\"text\": \"int f(void) { return 0; }\"}\n{oops\n");
    write_text(dir / "empty.csv", "func_before\n\"  \"\n");
    ReferenceIndex index(0.8);
    EXPECT_NE(error_of([&] { index.add_file(dir / "nocol.csv"); }).find("func_before"),
              std::string::npos);
    EXPECT_NE(error_of([&] { index.add_file(dir / "bad.jsonl"); }).find("bad.jsonl:2"),
              std::string::npos);
    EXPECT_NE(error_of([&] { index.add_file(dir / "empty.csv"); }).find("no reference text"),
              std::string::npos);
    EXPECT_NE(error_of([&] { index.add_file(dir / "missing.csv"); }).find("missing.csv"),
              std::string::npos);
    EXPECT_NE(error_of([] { ReferenceIndex bad(1.5); }).find("near_threshold"), std::string::npos);
}

}  // namespace
