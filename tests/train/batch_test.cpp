// Dynamic padding, seeded shuffles, length grouping and background collation (same batches as
// inline).
#include "greenknobs/train/batch.h"

#include <random>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

TokenizedSplit make_split(const std::vector<int>& lengths) {
    TokenizedSplit s;
    for (size_t i = 0; i < lengths.size(); ++i) {
        std::vector<int32_t> row;
        for (int t = 0; t < lengths[i]; ++t) {
            row.push_back(static_cast<int32_t>(10 + i * 7 + static_cast<size_t>(t)));
        }
        s.ids.push_back(row);
        s.labels.push_back(static_cast<int>(i % 2));
    }
    return s;
}

// 1000 samples with a long tail: most short, a few near max_length.
TokenizedSplit skewed_split() {
    std::mt19937 rng(7);
    std::vector<int> lengths;
    for (int i = 0; i < 1000; ++i) {
        double u = std::uniform_real_distribution<double>(0, 1)(rng);
        lengths.push_back(4 + static_cast<int>(250 * u * u * u));
    }
    return make_split(lengths);
}

std::vector<Batch> drain(BatchLoader& loader, int epoch) {
    std::vector<Batch> out;
    loader.start_epoch(epoch);
    Batch b;
    while (loader.next(b)) {
        out.push_back(b);
    }
    return out;
}

TEST(Collate, PadsToTheLongestInTheBatchWithMaskAndCounts) {
    TokenizedSplit s = make_split({3, 5, 2, 40});
    Batch b = collate(s, {0, 1, 2}, /*pad_id=*/99);
    // Longest in the batch (5), not the longest in the split (40) nor any max_length.
    ASSERT_EQ(b.input_ids.sizes(), (std::vector<int64_t>{3, 5}));
    EXPECT_EQ(b.input_ids.dtype(), torch::kInt64);
    EXPECT_EQ(b.attention_mask.dtype(), torch::kInt64);
    EXPECT_EQ(b.attention_mask.sum(1)[0].item<int64_t>(), 3);
    EXPECT_EQ(b.attention_mask.sum(1)[1].item<int64_t>(), 5);
    EXPECT_EQ(b.attention_mask.sum(1)[2].item<int64_t>(), 2);
    EXPECT_EQ(b.input_ids[0][2].item<int64_t>(), s.ids[0][2]);
    EXPECT_EQ(b.input_ids[0][3].item<int64_t>(), 99);
    EXPECT_EQ(b.input_ids[2][4].item<int64_t>(), 99);
    EXPECT_EQ(b.labels[1].item<int64_t>(), 1);
    EXPECT_EQ(b.real_tokens, 10);
    EXPECT_EQ(b.padded_tokens, 15);
    EXPECT_EQ(b.indices, (std::vector<int64_t>{0, 1, 2}));
}

TEST(Collate, RejectsEmptyBatchAndBadIndex) {
    TokenizedSplit s = make_split({3});
    EXPECT_THROW(collate(s, {}, 0), CheckError);
    EXPECT_THROW(collate(s, {1}, 0), CheckError);
}

TEST(Permutation, SeededPerEpochAndCoversEverySample) {
    auto a = epoch_permutation(100, 42, 0);
    EXPECT_EQ(a, epoch_permutation(100, 42, 0));
    EXPECT_NE(a, epoch_permutation(100, 42, 1));
    EXPECT_NE(a, epoch_permutation(100, 43, 0));
    EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 100u);
}

TEST(BatchLoader, ServesThePlanWithPartialLastBatch) {
    TokenizedSplit s = make_split(std::vector<int>(10, 4));
    LoaderOptions o;
    o.batch_size = 4;
    BatchLoader loader(s, o);
    EXPECT_EQ(loader.batches_per_epoch(), 3);
    auto batches = drain(loader, 0);
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[2].size(), 2);
    BatchPlan plan = loader.plan(0);
    for (size_t i = 0; i < plan.size(); ++i) {
        EXPECT_EQ(batches[i].indices, plan[i]);
    }
}

TEST(BatchLoader, GroupByLengthReducesPaddingAndCoversEverySampleOnce) {
    TokenizedSplit s = skewed_split();
    LoaderOptions plain;
    plain.batch_size = 8;
    LoaderOptions grouped = plain;
    grouped.group_by_length = true;
    BatchLoader a(s, plain);
    BatchLoader b(s, grouped);
    for (int epoch = 0; epoch < 2; ++epoch) {
        BatchPlan pa = a.plan(epoch);
        BatchPlan pb = b.plan(epoch);
        std::multiset<int64_t> seen;
        for (const auto& batch : pb) {
            EXPECT_LE(batch.size(), 8u);
            seen.insert(batch.begin(), batch.end());
        }
        ASSERT_EQ(seen.size(), 1000u);
        EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 1000u);
        PaddingStats sa = plan_padding(s, pa);
        PaddingStats sb = plan_padding(s, pb);
        EXPECT_EQ(sa.real_tokens, sb.real_tokens);
        // Grouping must save most of the padding on this skewed set.
        EXPECT_LT(sb.padded_tokens, sa.padded_tokens * 6 / 10)
            << sa.padding_share() << " vs " << sb.padding_share();
        EXPECT_LT(sb.padding_share(), sa.padding_share());
    }
    // The batch order is shuffled, not longest-first every epoch.
    EXPECT_NE(b.plan(0), b.plan(1));
}

TEST(BatchLoader, TwoWorkersYieldIdenticalBatchesInTheSameOrder) {
    TokenizedSplit s = skewed_split();
    for (bool group : {false, true}) {
        LoaderOptions o;
        o.batch_size = 16;
        o.group_by_length = group;
        LoaderOptions w = o;
        w.workers = 2;
        w.prefetch_per_worker = 1;
        BatchLoader inline_loader(s, o);
        BatchLoader worker_loader(s, w);
        for (int epoch = 0; epoch < 2; ++epoch) {
            auto x = drain(inline_loader, epoch);
            auto y = drain(worker_loader, epoch);
            ASSERT_EQ(x.size(), y.size());
            for (size_t i = 0; i < x.size(); ++i) {
                EXPECT_EQ(x[i].indices, y[i].indices);
                EXPECT_TRUE(torch::equal(x[i].input_ids, y[i].input_ids));
                EXPECT_TRUE(torch::equal(x[i].attention_mask, y[i].attention_mask));
                EXPECT_TRUE(torch::equal(x[i].labels, y[i].labels));
                EXPECT_EQ(x[i].padded_tokens, y[i].padded_tokens);
            }
        }
    }
}

// Beside the equality test above: the workers really collated the batches (a loader that ignored
// `workers` would serve the same batches and pass it).
TEST(BatchLoader, StatsSayWhichThreadCollated) {
    TokenizedSplit s = skewed_split();
    LoaderOptions o;
    o.batch_size = 16;
    LoaderOptions w = o;
    w.workers = 2;
    BatchLoader inline_loader(s, o);
    BatchLoader worker_loader(s, w);
    const int64_t n = inline_loader.batches_per_epoch();
    for (int epoch = 0; epoch < 2; ++epoch) {
        drain(inline_loader, epoch);
        drain(worker_loader, epoch);
    }
    LoaderStats a = inline_loader.stats();
    EXPECT_EQ(a.workers_started, 0);
    EXPECT_EQ(a.workers_used, 0);
    EXPECT_EQ(a.batches_inline, 2 * n);
    EXPECT_EQ(a.batches_from_workers, 0);
    LoaderStats b = worker_loader.stats();
    EXPECT_EQ(b.workers_started, 2);
    EXPECT_GE(b.workers_used, 1);
    EXPECT_LE(b.workers_used, 2);
    EXPECT_EQ(b.batches_inline, 0);
    EXPECT_EQ(b.batches_from_workers, 2 * n);
}

TEST(BatchLoader, WorkersStopCleanlyMidEpochAndRethrowErrors) {
    TokenizedSplit s = skewed_split();
    LoaderOptions o;
    o.batch_size = 4;
    o.workers = 2;
    {
        BatchLoader loader(s, o);
        loader.start_epoch(0);
        Batch b;
        ASSERT_TRUE(loader.next(b));
        loader.start_epoch(1);  // abandons epoch 0 with workers mid-flight
        ASSERT_TRUE(loader.next(b));
        EXPECT_EQ(b.indices, loader.plan(1)[0]);
    }  // destructor joins the workers
    // A batch whose every sequence is empty cannot be collated: the worker's error reaches next().
    TokenizedSplit bad = make_split({0});
    LoaderOptions one;
    one.batch_size = 1;
    one.workers = 2;
    BatchLoader loader(bad, one);
    loader.start_epoch(0);
    Batch b;
    EXPECT_THROW(loader.next(b), CheckError);
}

TEST(BatchLoader, PinMemoryOnCpuSaysItDoesNothing) {
    TokenizedSplit s = make_split({3, 4});
    LoaderOptions o;
    o.pin_memory = true;
    BatchLoader loader(s, o, torch::Device(torch::kCPU));
    EXPECT_FALSE(loader.pin_memory_effective());
    EXPECT_NE(loader.pin_memory_note().find("no effect on a CPU device"), std::string::npos);
    auto batches = drain(loader, 0);
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_FALSE(batches[0].input_ids.is_pinned());
}

}  // namespace
}  // namespace gk::train
