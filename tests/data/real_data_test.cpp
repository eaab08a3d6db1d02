// The bundled real data: BigVul paired mode (counts from data/bigvul/SOURCE.md, duplicate counts
// checked independently with Python's csv module) and Juliet natural mode with its own split.
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "greenknobs/data/dataset.h"
#include "greenknobs/data/dedup.h"
#include "greenknobs/data/rows.h"

using gk::config::DataConfig;
using gk::data::Dataset;
using gk::data::load_dataset;

namespace {

std::string data_path(const std::string& rel) {
    return std::string(GK_SOURCE_DIR) + "/data/" + rel;
}

template <typename F>
void for_each_split(const Dataset& ds, F f) {
    f(0, ds.train);
    f(1, ds.validation);
    f(2, ds.test);
}

}  // namespace

TEST(RealData, BigVulPairedCountsAndNoCommitInTwoSplits) {
    DataConfig c;
    c.path = data_path("bigvul/bigvul_subset.csv");
    c.mode = gk::config::DataMode::kPaired;
    Dataset ds = load_dataset(c, /*seed=*/42);
    const auto& r = ds.report;
    EXPECT_EQ(r.rows_read, 2134);
    EXPECT_EQ(r.identical_pairs_dropped, 2);
    EXPECT_EQ(r.samples_built, 2 * 2119 + 13);  // SOURCE.md: 2,119 pairs + 13 vul=0 rows
    EXPECT_EQ(r.split_source, "hash:commit_id");
    EXPECT_EQ(r.groups, 1300);
    // 47 texts occur with both labels (94 samples); 3 more samples are plain copies.
    EXPECT_EQ(r.conflicting_dropped, 94);
    EXPECT_EQ(r.duplicates_removed + r.cross_split_removed, 3);
    EXPECT_EQ(r.train.samples + r.validation.samples + r.test.samples, 4251 - 97);

    std::map<std::string, std::set<int>> commit_splits;
    std::map<std::string, std::set<int>> text_splits;
    for_each_split(ds, [&](int s, const std::vector<gk::data::Sample>& v) {
        EXPECT_FALSE(v.empty());
        for (const auto& x : v) {
            commit_splits[x.group].insert(s);
            text_splits[gk::data::normalize_whitespace(x.text)].insert(s);
        }
    });
    for (const auto& [commit, splits] : commit_splits) {
        EXPECT_EQ(splits.size(), 1u) << "commit " << commit << " is in two splits";
    }
    for (const auto& [text, splits] : text_splits) {
        EXPECT_EQ(splits.size(), 1u) << "a text is in two splits";
    }
    // Paired data is nearly balanced in every split.
    EXPECT_NEAR(static_cast<double>(r.test.positives) / r.test.samples, 0.5, 0.05);
    EXPECT_NEAR(static_cast<double>(r.train.positives) / r.train.samples, 0.5, 0.05);
}

TEST(RealData, JulietNaturalHonoursItsSplit) {
    DataConfig c;  // the default path is the Juliet CSV
    c.path = data_path("juliet/juliet_functions.csv");
    Dataset ds = load_dataset(c, 42);
    const auto& r = ds.report;
    EXPECT_EQ(r.rows_read, 24000);
    EXPECT_EQ(r.split_source, "column");
    EXPECT_EQ(r.conflicting_dropped, 0);
    // SOURCE.md: train 18,980, validation 2,706, test 2,314 rows; two texts collapse to a copy once
    // whitespace is normalised.
    EXPECT_EQ(r.duplicates_removed + r.cross_split_removed, 2);
    EXPECT_EQ(r.train.samples + r.validation.samples + r.test.samples, 23998);
    EXPECT_GE(r.train.samples, 18978);
    EXPECT_GE(r.validation.samples, 2704);
    EXPECT_GE(r.test.samples, 2312);
    EXPECT_NEAR(static_cast<double>(r.train.positives) / r.train.samples, 0.5, 0.001);
    EXPECT_NEAR(static_cast<double>(r.test.positives) / r.test.samples, 0.5, 0.001);
    nlohmann::json j = r.to_json();
    EXPECT_EQ(j.at("splits").at("validation").at("samples"), r.validation.samples);
}

TEST(RealData, JulietSampledIsStratifiedAndDeterministic) {
    DataConfig c;
    c.path = data_path("juliet/juliet_functions.csv");
    c.max_train_samples = 2000;
    c.max_eval_samples = 500;
    Dataset a = load_dataset(c, 42);
    Dataset b = load_dataset(c, 42);
    ASSERT_EQ(a.train.size(), 2000u);
    EXPECT_EQ(a.validation.size(), 500u);
    EXPECT_EQ(a.test.size(), 500u);
    EXPECT_NEAR(a.report.train.positives, 1000, 1);
    EXPECT_NEAR(a.report.test.positives, 250, 1);
    for (size_t i = 0; i < a.train.size(); ++i) {
        ASSERT_EQ(a.train[i].text, b.train[i].text);
    }
}

// The full 35-column MSR schema (plus pandas' unnamed index column) as upstream files carry it.
TEST(RealData, FullMsrSchemaRowsParse) {
    for (const char* name : {"dbSplit_CWE-1021.csv", "dbSplitPrime_CWE-16.csv"}) {
        std::vector<gk::data::RawRow> rows;
        gk::data::RowRequirements req;
        req.func_after = true;
        gk::data::read_csv_rows(
            data_path(std::string("bigvul/original_schema_examples/") + name), req,
            [&](gk::data::RawRow&& r, const gk::data::RowColumns& cols) {
                EXPECT_TRUE(cols.commit_id && cols.cve && cols.func_after && !cols.split);
                rows.push_back(std::move(r));
            });
        ASSERT_EQ(rows.size(), 1u) << name;
        EXPECT_EQ(rows[0].vul, 1);
        EXPECT_EQ(rows[0].line, 2);
        EXPECT_EQ(rows[0].cwe,
                  std::string(name).find("1021") != std::string::npos ? "CWE-1021" : "CWE-16");
        EXPECT_FALSE(rows[0].commit_id.empty());
        EXPECT_FALSE(rows[0].func_before.empty());
        EXPECT_NE(rows[0].func_before, rows[0].func_after);
    }
}
