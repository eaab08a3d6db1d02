// Packing and masking for masked-LM pretraining: shapes, ModernBERT's 30 % / 80-10-10 rule, special
// tokens never masked, and masks that depend only on (seed, row key) — what makes resume exact.
#include "greenknobs/pretrain/packing.h"

#include <cstdio>

#include <gtest/gtest.h>

#include "greenknobs/util/fs.h"

using namespace gk::pretrain;

TEST(Packing, ConcatenatesDocumentsAndDropsThePartialRow) {
    std::vector<std::vector<int32_t>> docs = {{1, 10, 11, 2}, {1, 12, 2}, {1, 13, 14, 15, 2}};
    int64_t dropped = -1;
    PackedRows rows = pack(docs, 5, &dropped);
    ASSERT_EQ(rows.rows(), 2);
    EXPECT_EQ(dropped, 2);
    EXPECT_EQ(std::vector<int32_t>(rows.row(0), rows.row(0) + 5),
              (std::vector<int32_t>{1, 10, 11, 2, 1}));
    EXPECT_EQ(std::vector<int32_t>(rows.row(1), rows.row(1) + 5),
              (std::vector<int32_t>{12, 2, 1, 13, 14}));
}

TEST(Masking, FollowsThe30PercentAnd80_10_10Rule) {
    MaskSpec spec;
    spec.mask_prob = 0.3;
    spec.mask_id = 4;
    spec.vocab_size = 1000;
    spec.never_mask = {1, 2, 0, 4};
    const int n = 200;
    std::vector<int32_t> ids(n);
    for (int i = 0; i < n; ++i) {
        ids[i] = (i % 50 == 0) ? 1 : (i % 50 == 49 ? 2 : 100 + i % 700);
    }
    int64_t eligible = 0, selected = 0, masked = 0, kept = 0, random = 0;
    std::vector<int32_t> in(n);
    std::vector<uint8_t> sel(n);
    for (uint64_t row = 0; row < 500; ++row) {
        mask_row(ids.data(), n, spec, /*seed=*/7, row, in.data(), sel.data());
        for (int i = 0; i < n; ++i) {
            const bool special = ids[i] == 1 || ids[i] == 2;
            eligible += special ? 0 : 1;
            if (special) {
                EXPECT_EQ(sel[i], 0);
                EXPECT_EQ(in[i], ids[i]);
                continue;
            }
            if (!sel[i]) {
                EXPECT_EQ(in[i], ids[i]);  // unselected tokens are never corrupted
                continue;
            }
            ++selected;
            if (in[i] == 4) {
                ++masked;
            } else if (in[i] == ids[i]) {
                ++kept;
            } else {
                ++random;
                EXPECT_GE(in[i], 0);
                EXPECT_LT(in[i], 1000);
            }
        }
    }
    const double rate = static_cast<double>(selected) / static_cast<double>(eligible);
    EXPECT_NEAR(rate, 0.3, 0.01);
    EXPECT_NEAR(static_cast<double>(masked) / selected, 0.8, 0.01);
    // A random draw can hit the original id (1 in 1000): "kept" is 10 % plus that.
    EXPECT_NEAR(static_cast<double>(kept) / selected, 0.1, 0.01);
    EXPECT_NEAR(static_cast<double>(random) / selected, 0.1, 0.01);
}

TEST(Masking, DependsOnlyOnSeedAndRowKey) {
    MaskSpec spec;
    spec.mask_id = 4;
    spec.vocab_size = 50;
    std::vector<int32_t> ids(64);
    for (int i = 0; i < 64; ++i) {
        ids[i] = 10 + i % 30;
    }
    std::vector<int32_t> a(64), b(64), c(64);
    std::vector<uint8_t> sa(64), sb(64), sc(64);
    mask_row(ids.data(), 64, spec, 42, 12345, a.data(), sa.data());
    mask_row(ids.data(), 64, spec, 42, 99, c.data(), sc.data());  // another row in between
    mask_row(ids.data(), 64, spec, 42, 12345, b.data(), sb.data());
    EXPECT_EQ(a, b);
    EXPECT_EQ(sa, sb);
    EXPECT_NE(sa, sc);
    mask_row(ids.data(), 64, spec, 43, 12345, c.data(), sc.data());
    EXPECT_NE(sa, sc);  // another seed, other masks
}

TEST(RowFiles, RoundTripAndRejectAnotherKeyOrATruncatedFile) {
    PackedRows rows = pack({{1, 2, 3, 4, 5, 6, 7, 8, 9}}, 4);
    const std::string path = testing::TempDir() + "gk_rows_test.rows";
    write_rows(path, rows, "key-a");
    PackedRows back;
    ASSERT_TRUE(read_rows(path, "key-a", &back));
    EXPECT_EQ(back.ids, rows.ids);
    EXPECT_EQ(back.max_length, 4);
    EXPECT_FALSE(read_rows(path, "key-b", &back));
    EXPECT_EQ(back.rows(), 0);
    std::string bytes = gk::fs::read_file(path);
    gk::fs::write_file_atomic(path, bytes.substr(0, bytes.size() - 3));
    EXPECT_FALSE(read_rows(path, "key-a", &back));
    EXPECT_FALSE(read_rows(path + ".absent", "key-a", &back));
}
