// Whitespace normalisation, exact dedup (priority test > validation > train, both-label texts
// dropped), shingles and Jaccard with closed-form answers, LSH banding, and near dedup on near.csv
// with known answers.
#include "greenknobs/data/dedup.h"

#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

using namespace gk::data;
using gk::data::testing_util::fixture;
using gk::data::testing_util::input_error_of;

namespace {

Entry entry(const std::string& text, int label, Split split) {
    Entry e;
    e.sample.text = text;
    e.sample.label = label;
    e.split = split;
    return e;
}

// n distinct identifier tokens "t0 t1 ... t(n-1)" with token `changed` (if >= 0) renamed.
std::string token_text(int n, int changed = -1, int changed2 = -1) {
    std::string s;
    for (int i = 0; i < n; ++i) {
        s += (i == changed || i == changed2 ? "u" : "t") + std::to_string(i) +
             (i % 7 == 6 ? "\n" : " ");
    }
    return s;
}

}  // namespace

TEST(Dedup, NormalizeWhitespaceCollapsesAndTrims) {
    EXPECT_EQ(normalize_whitespace("  int\ta(  )\r\n{\n\n  return 1;\n}\n"),
              "int a( ) { return 1; }");
    EXPECT_EQ(normalize_whitespace(" \n\t "), "");
    EXPECT_EQ(normalize_whitespace("x"), "x");
}

TEST(Dedup, ExactKeepsTheEvaluationCopyAndCountsEachKind) {
    std::vector<Entry> v = {
        entry("a  b", 1, Split::kTrain),        // 0: copy of 2 (test) → cross-split
        entry("c", 0, Split::kTrain),           // 1: kept
        entry("a b", 1, Split::kTest),          // 2: kept (test outranks train)
        entry("c\n", 0, Split::kTrain),         // 3: same-split copy of 1
        entry("d", 1, Split::kValidation),      // 4: both labels → dropped
        entry("d", 0, Split::kTrain),           // 5: both labels → dropped
        entry(" a b ", 1, Split::kValidation),  // 6: copy of 2 → cross-split
        entry("e", 1, Split::kValidation),      // 7: kept
    };
    ExactDedupCounts c = dedup_exact(v);
    EXPECT_EQ(c.cross_split_removed, 2);
    EXPECT_EQ(c.duplicates_removed, 1);
    EXPECT_EQ(c.conflicting_dropped, 2);
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].sample.text, "c");
    EXPECT_EQ(v[1].sample.text, "a b");
    EXPECT_EQ(v[1].split, Split::kTest);
    EXPECT_EQ(v[2].sample.text, "e");
}

TEST(Dedup, ShinglesOfDistinctTokens) {
    EXPECT_EQ(shingles(token_text(20)).size(), 16u);  // n - 4 windows of 5
    EXPECT_EQ(shingles("a b c").size(), 1u);          // fewer than 5 tokens: one shingle
    EXPECT_TRUE(shingles(" \n").empty());
    // Punctuation is tokenised one byte at a time; whitespace never matters.
    EXPECT_EQ(shingles("f(a,b);"), shingles("f ( a , b ) ;"));
    EXPECT_EQ(shingles("f(a,b);").size(), 3u);  // 7 tokens
}

TEST(Dedup, JaccardMatchesClosedForm) {
    // Renaming one middle token of n distinct tokens replaces 5 of n-4 shingles: J = (n-9)/(n+1).
    EXPECT_DOUBLE_EQ(jaccard(shingles(token_text(100)), shingles(token_text(100, 50))),
                     91.0 / 101.0);
    EXPECT_DOUBLE_EQ(jaccard(shingles(token_text(50)), shingles(token_text(50, 20))), 41.0 / 51.0);
    // One extra token at the end adds one shingle: J = (n-4)/(n-3).
    EXPECT_DOUBLE_EQ(jaccard(shingles(token_text(44)), shingles(token_text(45))), 40.0 / 41.0);
    EXPECT_DOUBLE_EQ(jaccard(shingles("x y"), shingles("x y")), 1.0);
    EXPECT_DOUBLE_EQ(jaccard(shingles("x y"), shingles("p q")), 0.0);
}

TEST(Dedup, LshBandingKeepsRecallAtTheThreshold) {
    EXPECT_EQ(lsh_rows_per_band(0.9, 128), 8);   // 16 bands of 8: P(candidate | J=0.9) = 0.9999
    EXPECT_EQ(lsh_rows_per_band(0.75, 128), 4);  // 32 bands of 4
    EXPECT_EQ(lsh_rows_per_band(0.5, 128), 2);
    EXPECT_EQ(lsh_rows_per_band(1.0, 128), 128);
}

TEST(Dedup, NearRemovesSameLabelNearDuplicatesOnly) {
    std::vector<Entry> v = {
        entry(token_text(100), 1, Split::kTrain),          // 0: kept
        entry(token_text(100, 50), 1, Split::kTrain),      // 1: J = 0.901 with 0 → removed at 0.9
        entry(token_text(100, 30), 0, Split::kTrain),      // 2: other label → kept
        entry(token_text(100, 10, 80), 1, Split::kTrain),  // 3: J = 0.81 with 0 → kept at 0.9
        entry("int unrelated(void) { return 0; }", 1, Split::kTrain),
    };
    NearDedupOptions opt;
    opt.threshold = 0.9;
    std::vector<Entry> w = v;
    EXPECT_EQ(dedup_near(w, opt), 1);
    ASSERT_EQ(w.size(), 4u);
    EXPECT_EQ(w[1].sample.text, v[2].sample.text);
    // At 0.95 nothing is that close; at 0.8 entry 3 (0.81) goes too.
    w = v;
    opt.threshold = 0.95;
    EXPECT_EQ(dedup_near(w, opt), 0);
    w = v;
    opt.threshold = 0.8;
    EXPECT_EQ(dedup_near(w, opt), 2);
}

TEST(Dedup, NearPrefersTheEvaluationCopy) {
    std::vector<Entry> v = {entry(token_text(100), 1, Split::kTrain),
                            entry(token_text(100, 50), 1, Split::kTest)};
    NearDedupOptions opt;
    EXPECT_EQ(dedup_near(v, opt), 1);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].split, Split::kTest);
}

// near.csv: functions of 128 tokens (124 shingles). One renamed identifier → J = 119/129 = 0.922,
// two → 114/134 = 0.851, three → 109/139 = 0.784. Rows: r1 base (train, 1); r2 +1 rename (train,
// 1); r3 +2 renames (train, 1); r4 +1 (test, 0); r5 +1 (test, 1); r6 other (validation, 0); r7 = r6
// with tabs (train).
TEST(Dedup, NearOnFixtureHasKnownAnswers) {
    gk::config::DataConfig c;
    c.path = fixture("near.csv");
    c.dedup = gk::config::Dedup::kNear;
    c.near_dup_threshold = 0.9;
    Dataset ds = load_dataset(c, 1);
    EXPECT_EQ(ds.report.cross_split_removed, 1);      // r7 (exact stage)
    EXPECT_EQ(ds.report.near_duplicates_removed, 1);  // r1 (0.922 with r5, which test keeps first)
    EXPECT_EQ(ds.train.size(), 2u);  // r2 (0.851 with r5), r3 (0.784 with r2 and r5)
    EXPECT_EQ(ds.test.size(), 2u);   // r4 differs in label from r5, kept
    EXPECT_EQ(ds.validation.size(), 1u);
    c.near_dup_threshold = 0.8;
    ds = load_dataset(c, 1);
    EXPECT_EQ(ds.report.near_duplicates_removed, 2);  // r1, r2
    EXPECT_EQ(ds.train.size(), 1u);
    // At 0.75 r3 goes too and train is empty: an error that says so.
    c.near_dup_threshold = 0.75;
    std::string msg = input_error_of([&] { load_dataset(c, 1); });
    EXPECT_NE(msg.find("split 'train' is empty: all 4 of its samples were removed by "
                       "de-duplication (dedup = near"),
              std::string::npos)
        << msg;
    // dedup = exact leaves the near twins alone.
    c.dedup = gk::config::Dedup::kExact;
    ds = load_dataset(c, 1);
    EXPECT_EQ(ds.report.near_duplicates_removed, 0);
    EXPECT_EQ(ds.train.size(), 3u);
}
