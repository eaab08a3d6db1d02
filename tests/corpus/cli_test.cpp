// `greenknobs corpus` end to end: a tarball made here -> JSONL + stats, licences and counts in the
// stats, progress on a pipe, and bad input (missing or corrupt tarball, no decontamination) -> 2.
#include "../common/cli.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "corpus_fixture.h"

namespace {

using namespace gk::testing;

class CorpusCliTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string clean =
            "int clean_fn(int a, int b)\n{\n\tint s = a + b;\n\tif (s < 0)\n\t\ts = -s;\n"
            "\treturn s * 2;\n}\n";
        write_tarball(dir_ / "pkg.tar.xz", "xz",
                      {{"pkg/a.c", clean}, {"pkg/leak.c", ref_a() + "\n"}, {"pkg/b.txt", "x"}});
        write_text(dir_ / "refs.csv", "func_before\n" + csv_field(ref_a()) + "\n");
    }
    TempDir dir_{"cli"};
};

TEST_F(CorpusCliTest, BuildsJsonlAndStatsWithLicences) {
    const auto r =
        run_greenknobs("corpus --source pkg=" + (dir_ / "pkg.tar.xz") + ":MIT --decontaminate " +
                       (dir_ / "refs.csv") + " --out " + (dir_ / "out/c.jsonl"));
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r.out, "corpus MB")) << r.out;  // progress, as plain lines on a pipe
    EXPECT_TRUE(has(r.out, "wrote ")) << r.out;
    std::ifstream in(dir_ / "out/c.jsonl");
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        EXPECT_EQ(j.at("source"), "pkg");
        EXPECT_EQ(j.at("path"), "pkg/a.c");
        EXPECT_TRUE(has(j.at("text").get<std::string>(), "clean_fn"));
        ++lines;
    }
    EXPECT_EQ(lines, 1);
    std::ifstream sf(dir_ / "out/c.stats.json");
    const auto stats = nlohmann::json::parse(sf);
    EXPECT_EQ(stats.at("sources").at(0).at("license"), "MIT");
    EXPECT_EQ(stats.at("sources").at(0).at("removed_exact"), 1);
    EXPECT_EQ(stats.at("decontamination").at(0).at("removed_exact"), 1);
    EXPECT_EQ(stats.at("documents"), 1);
}

TEST_F(CorpusCliTest, BadInputExitsWithTwo) {
    const std::string out = " --out " + (dir_ / "x.jsonl");
    auto r = run_greenknobs("corpus --source gone=" + (dir_ / "none.tar.xz") +
                            " --no-decontaminate" + out);
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r.out, "none.tar.xz")) << r.out;

    write_text(dir_ / "corrupt.tar.gz", std::string("\x1f\x8b\x08\x00garbage garbage", 20));
    r = run_greenknobs("corpus --source bad=" + (dir_ / "corrupt.tar.gz") + " --no-decontaminate" +
                       out);
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r.out, "corrupt.tar.gz")) << r.out;

    r = run_greenknobs("corpus --source pkg=" + (dir_ / "pkg.tar.xz") + out);
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r.out, "--decontaminate")) << r.out;

    r = run_greenknobs("corpus --source nameonly --no-decontaminate" + out);
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_FALSE(std::ifstream(dir_ / "x.jsonl").good());  // nothing half-written under its name
}

}  // namespace
