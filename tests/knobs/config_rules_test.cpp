// Regression tests of issue #12 for run configurations and catalogs (docs/input-rules.md): an empty
// file is not a config, integers never wrap, numbers are finite, dates are named, strings are
// UTF-8.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "greenknobs/config/run_config.h"
#include "greenknobs/knobs/catalog.h"
#include "greenknobs/util/error.h"

#include "../common/errors.h"

using gk::testing::error_of;
using namespace gk::knobs;
using namespace gk::config;

namespace {

std::string write_tmp(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + "gk_knobs_" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

std::string toml_error(const std::string& name, const std::string& text) {
    const std::string path = write_tmp(name, text);
    return error_of([&] { load_toml(path); });
}

}  // namespace

TEST(RunConfigRules, AnEmptyFileIsNotAConfig) {
    for (const char* text : {"", "# only a comment\n\n"}) {
        const std::string msg = toml_error("empty.toml", text);
        EXPECT_NE(msg.find("empty.toml: no settings: the file is empty or only comments"),
                  std::string::npos)
            << msg;
    }
    // An empty table still names a key the user meant to set: that is a (trivial) config.
    EXPECT_EQ(toml_error("table.toml", "[train]\n"), "");
}

TEST(RunConfigRules, IntegersNeverWrap) {
    // 2^32 + 1 would become 1 in an int.
    std::string msg = toml_error("wrap.toml", "[train]\nepochs = 4294967297\n");
    EXPECT_NE(msg.find("wrap.toml:train.epochs: 4294967297 is out of range for this key"),
              std::string::npos)
        << msg;
    msg = toml_error("neg.toml", "[train]\nseed = -1\n");
    EXPECT_NE(msg.find("neg.toml:train.seed: expected a non-negative integer, got integer -1"),
              std::string::npos)
        << msg;
    RunConfig c;
    EXPECT_NE(error_of([&] {
                  apply_set(c, "tokenizer.max_length=4294967424");
              }).find("--set:tokenizer.max_length: 4294967424 is out of range"),
              std::string::npos);
    EXPECT_EQ(c.tokenizer.max_length, RunConfig{}.tokenizer.max_length);
}

TEST(RunConfigRules, NumbersAreFinite) {
    for (const char* v : {"inf", "-inf", "nan"}) {
        const std::string msg =
            toml_error("inf.toml", std::string("[energy]\nidle_baseline_s = ") + v + "\n");
        EXPECT_NE(msg.find("inf.toml:energy.idle_baseline_s: expected a finite number"),
                  std::string::npos)
            << msg;
    }
}

TEST(RunConfigRules, DatesAreNamedWithTheirPlace) {
    const std::string msg = toml_error("date.toml", "[data]\npath = 1979-05-27\n");
    EXPECT_NE(msg.find("date.toml:2:8: a date or time value; no key takes one"), std::string::npos)
        << msg;
}

TEST(RunConfigRules, EncodingsAreNamed) {
    std::string utf16 = "\xFF\xFE";
    for (char ch : std::string("[train]\n")) {
        utf16 += ch;
        utf16 += '\0';
    }
    EXPECT_NE(toml_error("utf16.toml", utf16)
                  .find("utf16.toml:1: starts with a UTF-16 LE byte order mark"),
              std::string::npos);
    const std::string latin1 = toml_error("latin1.toml", "[data]\npath = \"caf\xE9.csv\"\n");
    EXPECT_NE(latin1.find("latin1.toml:2:"), std::string::npos) << latin1;
    RunConfig c;
    EXPECT_EQ(error_of([&] { apply_set(c, "data.path=caf\xE9.csv"); }),
              "--set:data.path: the value is not valid UTF-8: byte 0xE9 at byte offset 3 (Latin-1 "
              "or Windows-1252 text? convert with iconv -f latin1 -t utf-8)");
}

TEST(CatalogRules, CatalogNumbersObeyTheSameRules) {
    const std::string path =
        write_tmp("cat.toml",
                  "[base.train]\nepochs = 4294967297\n"
                  "[[variant]]\nid = \"V0\"\nname = \"b\"\nphase = "
                  "\"baseline\"\nbaseline = true\ndiffers_from_paper = \"\"\n");
    EXPECT_NE(
        error_of([&] { load_catalog(path); }).find("train.epochs: 4294967297 is out of range"),
        std::string::npos)
        << error_of([&] { load_catalog(path); });
}
