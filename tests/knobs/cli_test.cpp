// `greenknobs knobs` and `greenknobs variants` end to end: the real binary, its output and exit
// codes.
#include "../common/cli.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "expected_knobs.h"

namespace {

using gk::testing::has;
using Result = gk::testing::CliResult;

Result run(const std::string& args) { return gk::testing::run_greenknobs(args); }

}  // namespace

TEST(Cli, KnobsTable) {
    Result r = run("knobs");
    ASSERT_EQ(r.rc, 0) << r.out;
    for (const std::string& k : gk::testing::expected_knob_names()) {
        EXPECT_TRUE(has(r.out, k)) << k;
    }
    EXPECT_TRUE(has(r.out, "supported here (cpu)"));
    EXPECT_TRUE(has(r.out, "evaluation only"));
}

TEST(Cli, KnobsJson) {
    Result r = run("knobs --json");
    ASSERT_EQ(r.rc, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["device"], "cpu");
    EXPECT_EQ(j["knobs"].size(), gk::testing::expected_knob_names().size());
    // A parameter that acts only when training on CUDA says so (the tune's space compares what
    // runs); the others carry no flag.
    int cuda_only = 0;
    for (const auto& k : j["knobs"]) {
        for (const auto& p : k["params"]) {
            if (p.value("cuda_only", false)) {
                ++cuda_only;
                EXPECT_EQ(p["config_key"], "train.pin_memory") << k["name"];
            }
        }
    }
    EXPECT_EQ(cuda_only, 1);
}

TEST(Cli, VariantsPaperCatalog) {
    Result r =
        run("variants --catalog " + std::string(GK_SOURCE_DIR) + "/variants/paper.toml --json");
    ASSERT_EQ(r.rc, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    int ids = 0;
    for (const auto& v : j["variants"]) {
        const std::string id = v["id"];
        ids += id[0] == 'V';
        if (id != "V5") {
            EXPECT_TRUE(v["supported"].get<bool>()) << id << " " << v["skipped"].dump();
        } else if (!v["supported"].get<bool>()) {
            EXPECT_EQ(v["skipped"][0]["knob"], "power_limit");
            EXPECT_FALSE(v["skipped"][0]["reason"].get<std::string>().empty());
        }
    }
    EXPECT_EQ(ids, 31);

    Result t = run("variants --catalog " + std::string(GK_SOURCE_DIR) + "/variants/paper.toml");
    ASSERT_EQ(t.rc, 0) << t.out;
    EXPECT_TRUE(has(t.out, "Layer Pruning (20 Bottom)"));
    EXPECT_TRUE(has(t.out, "differs from the paper"));
}

TEST(Cli, VariantsOnCudaResolvesHalfToFp16) {
    Result r = run("variants --catalog " + std::string(GK_SOURCE_DIR) +
                   "/variants/paper.toml --device cuda");
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "precision=half (fp16 here)")) << r.out;
}

TEST(Cli, BadCatalogExitsTwoNamingFileAndVariant) {
    std::string path = testing::TempDir() + "cli_bad.toml";
    std::ofstream(path)
        << "[[variant]]\nid = \"V0\"\nname = \"B\"\nphase = \"baseline\"\nbaseline = true\n"
           "differs_from_paper = \"-\"\n[[variant]]\nid = \"V7\"\nname = \"F\"\n"
           "phase = \"training\"\ndiffers_from_paper = \"-\"\nknobs = { precision = \"fp8\" }\n";
    Result r = run("variants --catalog " + path);
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r.out, "cli_bad.toml:V7:precision.precision")) << r.out;

    Result missing = run("variants --catalog /nonexistent/x.toml");
    EXPECT_EQ(missing.rc, 2) << missing.out;
    EXPECT_TRUE(has(missing.out, "/nonexistent/x.toml")) << missing.out;

    Result device = run("knobs --device tpu");
    EXPECT_EQ(device.rc, 2) << device.out;
}
