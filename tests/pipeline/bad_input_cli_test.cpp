// Bad input through the real binary (issue #12): exit 2 with one printable line naming file and
// place, and a run directory whose run.json says "failed" with that message, never "running".
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "greenknobs/util/fs.h"
#include "greenknobs/util/text_check.h"

#include "../common/cli.h"

namespace {

using gk::testing::has;
using gk::testing::run_greenknobs;
using nlohmann::json;
namespace stdfs = std::filesystem;

std::string scratch(const std::string& name) {
    return ::testing::TempDir() + "gk" + std::to_string(::getpid()) + "_" + name;
}

std::string write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

std::string source(const std::string& rel) { return std::string(GK_SOURCE_DIR) + "/" + rel; }

// A small CSV with a split column, so a run reaches the model quickly.
std::string small_csv(const std::string& name, const std::string& extra_row = "") {
    std::string text = "func_before,vul,split\n";
    for (int i = 0; i < 8; ++i) {
        text += "\"int f" + std::to_string(i) + "(){return " + std::to_string(i) + ";}\"," +
                std::to_string(i % 2) + "," +
                (i < 4   ? "train"
                 : i < 6 ? "validation"
                         : "test") +
                "\n";
    }
    return write(scratch(name), text + extra_row);
}

std::string train_args(const std::string& csv, const std::string& out) {
    return "-q train --set model.preset=test-tiny --set tokenizer.max_length=32 --set "
           "energy.sample_period_s=0.05 --set data.path=" +
           csv + " --set tokenizer.path=" + source("data/modernbert/tokenizer.json") + " --out " +
           out;
}

// The one line greenknobs printed for the error (the output holds nothing else with -q).
void expect_one_error_line(const std::string& out) {
    EXPECT_EQ(out.rfind("greenknobs: error: ", 0), 0u) << out;
    EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
    EXPECT_EQ(gk::printable(out.substr(0, out.size() - 1)), out.substr(0, out.size() - 1));
}

json run_record(const std::string& dir) {
    return json::parse(gk::fs::read_file(dir + "/run.json"));
}

}  // namespace

TEST(BadInputCli, InvalidUtf8InDataFailsTheRunWithExit2) {
    const std::string csv = small_csv("latin1.csv", "\"caf\xE9\",1,train\n");
    const std::string dir = scratch("run_latin1");
    stdfs::remove_all(dir);
    auto r = run_greenknobs(train_args(csv, dir));
    EXPECT_EQ(r.rc, 2) << r.out;
    expect_one_error_line(r.out);
    EXPECT_TRUE(has(r.out, csv + ":10: not valid UTF-8: byte 0xE9 at byte offset")) << r.out;
    json rec = run_record(dir);
    EXPECT_EQ(rec["status"], "failed");
    EXPECT_TRUE(has(rec["error"].get<std::string>(), "not valid UTF-8: byte 0xE9")) << rec["error"];
    EXPECT_TRUE(rec["finished_at"].is_string());
}

TEST(BadInputCli, TokenizerIdsBeyondTheModelVocabularyAreBadInput) {
    // The tiny checkpoint has 256 ids; ModernBERT's tokenizer yields up to 50367.
    const std::string dir = scratch("run_vocab");
    stdfs::remove_all(dir);
    auto r = run_greenknobs(train_args(small_csv("vocab.csv"), dir) + " --init-from " +
                            source("data/tiny-modernbert-random/base"));
    EXPECT_EQ(r.rc, 2) << r.out;
    expect_one_error_line(r.out);
    EXPECT_TRUE(has(r.out, "tokenizer.json: yields token ids up to 50367")) << r.out;
    EXPECT_TRUE(has(r.out, "but the model's vocab_size is 256")) << r.out;
    EXPECT_FALSE(has(r.out, "index out of range")) << r.out;
    EXPECT_EQ(run_record(dir)["status"], "failed");
}

TEST(BadInputCli, AbsurdModelSizeIsBadInputNotACrash) {
    const std::string model = scratch("huge_model");
    stdfs::create_directories(model);
    write(model + "/config.json",
          R"({"model_type":"modernbert","vocab_size":50368,"hidden_size":4294967296,)"
          R"("intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":2})");
    const std::string dir = scratch("run_huge");
    stdfs::remove_all(dir);
    auto r = run_greenknobs(train_args(small_csv("huge.csv"), dir) + " --init-from " + model);
    EXPECT_EQ(r.rc, 2) << r.out;
    expect_one_error_line(r.out);
    EXPECT_TRUE(has(r.out, "config.json:hidden_size: model too large for this machine")) << r.out;
    EXPECT_EQ(run_record(dir)["status"], "failed");
}

TEST(BadInputCli, NonUtf8OptionValueIsRejectedBeforeTheRun) {
    const std::string dir = scratch("run_badset");
    stdfs::remove_all(dir);
    auto r = run_greenknobs(train_args(std::string("\"caf\xE9.csv\""), dir));
    EXPECT_EQ(r.rc, 2) << r.out;
    expect_one_error_line(r.out);
    EXPECT_TRUE(has(r.out, "--set:data.path: the value is not valid UTF-8")) << r.out;
    EXPECT_FALSE(stdfs::exists(dir + "/run.json"));
}
