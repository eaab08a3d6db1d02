// load_dataset on small fixtures with hand-counted answers: paired and natural modes, CSV and JSON
// Lines giving the same samples, the split column honoured, the grouped hash split, every bad
// input, the report.
#include "greenknobs/data/dataset.h"

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "greenknobs/data/rows.h"

#include "test_util.h"

using gk::config::DataConfig;
using gk::data::Dataset;
using gk::data::load_dataset;
using gk::data::Sample;
using gk::data::testing_util::fixture;
using gk::data::testing_util::input_error_of;
using gk::data::testing_util::write_tmp;

namespace {

DataConfig config(const std::string& path, const std::string& mode = "natural") {
    DataConfig c;
    c.path = path;
    c.mode = gk::config::parse_or_throw<gk::config::DataMode>(mode, "test", "data.mode");
    return c;
}

std::multiset<std::pair<std::string, int>> texts(const std::vector<Sample>& v) {
    std::multiset<std::pair<std::string, int>> s;
    for (const auto& x : v) {
        s.insert({x.text, x.label});
    }
    return s;
}

const std::string kD4Before = "int d(int n)\n{\n    char *s = \"a, b\";\n    return n;\n}\n";
const std::string kD4After = "int d(int n)\n{\n    char *s = \"a, b\";\n    return n + 1;\n}\n";

}  // namespace

// paired.csv (10 rows, split column): see the comments for where every count comes from.
TEST(Dataset, PairedModeOnFixtureHasHandCountedAnswer) {
    Dataset ds = load_dataset(config(fixture("paired.csv"), "paired"), /*seed=*/1);
    const auto& r = ds.report;
    EXPECT_EQ(r.rows_read, 10);
    EXPECT_EQ(r.identical_pairs_dropped, 1);  // row 2: func_before == func_after
    EXPECT_EQ(r.samples_built, 15);  // 8 vul=1 rows with a real fix × 2 - row 2's, + 3 vul=0 rows
    EXPECT_EQ(r.cross_split_removed,
              1);  // row 1's before == row 5's (test) before up to whitespace
    EXPECT_EQ(r.duplicates_removed,
              2);  // row 6 == row 1's after; row 7's after == row 3 (validation)
    EXPECT_EQ(r.conflicting_dropped, 2);  // "int e(){}": row 8 (vul=0) and row 9's before (vul=1)
    EXPECT_EQ(r.split_source, "column");
    EXPECT_EQ(texts(ds.train),
              (std::multiset<std::pair<std::string, int>>{{"int a(){return 0;}", 0},
                                                          {"int e2(){}", 0},
                                                          {"int t(){return 1+1;}", 1},
                                                          {"int t(){return 2;}", 0}}));
    EXPECT_EQ(texts(ds.validation), (std::multiset<std::pair<std::string, int>>{
                                        {"int c(){}", 0}, {"int g(){return 1;}", 1}}));
    EXPECT_EQ(texts(ds.test),
              (std::multiset<std::pair<std::string, int>>{
                  {kD4Before, 1}, {kD4After, 0}, {"int   a(){return 1;}", 1}, {"int a2(){}", 0}}));
    EXPECT_EQ(r.train.samples, 4);
    EXPECT_EQ(r.train.positives, 1);
    EXPECT_EQ(r.validation.samples, 2);
    EXPECT_EQ(r.validation.positives, 1);
    EXPECT_EQ(r.test.samples, 4);
    EXPECT_EQ(r.test.positives, 2);
    // The counts are disjoint and add up.
    EXPECT_EQ(r.samples_built, r.duplicates_removed + r.cross_split_removed +
                                   r.conflicting_dropped + r.near_duplicates_removed +
                                   r.sampled_out + r.train.samples + r.validation.samples +
                                   r.test.samples);
}

TEST(Dataset, SamplesCarryGroupCweAndProject) {
    Dataset ds = load_dataset(config(fixture("paired.csv"), "paired"), 1);
    for (const auto& s : ds.test) {
        EXPECT_TRUE(s.group == "c4" || s.group == "c5") << s.group;
        EXPECT_EQ(s.project, "q");
        EXPECT_EQ(s.cwe, s.group == "c4" ? "CWE-4" : "CWE-5");
    }
}

TEST(Dataset, NaturalModeOnFixture) {
    Dataset ds = load_dataset(config(fixture("paired.csv")), 1);
    EXPECT_EQ(ds.report.samples_built, 10);
    EXPECT_EQ(ds.report.cross_split_removed, 1);
    EXPECT_EQ(ds.report.duplicates_removed, 0);
    EXPECT_EQ(ds.report.conflicting_dropped, 2);
    EXPECT_EQ(texts(ds.train),
              (std::multiset<std::pair<std::string, int>>{
                  {"void b(){x();}", 1}, {"int a(){return 0;}", 0}, {"int t(){return 1+1;}", 1}}));
    EXPECT_EQ(ds.report.validation.samples, 2);
    EXPECT_EQ(ds.report.test.samples, 2);
    EXPECT_EQ(ds.report.test.positives, 2);
}

TEST(Dataset, JsonLinesGivesTheSameSamplesAsCsv) {
    for (const char* mode : {"natural", "paired"}) {
        Dataset a = load_dataset(config(fixture("paired.csv"), mode), 3);
        Dataset b = load_dataset(config(fixture("paired.jsonl"), mode), 3);
        EXPECT_EQ(b.report.format, "jsonl");
        EXPECT_EQ(texts(a.train), texts(b.train)) << mode;
        EXPECT_EQ(texts(a.validation), texts(b.validation)) << mode;
        EXPECT_EQ(texts(a.test), texts(b.test)) << mode;
        EXPECT_NE(a.report.data_hash, b.report.data_hash);
    }
}

TEST(Dataset, JsonArrayFileIsReadToo) {
    std::string path = write_tmp("arr.json",
                                 "[{\"func_before\":\"a\",\"vul\":1,\"split\":\"train\"},"
                                 "{\"func_before\":\"b\",\"vul\":\"0\",\"split\":\"dev\"},"
                                 "{\"func_before\":\"c\",\"vul\":0,\"split\":\"test\"}]");
    Dataset ds = load_dataset(config(path), 1);
    EXPECT_EQ(ds.report.format, "jsonl");
    ASSERT_EQ(ds.validation.size(), 1u);
    EXPECT_EQ(ds.validation[0].text, "b");
}

TEST(Dataset, DataHashIsSha256OfTheFile) {
    Dataset ds = load_dataset(config(fixture("paired.csv")), 1);
    EXPECT_EQ(ds.report.data_hash.size(), 64u);
    std::string path =
        write_tmp("empty_hash.csv", "func_before,vul,split\nx,1,train\ny,0,validation\nz,1,test\n");
    // SHA-256 of that exact text, from `sha256sum`.
    EXPECT_EQ(load_dataset(config(path), 1).report.data_hash,
              "eca1ba9719ebbe0b97cc184ffc324878e3311eebacb95bc1618e384536be013e");
}

TEST(Dataset, ReportJsonCarriesCountsAndBalance) {
    Dataset ds = load_dataset(config(fixture("paired.csv"), "paired"), 1);
    nlohmann::json j = ds.report.to_json();
    EXPECT_EQ(j.at("mode"), "paired");
    EXPECT_EQ(j.at("rows_read"), 10);
    EXPECT_EQ(j.at("conflicting_dropped"), 2);
    EXPECT_EQ(j.at("removed_by_dedup"), 5);
    EXPECT_EQ(ds.report.removed_by_dedup(), 5);
    EXPECT_EQ(j.at("splits").at("test").at("positives"), 2);
    EXPECT_EQ(j.at("splits").at("test").at("negatives"), 2);
    EXPECT_DOUBLE_EQ(j.at("splits").at("train").at("positive_share").get<double>(), 0.25);
}

TEST(Dataset, DedupNoneKeepsEverything) {
    DataConfig c = config(fixture("paired.csv"), "paired");
    c.dedup = gk::config::Dedup::kNone;
    Dataset ds = load_dataset(c, 1);
    EXPECT_EQ(ds.train.size() + ds.validation.size() + ds.test.size(), 15u);
    EXPECT_EQ(ds.report.duplicates_removed + ds.report.conflicting_dropped +
                  ds.report.cross_split_removed,
              0);
}

// --- the hashed split (no split column) ---

namespace {
// 400 commits × 3 rows; each row's text is unique.
std::string grouped_csv() {
    std::string s = "commit_id,project,vul,func_before,func_after\n";
    for (int c = 0; c < 400; ++c) {
        for (int k = 0; k < 3; ++k) {
            s += "commit" + std::to_string(c) + ",p," + std::to_string((c + k) % 2) + ",\"int f" +
                 std::to_string(c) + "_" + std::to_string(k) + "()\n{\n}\",\"int g" +
                 std::to_string(c) + "_" + std::to_string(k) + "() {}\"\n";
        }
    }
    return s;
}
std::map<std::string, std::set<int>> splits_of_groups(const Dataset& ds) {
    std::map<std::string, std::set<int>> m;
    for (const auto& s : ds.train) m[s.group].insert(0);
    for (const auto& s : ds.validation) m[s.group].insert(1);
    for (const auto& s : ds.test) m[s.group].insert(2);
    return m;
}
}  // namespace

TEST(Dataset, HashedSplitKeepsGroupsTogetherAndFollowsFractions) {
    std::string path = write_tmp("grouped.csv", grouped_csv());
    for (const char* mode : {"natural", "paired"}) {
        Dataset ds = load_dataset(config(path, mode), 7);
        EXPECT_EQ(ds.report.split_source, "hash:commit_id");
        EXPECT_EQ(ds.report.groups, 400);
        for (const auto& [group, splits] : splits_of_groups(ds)) {
            EXPECT_EQ(splits.size(), 1u) << group << " is in several splits";
        }
        // 10 % / 10 % of 400 groups: expect about 40 each (binomial sd 6).
        std::map<int, int> groups_per_split;
        for (const auto& [group, splits] : splits_of_groups(ds)) {
            ++groups_per_split[*splits.begin()];
        }
        EXPECT_GT(groups_per_split[2], 20);
        EXPECT_LT(groups_per_split[2], 60);
        EXPECT_GT(groups_per_split[1], 20);
        EXPECT_LT(groups_per_split[1], 60);
        EXPECT_EQ(groups_per_split[0] + groups_per_split[1] + groups_per_split[2], 400);
    }
}

TEST(Dataset, HashedSplitIsDeterministicPerSeed) {
    std::string path = write_tmp("grouped.csv", grouped_csv());
    Dataset a = load_dataset(config(path), 7);
    Dataset b = load_dataset(config(path), 7);
    Dataset c = load_dataset(config(path), 8);
    EXPECT_EQ(texts(a.test), texts(b.test));
    EXPECT_NE(texts(a.test), texts(c.test));
}

TEST(Dataset, HashedSplitFallsBackToCveThenProjectAndFile) {
    std::string path = write_tmp("cve.csv", "CVE ID,vul,func_before\nCVE-1,1,a\nCVE-1,0,b\n");
    DataConfig c = config(path);
    c.test_fraction = 0.5;
    c.validation_fraction = 0.0;
    // Two rows, one CVE: both land in the same split, so another must be empty.
    std::string msg = input_error_of([&] { load_dataset(c, 1); });
    EXPECT_NE(msg.find("no group was hashed to it (1 groups by CVE ID"), std::string::npos) << msg;
    path = write_tmp("pf.csv", "project,file_name,vul,func_before\np,a.c,1,a\np,b.c,0,b\n");
    msg = input_error_of([&] { load_dataset(config(path), 1); });
    EXPECT_NE(msg.find("groups by project+file_name"), std::string::npos) << msg;
}

// --- bad input ---

TEST(Dataset, UnterminatedQuoteInDataFile) {
    std::string path =
        write_tmp("unterminated.csv", "func_before,vul\n\"a\nb\",1\n\"never closed\n,0\n");
    EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
              path + ":4: unterminated quoted field");
}

TEST(Dataset, MissingColumnNamesFileAndColumn) {
    std::string path = write_tmp("nolabel.csv", "func_before,label\nx,1\n");
    std::string msg = input_error_of([&] { load_dataset(config(path), 1); });
    EXPECT_EQ(msg.rfind(path + ":1: missing required column 'vul'", 0), 0u) << msg;
    // paired mode needs func_after; natural mode does not.
    path = write_tmp("noafter.csv", "func_before,vul,split\nx,1,train\ny,0,validation\nz,1,test\n");
    msg = input_error_of([&] { load_dataset(config(path, "paired"), 1); });
    EXPECT_EQ(msg.rfind(path + ":1: missing required column 'func_after'", 0), 0u) << msg;
    EXPECT_EQ(load_dataset(config(path), 1).train.size(), 1u);
    path = write_tmp("noafter.jsonl", "{\"func_before\":\"x\",\"vul\":1}\n");
    msg = input_error_of([&] { load_dataset(config(path, "paired"), 1); });
    EXPECT_EQ(msg, path + ":1: missing required field 'func_after'");
}

TEST(Dataset, LabelMustBeZeroOrOne) {
    for (const char* bad : {"2", "yes", "1.0", "", " 1"}) {
        std::string path =
            write_tmp("badlabel.csv", std::string("func_before,vul\n\"a\nb\",1\nc,") + bad + "\n");
        EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
                  path + ":4: label `vul` must be 0 or 1, found '" + bad + "'");
    }
    std::string path =
        write_tmp("badlabel.jsonl",
                  "{\"func_before\":\"a\",\"vul\":1}\n\n{\"func_before\":\"b\",\"vul\":true}\n");
    EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
              path + ":3: label `vul` must be 0 or 1, found boolean true");
    path = write_tmp("badlabel2.jsonl", "{\"func_before\":\"a\",\"vul\":3}\n");
    EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
              path + ":1: label `vul` must be 0 or 1, found '3'");
}

TEST(Dataset, BadJsonLineNamesTheLine) {
    std::string path =
        write_tmp("bad.jsonl", "{\"func_before\":\"a\",\"vul\":1}\n{\"func_before\": oops}\n");
    std::string msg = input_error_of([&] { load_dataset(config(path), 1); });
    EXPECT_EQ(msg.rfind(path + ":2: invalid JSON", 0), 0u) << msg;
    path = write_tmp("notobj.json", "[1]\n");
    msg = input_error_of([&] { load_dataset(config(path), 1); });
    EXPECT_EQ(msg, path + ":record 1: expected a JSON object per record, found number");
}

TEST(Dataset, EmptySplitSaysWhichAndWhy) {
    std::string path = write_tmp("notest.csv", "func_before,vul,split\na,1,train\nb,0,val\n");
    EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
              path + ": split 'test' is empty: the file's split column has no test rows");
    // The only test text also appears with the other label in train: dropped as conflicting.
    path = write_tmp("deduped.csv",
                     "func_before,vul,split\na,1,train\nb,0,validation\nx,1,test\n x ,0,train\n");
    std::string msg = input_error_of([&] { load_dataset(config(path), 1); });
    EXPECT_EQ(
        msg.rfind(
            path + ": split 'test' is empty: all 1 of its samples were removed by de-duplication",
            0),
        0u)
        << msg;
    // Paired mode: the test rows' fixes change nothing.
    path =
        write_tmp("nopairs.csv",
                  "func_before,func_after,vul,split\na,b,1,train\nc,d,1,validation\nx,x,1,test\n");
    msg = input_error_of([&] { load_dataset(config(path, "paired"), 1); });
    EXPECT_EQ(msg.rfind(path + ": split 'test' is empty: its 1 rows gave no samples", 0), 0u)
        << msg;
}

TEST(Dataset, EmptyValidationIsAllowedWhenAskedFor) {
    std::string path = write_tmp("grouped.csv", grouped_csv());
    DataConfig c = config(path);
    c.validation_fraction = 0;
    Dataset ds = load_dataset(c, 7);
    EXPECT_TRUE(ds.validation.empty());
    EXPECT_FALSE(ds.test.empty());
}

TEST(Dataset, UnknownSplitValueAndFormat) {
    std::string path = write_tmp("badsplit.csv", "func_before,vul,split\na,1,train\nb,0,holdout\n");
    EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
              path +
                  ":3: unknown split 'holdout' (expected train, validation or test; also valid, "
                  "val, dev)");
    path = write_tmp("data.txt", "func_before,vul\n");
    std::string msg = input_error_of([&] { load_dataset(config(path), 1); });
    EXPECT_EQ(msg.rfind(path + ":data.format: cannot tell the format", 0), 0u) << msg;
    DataConfig c = config(path);
    c.format = gk::config::DataFormat::kCsv;
    msg = input_error_of([&] { load_dataset(c, 1); });
    EXPECT_EQ(msg, path + ": no data rows");
    EXPECT_EQ(input_error_of([] { load_dataset(config("/nonexistent/x.csv"), 1); }),
              "/nonexistent/x.csv: cannot open file for reading");
}

TEST(Dataset, SplitPresenceMustBeConsistentInJsonLines) {
    std::string path = write_tmp("mixed.jsonl",
                                 "{\"func_before\":\"a\",\"vul\":1,\"split\":\"train\"}\n{\"func_"
                                 "before\":\"b\",\"vul\":0}\n");
    EXPECT_EQ(input_error_of([&] { load_dataset(config(path), 1); }),
              path + ":2: record has no 'split' field but the first record has one");
}

TEST(Dataset, SamplingCapsEachSplitStratified) {
    std::string path = write_tmp("grouped.csv", grouped_csv());
    DataConfig c = config(path);
    c.max_train_samples = 100;
    c.max_eval_samples = 10;
    Dataset full = load_dataset(config(path), 7);
    Dataset a = load_dataset(c, 7);
    Dataset b = load_dataset(c, 7);
    EXPECT_EQ(a.train.size(), 100u);
    EXPECT_EQ(a.validation.size(), 10u);
    EXPECT_EQ(a.test.size(), 10u);
    EXPECT_EQ(texts(a.train), texts(b.train));
    const double share_full =
        static_cast<double>(full.report.train.positives) / full.report.train.samples;
    EXPECT_NEAR(a.report.train.positives, share_full * 100, 0.5 + 1e-9);
    EXPECT_EQ(a.report.sampled_out, (full.report.train.samples - 100) +
                                        (full.report.validation.samples - 10) +
                                        (full.report.test.samples - 10));
}
