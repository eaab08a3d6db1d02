// The listings behind `greenknobs knobs` / `variants`: every knob and variant appears, support is
// reported with the reason, device-dependent values show what they resolve to, and the table wraps
// cells.
#include "greenknobs/knobs/listing.h"

#include <gtest/gtest.h>

using namespace gk::knobs;
using namespace gk::config;

namespace {

const std::string kPaper = std::string(GK_SOURCE_DIR) + "/variants/paper.toml";

bool has(const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
}

Capabilities cpu_without_limits() {
    Capabilities caps;
    caps.power_limit_reason = "no settable power limit here: fake";
    return caps;
}

}  // namespace

TEST(Listing, RenderTableWrapsAndAligns) {
    std::string t = render_table({"a", "b"}, {0, 10}, {{"x", "one two three four"}, {"yy", "z"}});
    EXPECT_EQ(t,
              "a   b\n"
              "--  ----------\n"
              "x   one two\n"
              "    three four\n"
              "\n"
              "yy  z\n");
}

TEST(Listing, KnobSupportHere) {
    Capabilities caps = cpu_without_limits();
    std::string summary;
    EXPECT_FALSE(knob_support_here(find_knob("power_limit"), caps, &summary).ok);
    EXPECT_EQ(summary, "no: no settable power limit here: fake");
    EXPECT_TRUE(knob_support_here(find_knob("precision"), caps, &summary).ok);
    EXPECT_TRUE(has(summary, "yes, except precision=fp16")) << summary;
    EXPECT_TRUE(knob_support_here(find_knob("lora"), caps, &summary).ok);
    EXPECT_EQ(summary, "yes");

    Capabilities cuda;
    cuda.cuda = true;
    cuda.device = "cuda";
    cuda.gpu_power_limit = true;
    EXPECT_TRUE(knob_support_here(find_knob("power_limit"), cuda, &summary).ok);
    EXPECT_TRUE(knob_support_here(find_knob("precision"), cuda, &summary).ok);
    EXPECT_EQ(summary, "yes");
    EXPECT_TRUE(knob_support_here(find_knob("inference_engine"), cuda, &summary).ok);
    EXPECT_TRUE(has(summary, "except dtype=int8")) << summary;
}

TEST(Listing, KnobsTableAndJsonListEveryKnob) {
    Capabilities caps = cpu_without_limits();
    std::string table = knobs_table(caps);
    auto j = knobs_json(caps);
    ASSERT_EQ(j["knobs"].size(), registry().size());
    for (size_t i = 0; i < registry().size(); ++i) {
        EXPECT_TRUE(has(table, registry()[i].name)) << registry()[i].name;
        EXPECT_EQ(j["knobs"][i]["name"], registry()[i].name);
        EXPECT_EQ(j["knobs"][i]["supported"], registry()[i].name != "power_limit")
            << registry()[i].name;
    }
    EXPECT_TRUE(has(table, "evaluation only"));
    EXPECT_TRUE(has(table, "r=8 [1..1024]"));
}

TEST(Listing, VariantsSaySkippedAndWhy) {
    Catalog cat = load_catalog(kPaper);
    Capabilities caps = cpu_without_limits();
    auto j = variants_json(cat, caps);
    ASSERT_EQ(j["variants"].size(), cat.variants.size());
    for (const auto& v : j["variants"]) {
        EXPECT_EQ(v["supported"], v["id"] != "V5") << v["id"];
        EXPECT_EQ(v["config_hash"].get<std::string>().size(), 64u);
    }
    std::string table = variants_table(cat, caps);
    // Cells wrap at spaces, so look for pieces that stay on one line.
    EXPECT_TRUE(has(table, "skipped: power_limit:")) << table;
    EXPECT_EQ(j["variants"][5]["skipped"][0]["reason"], "no settable power limit here: fake");
    EXPECT_TRUE(has(table, "precision=half (bf16 here)"));
    EXPECT_TRUE(has(table, "(int8")) << table;
    EXPECT_TRUE(has(table, "(micro-batch 4 x 2 = 8,"));
    EXPECT_TRUE(has(table, "= V12 + V10 + V6 + X1"));
    EXPECT_TRUE(has(table, "31 run here, skipped: V5"));
    EXPECT_TRUE(has(table, "base: data.max_eval_samples=600")) << table.substr(0, 400);
    EXPECT_TRUE(has(table, "train.batch_size=8")) << table.substr(0, 400);
}
