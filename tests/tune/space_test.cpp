// The search space read from the registry: levels that change the config, requirements bundled,
// knobs that cannot run (or cannot act on this base) excluded with the reason.
#include "greenknobs/tune/space.h"

#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/knobs/knob.h"
#include "greenknobs/util/error.h"

namespace gk::tune {

namespace {

config::RunConfig tiny_base() {
    config::RunConfig c;
    c.model.preset = "test-tiny";
    c.tokenizer.max_length = 64;
    c.data.max_train_samples = 96;
    c.data.max_eval_samples = 48;
    return c;
}

const Excluded* excluded(const Space& s, const std::string& knob) {
    for (const auto& e : s.excluded) {
        if (e.knob == knob) {
            return &e;
        }
    }
    return nullptr;
}

}  // namespace

TEST(Space, EveryMoveChangesTheConfigAndNoTwoAreTheSame) {
    const config::RunConfig base = tiny_base();
    knobs::Capabilities caps;  // CPU, no power limit
    Space s = build_space(base, caps, SpaceOptions{});
    ASSERT_GT(s.moves.size(), 10u);
    std::set<std::string> hashes = {config::config_hash(base)};
    std::map<std::string, int> per_knob;
    for (const auto& m : s.moves) {
        const config::RunConfig c = apply_knobs(base, m.knobs, m.id, "test");
        EXPECT_TRUE(hashes.insert(config::config_hash(c)).second) << m.label;
        ++per_knob[m.knob];
    }
    for (const auto& [k, n] : per_knob) {
        EXPECT_LE(n, 4) << k;
    }
    // max_length: shorter settings than the base's 64 are among the levels.
    bool shorter = false;
    for (const auto& m : s.moves) {
        if (m.knob == "max_length" &&
            apply_knobs(base, m.knobs, "x", "t").tokenizer.max_length < 64) {
            shorter = true;
        }
    }
    EXPECT_TRUE(shorter);
}

TEST(Space, ExcludesWhatCannotRunOrActWithTheReason) {
    knobs::Capabilities caps;
    caps.power_limit_reason = "no writable powercap here";
    Space s = build_space(tiny_base(), caps, SpaceOptions{});
    const Excluded* pl = excluded(s, "power_limit");
    ASSERT_NE(pl, nullptr);
    EXPECT_NE(pl->why.find("powercap"), std::string::npos);
    const Excluded* init = excluded(s, "init");  // a control, not a saving
    ASSERT_NE(init, nullptr);
    EXPECT_NE(init->why.find("control"), std::string::npos);
    const Excluded* es = excluded(s, "early_stopping");  // needs >= 2 epochs
    ASSERT_NE(es, nullptr);
    EXPECT_NE(es->why.find("epochs"), std::string::npos);
    for (const auto& m : s.moves) {
        EXPECT_NE(m.knob, "power_limit");
        EXPECT_NE(m.knob, "early_stopping");
    }
}

TEST(Space, BundlesAKnobWithTheKnobItNeeds) {
    SpaceOptions o;
    o.knobs = {"quantization"};
    Space s = build_space(tiny_base(), knobs::Capabilities{}, o);
    ASSERT_FALSE(s.moves.empty());
    for (const auto& m : s.moves) {
        EXPECT_TRUE(m.knobs.contains("lora")) << m.label;
        EXPECT_TRUE(m.knobs.contains("quantization"));
    }
}

// The other parameters' switches come right after the defaults, before the primary parameter's
// other values: a string's other choice (pruning from the bottom) survives a tight --levels.
TEST(Space, SwitchesComeBeforeThePrimarySizes) {
    SpaceOptions o;
    o.knobs = {"prune_layers", "attention"};
    o.max_levels = 2;
    Space s = build_space(tiny_base(), knobs::Capabilities{}, o);
    std::vector<std::string> labels;
    for (const auto& m : s.moves) {
        labels.push_back(m.label);
    }
    ASSERT_EQ(s.moves.size(), 4u) << ::testing::PrintToString(labels);
    EXPECT_EQ(s.moves[0].knob, "attention");  // registry order
    EXPECT_EQ(s.moves[1].knobs["attention"], nlohmann::json({{"unpad", true}}));
    EXPECT_EQ(s.moves[2].knob, "prune_layers");
    EXPECT_EQ(s.moves[3].knobs["prune_layers"], nlohmann::json({{"from", "bottom"}}));
    EXPECT_EQ(apply_knobs(tiny_base(), s.moves[3].knobs, "x", "t").model.prune_from,
              config::PruneFrom::kBottom);
}

// Off CUDA, pinned memory changes nothing that runs: loader with and without it is one level, and
// loader(workers=0) with pinning is the base itself. Training on CUDA both are levels of their own.
TEST(Space, SettingsThatDifferOnlyInACudaOnlyFieldAreOneLevelWithoutAGpu) {
    SpaceOptions o;
    o.knobs = {"loader"};
    o.max_levels = 10;
    const auto params = [](const Space& s) {
        std::vector<nlohmann::json> p;
        for (const auto& m : s.moves) {
            p.push_back(m.knobs["loader"]);
        }
        return p;
    };
    const auto has_params = [](const std::vector<nlohmann::json>& all, const nlohmann::json& p) {
        return std::find(all.begin(), all.end(), p) != all.end();
    };
    const auto cpu = params(build_space(tiny_base(), knobs::Capabilities{}, o));
    EXPECT_FALSE(has_params(cpu, {{"pin_memory", false}})) << ::testing::PrintToString(cpu);
    EXPECT_FALSE(has_params(cpu, {{"workers", 0}})) << ::testing::PrintToString(cpu);
    EXPECT_TRUE(has_params(cpu, nlohmann::json::object())) << ::testing::PrintToString(cpu);
    knobs::Capabilities gpu;
    gpu.cuda = true;
    gpu.device = "cuda";
    EXPECT_EQ(params(build_space(tiny_base(), gpu, o)), cpu);  // a GPU machine, training on CPU
    config::RunConfig on_gpu = tiny_base();
    on_gpu.system.device = config::Device::kCuda;
    const auto cuda = params(build_space(on_gpu, gpu, o));
    EXPECT_TRUE(has_params(cuda, {{"pin_memory", false}})) << ::testing::PrintToString(cuda);
    EXPECT_TRUE(has_params(cuda, {{"workers", 0}})) << ::testing::PrintToString(cuda);
    EXPECT_EQ(cuda.size(), cpu.size() + 2);
}

TEST(Space, KnobFilterAndLevelCap) {
    SpaceOptions o;
    o.knobs = {"max_length", "precision"};
    o.max_levels = 1;
    Space s = build_space(tiny_base(), knobs::Capabilities{}, o);
    ASSERT_EQ(s.moves.size(), 2u);
    EXPECT_EQ(s.moves[0].knob, "max_length");  // registry order
    EXPECT_EQ(s.moves[1].knob, "precision");
    o.knobs = {"no_such_knob"};
    EXPECT_THROW(build_space(tiny_base(), knobs::Capabilities{}, o), InputError);
}

TEST(Space, MergeAndDescribe) {
    nlohmann::json a = {{"lora", {{"r", 8}}}, {"precision", "bf16"}};
    nlohmann::json m = merge_knobs(a, {{"lora", {{"r", 4}}}});
    EXPECT_EQ(m["lora"]["r"], 4);
    EXPECT_EQ(m["precision"], "bf16");
    EXPECT_EQ(describe_knobs(nlohmann::json::object()), "baseline");
    EXPECT_NE(describe_knobs(a).find(" + "), std::string::npos);
}

}  // namespace gk::tune
