// Command catalogs: strict parsing, knob arguments and environment in each run's spec, seeds per
// repeat, combinations inferred and checked, and the plan's order and hashes.
#include "greenknobs/study/command_catalog.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

#include "../common/temp_dir.h"

namespace gk::study {
namespace {

class CommandCatalogTest : public ::testing::Test {
  protected:
    std::string write(const std::string& text, const std::string& name = "c.toml") {
        std::string p = dir_ + "/" + name;
        std::ofstream(p) << text;
        return p;
    }
    gk::testing::TempDir tmp_{"cmd_catalog"};
    std::string dir_ = tmp_.path();
};

const char* kCatalog = R"(
description = "demo"
[base]
argv = ["python3", "train.py", "--epochs", "1"]
cwd = "work"
env = { OMP_NUM_THREADS = "2" }
seed_arg = "--seed"
seed_env = "SEED"
seed = 7
[report]
primary_metric = "acc"
eval_stage = "test"
[[knob]]
name = "bf16"
phase = "training"
changes = "bf16 autocast"
args = ["--bf16"]
[[knob]]
name = "short"
phase = "data"
changes = "shorter sequences"
args = ["--max-length", "64"]
env = { TRIM = "1" }
[[variant]]
id = "V0"
baseline = true
[[variant]]
id = "V1"
knobs = ["bf16"]
[[variant]]
id = "V2"
knobs = ["short"]
[[variant]]
id = "V3"
knobs = ["bf16", "short"]
)";

TEST_F(CommandCatalogTest, ParsesKnobsVariantsAndInfersCombinations) {
    std::string p = write(kCatalog);
    EXPECT_TRUE(is_command_catalog(p));
    CommandCatalog c = load_command_catalog(p);
    EXPECT_EQ(c.argv.size(), 4u);
    EXPECT_EQ(c.seed, 7);
    EXPECT_EQ(c.primary_metric, "acc");
    EXPECT_EQ(c.primary_label, "acc");
    ASSERT_EQ(c.variants.size(), 4u);
    EXPECT_EQ(c.find("V0").phase, "baseline");
    EXPECT_EQ(c.find("V1").phase, "training");
    EXPECT_EQ(c.find("V1").name, "bf16 autocast");
    EXPECT_EQ(c.find("V3").phase, "training+data");
    EXPECT_EQ(c.find("V3").combines, (std::vector<std::string>{"V1", "V2"}));
    knobs::Catalog k = c.as_catalog();
    EXPECT_EQ(k.baseline().id, "V0");
    EXPECT_TRUE(k.find("V3").is_combination());
    EXPECT_EQ(k.find("V2").knobs["short"]["env"]["TRIM"], "1");
}

TEST_F(CommandCatalogTest, SpecAddsKnobArgumentsEnvironmentAndSeedPerRepeat) {
    CommandCatalog c = load_command_catalog(write(kCatalog));
    nlohmann::json s = c.spec("V3", 2, 7);
    EXPECT_EQ(s["argv"], nlohmann::json({"python3", "train.py", "--epochs", "1", "--bf16",
                                         "--max-length", "64", "--seed", "9"}));
    EXPECT_EQ(s["env"]["SEED"], "9");
    EXPECT_EQ(s["env"]["TRIM"], "1");
    EXPECT_EQ(s["env"]["OMP_NUM_THREADS"], "2");
    EXPECT_EQ(s["cwd"], "work");
    EXPECT_EQ(s["primary_metric"], "acc");
    EXPECT_EQ(s["eval_stage"], "test");
    EXPECT_EQ(s["knobs"].size(), 2u);
    EXPECT_EQ(s["knobs"][0]["name"], "bf16");
    // Same run, same hash; another repeat (seed) or variant, another hash.
    EXPECT_EQ(s["config_hash"], c.spec("V3", 2, 7)["config_hash"]);
    EXPECT_NE(s["config_hash"], c.spec("V3", 1, 7)["config_hash"]);
    EXPECT_NE(s["config_hash"], c.spec("V1", 2, 7)["config_hash"]);
}

std::string error_of(const std::string& path);

// The table form declares direction, range and budget; the spec carries them as "primary" (what
// the report reads from run.json's config). The string form's spec has no "primary": hashes of
// studies started before the table form existed stay the same.
TEST_F(CommandCatalogTest, PrimaryMetricTableDeclaresDirectionRangeAndBudget) {
    std::string text = kCatalog;
    const std::string old_report = "primary_metric = \"acc\"\n";
    const std::string string_form_hash =
        load_command_catalog(write(text)).spec("V1", 0, 7)["config_hash"].get<std::string>();
    EXPECT_FALSE(load_command_catalog(write(text)).spec("V1", 0, 7).contains("primary"));
    text.replace(text.find(old_report), old_report.size(),
                 "primary_metric = { name = \"val_loss\", higher_is_better = false, budget = 0.02 "
                 "}\nprimary_label = \"validation loss\"\n");
    CommandCatalog c = load_command_catalog(write(text, "table.toml"));
    EXPECT_TRUE(c.primary_declared);
    EXPECT_EQ(c.primary_metric, "val_loss");
    EXPECT_FALSE(c.primary_higher_is_better);
    EXPECT_TRUE(c.primary_range.empty());
    EXPECT_DOUBLE_EQ(c.primary_budget, 0.02);
    nlohmann::json s = c.spec("V1", 0, 7);
    EXPECT_EQ(s["primary_metric"], "val_loss");
    EXPECT_EQ(s["primary"]["higher_is_better"], false);
    EXPECT_EQ(s["primary"]["label"], "validation loss");
    EXPECT_TRUE(s["primary"]["range"].is_null());
    EXPECT_EQ(s["primary"]["budget"], 0.02);
    EXPECT_NE(s["config_hash"], string_form_hash);

    const std::string head =
        "[base]\nargv = [\"true\"]\n[[variant]]\nid = \"V0\"\nbaseline = true\n";
    const std::pair<std::string, std::string> bad[] = {
        {"{ name = \"loss\" }", "report.primary_metric.higher_is_better"},
        {"{ name = \"loss\", higher_is_better = \"no\" }",
         "report.primary_metric.higher_is_better"},
        {"{ higher_is_better = true }", "report.primary_metric.name"},
        {"{ name = \"acc\", higher_is_better = true, range = [1, 0] }",
         "report.primary_metric.range"},
        {"{ name = \"acc\", higher_is_better = true, budget = -1 }",
         "report.primary_metric.budget"},
        {"{ name = \"acc\", higher_is_better = true, scale = 2 }", "scale: unknown key"},
    };
    for (const auto& [table, expect] : bad) {
        const std::string p =
            write("[report]\nprimary_metric = " + table + "\n" + head, "bad.toml");
        EXPECT_NE(error_of(p).find(expect), std::string::npos) << table << " -> " << error_of(p);
    }
    CommandCatalog ranged = load_command_catalog(
        write("[report]\nprimary_metric = { name = \"acc\", higher_is_better = true, range = [0, "
              "100] }\n" +
                  head,
              "ranged.toml"));
    EXPECT_EQ(ranged.primary_range, (std::vector<double>{0.0, 100.0}));
}

TEST_F(CommandCatalogTest, PlanInterleavesVariantsAndRepeats) {
    PlanOptions o;
    o.catalog_path = write(kCatalog);
    o.repeats = 3;
    o.variants = {"V2", "V0"};
    Plan plan = make_plan(o);  // the generic entry point recognises a command catalog
    EXPECT_EQ(plan.seed, 7);
    EXPECT_EQ(plan.variants, (std::vector<std::string>{"V0", "V2"}));
    ASSERT_EQ(plan.runs.size(), 6u);
    std::set<std::string> hashes;
    for (size_t i = 0; i < plan.runs.size(); ++i) {
        const auto& r = plan.runs[i];
        EXPECT_FALSE(r.command.is_null());
        EXPECT_EQ(r.command["variant"], r.variant);
        EXPECT_EQ(r.command["seed"], 7 + r.repeat);
        hashes.insert(r.config_hash);
        if (i > 0) {
            EXPECT_NE(r.variant, plan.runs[i - 1].variant) << "a variant ran twice in a row";
        }
    }
    EXPECT_EQ(hashes.size(), 6u);
    o.sets = {"train.lr=1"};
    EXPECT_THROW(make_plan(o), InputError);
}

std::string error_of(const std::string& path) {
    try {
        load_command_catalog(path);
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

TEST_F(CommandCatalogTest, BadCatalogsNameFileAndPlace) {
    const std::string head = "[base]\nargv = [\"true\"]\n";
    const std::string base_v = "[[variant]]\nid = \"V0\"\nbaseline = true\n";
    const std::string knob =
        "[[knob]]\nname = \"k\"\nphase = \"training\"\nchanges = \"x\"\nargs = [\"-k\"]\n";
    struct Case {
        std::string text, expect;
    };
    std::vector<Case> cases = {
        {"[base]\nargv = []\n" + base_v, "base.argv"},
        {head + "colour = 1\n" + base_v, "colour: unknown key"},
        {head + base_v + "[[variant]]\nid = \"V1\"\nknobs = [\"nope\"]\n", "no knob 'nope'"},
        {head + "[[knob]]\nname = \"k\"\nphase = \"lunch\"\nchanges = \"x\"\nargs = [\"-k\"]\n" +
             base_v,
         "knob[0].phase"},
        {head + "[[knob]]\nname = \"k\"\nphase = \"data\"\nchanges = \"x\"\n" + base_v,
         "changes nothing"},
        {head + knob + "[[variant]]\nid = \"V1\"\nknobs = [\"k\"]\n", "exactly one variant"},
        {head + knob + base_v + "[[variant]]\nid = \"V1\"\n", "V1.knobs"},
        {head + knob + base_v + "[[variant]]\nid = \"V1\"\nknobs = [\"k\"]\ncombines = [\"V0\"]\n",
         "not a single-knob variant"},
        {head + "[tune]\nfidelity_arg = \"--f\"\n" + base_v, "tune.validation_metric"},
        {head + "[tune]\nvalidation_metric = \"v\"\nfidelity = 1\n" + base_v,
         "tune.fidelity: unknown key"},
        {head + "[report]\nprimary_metric = \"acc\"\n[tune]\nvalidation_metric = \"acc\"\n" +
             base_v,
         "is the primary metric"},
        {head + "[[knob]]\nname = \"k\"\nphase = \"data\"\nchanges = \"x\"\nargs = [\"-k\"]\n" +
             "group = \"\"\n" + base_v,
         "knob[0].group"},
    };
    for (const auto& c : cases) {
        std::string p = write(c.text);
        std::string e = error_of(p);
        EXPECT_NE(e.find(p), std::string::npos) << c.text << "\n-> " << e;
        EXPECT_NE(e.find(c.expect), std::string::npos) << c.text << "\n-> " << e;
    }
    EXPECT_FALSE(is_command_catalog(std::string(GK_SOURCE_DIR) + "/variants/quick.toml"));
}

TEST_F(CommandCatalogTest, ReadsWhatATuneNeedsAndGroupsAlternativeSettings) {
    std::string text = kCatalog;
    text.insert(text.find("[[knob]]\nname = \"short\""),
                "[[knob]]\nname = \"shorter\"\nphase = \"data\"\nchanges = \"32 tokens\"\n"
                "args = [\"--max-length\", \"32\"]\ngroup = \"length\"\n");
    text.insert(text.find("[[knob]]"),
                "[tune]\nvalidation_metric = \"val_acc\"\n"
                "fidelity_arg = \"--share\"\nlatency_metric = \"ms\"\n");
    const CommandCatalog c = load_command_catalog(write(text));
    EXPECT_EQ(c.tune_validation_metric, "val_acc");
    EXPECT_EQ(c.tune_fidelity_arg, "--share");
    EXPECT_EQ(c.tune_fidelity_env, "");
    EXPECT_EQ(c.tune_latency_metric, "ms");
    EXPECT_EQ(c.knob("shorter").group, "length");
    EXPECT_EQ(c.knob("bf16").group, "bf16");  // a knob alone is its own group
    // The group is the tune's business: a study's run specs (and their hashes) do not carry it.
    const CommandCatalog plain = load_command_catalog(write(kCatalog, "plain.toml"));
    EXPECT_EQ(c.spec("V3", 0, 7)["config_hash"], plain.spec("V3", 0, 7)["config_hash"]);
    EXPECT_EQ(plain.tune_validation_metric, "");
}

TEST_F(CommandCatalogTest, TheExampleCatalogsShareTheirKnobs) {
    // tiny.toml is the CI-scale copy of study.toml: same knobs and variants, smaller base.
    const std::string dir = std::string(GK_SOURCE_DIR) + "/examples/juliet_torch/";
    CommandCatalog full = load_command_catalog(dir + "study.toml");
    CommandCatalog tiny = load_command_catalog(dir + "tiny.toml");
    ASSERT_EQ(full.knobs.size(), tiny.knobs.size());
    for (size_t i = 0; i < full.knobs.size(); ++i) {
        EXPECT_EQ(full.knobs[i].name, tiny.knobs[i].name);
        EXPECT_EQ(full.knobs[i].args, tiny.knobs[i].args);
        EXPECT_EQ(full.knobs[i].phase, tiny.knobs[i].phase);
    }
    EXPECT_EQ(full.tune_validation_metric, "val_f1_vul");  // both can be tuned, the same way
    EXPECT_EQ(full.tune_validation_metric, tiny.tune_validation_metric);
    EXPECT_EQ(full.tune_fidelity_arg, tiny.tune_fidelity_arg);
    ASSERT_EQ(full.variants.size(), tiny.variants.size());
    for (size_t i = 0; i < full.variants.size(); ++i) {
        EXPECT_EQ(full.variants[i].knobs, tiny.variants[i].knobs);
    }
    std::set<std::string> phases;
    for (const auto& k : full.knobs) {
        phases.insert(k.phase);
    }
    EXPECT_GE(full.knobs.size(), 4u);
    EXPECT_GE(phases.size(), 3u);
}

}  // namespace
}  // namespace gk::study
