// The plan: seeded interleaving (every run once, deterministic, not catalog order, no back-to-back
// variant), per-repeat seeds, --set and --seed handling, bad input.
#include "greenknobs/study/plan.h"

#include <map>
#include <set>

#include "greenknobs/util/error.h"

#include "study_fixture.h"

namespace gk::study {
namespace {

using PlanTest = gk::testing::StudyTest;

TEST(InterleavedOrder, EveryRunOnceInRepeatBlocks) {
    const std::vector<std::string> v = {"V0", "V1", "V2", "V3", "V4", "V5"};
    auto order = interleaved_order(v, 3, 42);
    ASSERT_EQ(order.size(), 18u);
    for (int r = 0; r < 3; ++r) {
        std::set<std::string> block;
        for (int i = 0; i < 6; ++i) {
            EXPECT_EQ(order[r * 6 + i].second, r);
            block.insert(order[r * 6 + i].first);
        }
        EXPECT_EQ(block.size(), 6u) << "block " << r << " is a permutation";
    }
}

TEST(InterleavedOrder, SeededDeterministicAndNotCatalogOrder) {
    const std::vector<std::string> v = {"V0", "V1", "V2", "V3", "V4", "V5", "V6", "V7"};
    auto a = interleaved_order(v, 4, 42);
    EXPECT_EQ(a, interleaved_order(v, 4, 42));
    EXPECT_NE(a, interleaved_order(v, 4, 43));
    std::vector<std::pair<std::string, int>> catalog_order;
    for (int r = 0; r < 4; ++r) {
        for (const auto& id : v) {
            catalog_order.emplace_back(id, r);
        }
    }
    EXPECT_NE(a, catalog_order);
    // Blocks are shuffled independently: not the same permutation repeated.
    bool blocks_differ = false;
    for (size_t i = 0; i < v.size(); ++i) {
        blocks_differ |= a[i].first != a[v.size() + i].first;
    }
    EXPECT_TRUE(blocks_differ);
}

TEST(InterleavedOrder, NoVariantRunsTwiceInARow) {
    const std::vector<std::string> v = {"V0", "V1", "V2"};
    for (uint64_t seed = 0; seed < 200; ++seed) {
        auto o = interleaved_order(v, 5, seed);
        for (size_t i = 1; i < o.size(); ++i) {
            ASSERT_NE(o[i].first, o[i - 1].first) << "seed " << seed << " position " << i;
        }
    }
}

TEST_F(PlanTest, RepeatsGetDistinctSeedsAndHashes) {
    PlanOptions o = options("V7,V0", 3).plan;
    Plan p = make_plan(o);
    EXPECT_EQ(p.variants,
              (std::vector<std::string>{"V0", "V7"}));  // catalog order, whatever was given
    EXPECT_EQ(p.seed, 42);
    ASSERT_EQ(p.runs.size(), 6u);
    std::set<std::string> hashes;
    for (const auto& r : p.runs) {
        EXPECT_EQ(r.config.train.seed, 42u + static_cast<uint64_t>(r.repeat)) << r.key();
        EXPECT_EQ(r.config.name, r.variant);
        EXPECT_EQ(r.config_hash, config::config_hash(r.config));
        hashes.insert(r.config_hash);
    }
    EXPECT_EQ(hashes.size(), 6u);
    std::map<std::string, std::string> precision;
    for (const auto& r : p.runs) {
        precision[r.variant] = config::to_string(r.config.train.precision);
    }
    EXPECT_EQ(precision["V0"], "fp32");
    EXPECT_NE(precision["V7"], "fp32");  // the knob was applied
}

TEST_F(PlanTest, SetsApplyToEveryVariantAndSeedOverrides) {
    PlanOptions o = options("V0,V1,V8", 2).plan;
    o.sets = {"data.max_train_samples=77", "tokenizer.max_length=128"};
    o.seed = 7;
    o.idle_s = 1.5;
    Plan p = make_plan(o);
    for (const auto& r : p.runs) {
        EXPECT_EQ(r.config.data.max_train_samples, 77) << r.key();
        EXPECT_EQ(r.config.train.seed, 7u + static_cast<uint64_t>(r.repeat));
        EXPECT_DOUBLE_EQ(r.config.energy.idle_baseline_s, 1.5);
        // --set tunes the base; a variant's knob stays itself (V8 trims to 64 whatever the base
        // says).
        EXPECT_EQ(r.config.tokenizer.max_length, r.variant == "V8" ? 64 : 128) << r.key();
    }
}

TEST_F(PlanTest, BadInput) {
    PlanOptions o = options("V0,V99", 1).plan;
    EXPECT_THROW(make_plan(o), InputError);
    o = options("V0,V0", 1).plan;
    EXPECT_THROW(make_plan(o), InputError);
    o = options("V0", 0).plan;
    EXPECT_THROW(make_plan(o), InputError);
    o = options("V0", 1).plan;
    o.sets = {"train.no_such_key=1"};
    EXPECT_THROW(make_plan(o), InputError);
}

TEST(StageHint, ReadsExplicitAndPipelineLines) {
    EXPECT_EQ(stage_hint("[info] stage: train/validate"), "train/validate");
    EXPECT_EQ(stage_hint("stage: evaluate"), "evaluate");
    EXPECT_EQ(stage_hint("[info] data: 800 train / 100 validation / 100 test samples"), "tokenize");
    EXPECT_EQ(stage_hint("train 12/100 loss 0.4 elapsed 3s eta 20s"), "train");
    EXPECT_EQ(stage_hint("[info] epoch 1: train loss 0.3"), "train");
    EXPECT_EQ(stage_hint("something else"), "");
}

}  // namespace
}  // namespace gk::study
