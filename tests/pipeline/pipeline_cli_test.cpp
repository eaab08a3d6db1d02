// The pipeline end to end through `greenknobs train` / `predict` on a tiny model and a slice of the
// bundled Juliet data: the run directory's contract (docs/design.md), the stage boundaries, bad
// input, predict.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/util/fs.h"

namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

const std::string kBin = std::string(GK_BINARY_DIR) + "/bin/greenknobs";

// ctest runs each test as its own process, in parallel: every scratch path carries the pid.
std::string scratch(const std::string& name) {
    return testing::TempDir() + "gk" + std::to_string(::getpid()) + "_" + name;
}

struct Result {
    int code = -1;
    std::string out;
};

// Runs a shell line from the source dir (the bundled data paths are relative to it).
Result run(const std::string& args, const std::string& stdin_text = "") {
    std::string in_path = scratch("stdin.txt");
    std::ofstream(in_path) << stdin_text;
    std::string out_path = scratch("stdout.txt");
    std::string cmd = "cd " + std::string(GK_SOURCE_DIR) + " && " + kBin + " " + args + " < " +
                      in_path + " > " + out_path + " 2>" + out_path + ".err";
    int status = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = gk::fs::read_file(out_path);
    return r;
}

std::string tiny_args() {
    return "--set model.preset=test-tiny --set data.max_train_samples=96 --set "
           "data.max_eval_samples=48 "
           "--set train.epochs=2 --set train.batch_size=16 --set tokenizer.max_length=64 "
           "--set energy.sample_period_s=0.05";
}

class PipelineCli : public testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = scratch("pipeline_run");
        stdfs::remove_all(dir_);
        Result r = run("-q train " + tiny_args() + " --out " + dir_);
        ASSERT_EQ(r.code, 0) << r.out << gk::fs::read_file(scratch("stdout.txt.err"));
        record_ = json::parse(gk::fs::read_file(dir_ + "/run.json"));
    }
    static std::string dir_;
    static json record_;
};
std::string PipelineCli::dir_;
json PipelineCli::record_;

TEST_F(PipelineCli, RunJsonIsCompleteAndFollowsTheSchema) {
    EXPECT_EQ(record_["schema"], "greenknobs.run/1");
    EXPECT_EQ(record_["status"], "complete");
    EXPECT_TRUE(record_["error"].is_null());
    EXPECT_EQ(record_["config_hash"].get<std::string>().size(), 64u);
    EXPECT_EQ(record_["config"]["model"]["preset"], "test-tiny");
    for (const char* k :
         {"machine", "knobs", "data", "model", "train", "metrics", "energy", "model_flops"}) {
        EXPECT_TRUE(record_.contains(k)) << k;
    }
    EXPECT_EQ(record_["model"]["layers"], 3);
    EXPECT_EQ(record_["data"]["train"], 96);
    EXPECT_EQ(record_["train"]["epochs_run"], 2);
    EXPECT_EQ(record_["train"]["validation"].size(), 2u);
    const json& m = record_["metrics"];
    for (const char* k :
         {"f1_vul", "precision_vul", "recall_vul", "accuracy", "f1_macro", "f1_weighted", "mcc"}) {
        ASSERT_TRUE(m[k].is_number()) << k;
        EXPECT_GE(m[k].get<double>(), -1.0);
        EXPECT_LE(m[k].get<double>(), 1.0);
    }
    const json& cm = m["confusion"];
    EXPECT_EQ(cm["tn"].get<int>() + cm["fp"].get<int>() + cm["fn"].get<int>() + cm["tp"].get<int>(),
              record_["data"]["test"].get<int>());
    EXPECT_GT(m["j_per_sample"].get<double>(), 0.0);
}

TEST_F(PipelineCli, SixStagesInOrderWithNestedValidation) {
    std::vector<std::string> top;
    int validate = 0;
    for (const auto& s : record_["energy"]["stages"]) {
        if (s["parent"].is_null()) {
            top.push_back(s["name"]);
        } else {
            EXPECT_EQ(s["parent"], "train");
            EXPECT_EQ(s["path"], "train/validate");
            ++validate;
        }
        EXPECT_GE(s["energy_j"]["cpu"].get<double>(), 0.0);
        EXPECT_EQ(s["provenance"]["cpu"], "modelled");
        EXPECT_TRUE(s["energy_j"]["gpu"].is_null());  // no GPU here: n/a, never 0
    }
    EXPECT_EQ(top, (std::vector<std::string>{"load_dataset", "tokenize", "load_model", "train",
                                             "save", "evaluate"}));
    EXPECT_EQ(validate, 2);  // one per epoch
}

TEST_F(PipelineCli, WritesCsvsAndAnHfModelDirectory) {
    std::string csv = gk::fs::read_file(dir_ + "/emissions.csv");
    for (const char* col :
         {"duration", "emissions", "cpu_energy", "ram_energy", "energy_consumed", "stage"}) {
        EXPECT_NE(csv.substr(0, csv.find('\n')).find(col), std::string::npos) << col;
    }
    EXPECT_TRUE(stdfs::exists(dir_ + "/power.csv"));
    for (const char* f :
         {"model.safetensors", "config.json", "tokenizer.json", "greenknobs.json"}) {
        EXPECT_TRUE(stdfs::exists(dir_ + "/model/" + f)) << f;
    }
    json cfg = json::parse(gk::fs::read_file(dir_ + "/model/config.json"));
    EXPECT_EQ(cfg["num_hidden_layers"], 3);
    EXPECT_EQ(cfg["model_type"], "modernbert");
}

TEST_F(PipelineCli, PredictTextAndIdsAgree) {
    const std::string fn = "int f(char *s) { char b[8]; strcpy(b, s); return 0; }";
    Result tok = run("tokenize --tokenizer data/modernbert/tokenizer.json --max-length 64",
                     json{{"text", fn}}.dump() + "\n");
    ASSERT_EQ(tok.code, 0) << tok.out;
    json ids = json::parse(tok.out.substr(0, tok.out.find('\n')))["ids"];
    Result a =
        run("predict --model " + dir_ + "/model",
            json{{"text", fn}}.dump() + "\n" + json{{"text", "void g(void) {}"}}.dump() + "\n");
    ASSERT_EQ(a.code, 0) << a.out;
    Result b = run("predict --model " + dir_ + "/model", json{{"input_ids", ids}}.dump() + "\n");
    ASSERT_EQ(b.code, 0) << b.out;
    std::istringstream lines(a.out);
    std::string first, second;
    std::getline(lines, first);
    std::getline(lines, second);
    json ja = json::parse(first), jb = json::parse(b.out.substr(0, b.out.find('\n')));
    EXPECT_NEAR(ja["logits"][0].get<double>(), jb["logits"][0].get<double>(), 1e-5);
    EXPECT_NEAR(ja["logits"][1].get<double>(), jb["logits"][1].get<double>(), 1e-5);
    EXPECT_TRUE(ja["label"] == 0 || ja["label"] == 1);
    EXPECT_GE(ja["p_vul"].get<double>(), 0.0);
    EXPECT_LE(ja["p_vul"].get<double>(), 1.0);
    EXPECT_FALSE(second.empty());
}

TEST_F(PipelineCli, PredictBadLineIsExit2WithPlace) {
    Result r = run("predict --model " + dir_ + "/model", "{\"text\": \"int x;\"}\nnot json\n");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(gk::fs::read_file(scratch("stdout.txt.err")).find("<stdin>:2"), std::string::npos);
}

// predict reads each line with the strict JSON reader: a duplicate key (the last would win), bytes
// that are not UTF-8 and anything after the object are exit 2 naming <stdin>:<line>.
TEST_F(PipelineCli, PredictLinesAreStrictJson) {
    const std::string ok = "{\"text\": \"int x;\"}\n";
    const std::pair<std::string, std::string> cases[] = {
        {"{\"text\": \"int x;\", \"text\": \"int y;\"}", "duplicate key 'text'"},
        {"{\"input_ids\": [1, 2], \"input_ids\": [3]}", "duplicate key 'input_ids'"},
        {"{\"text\": \"int \xFF;\"}", "not valid UTF-8"},
        {"{\"text\": \"int x;\"} {}", "invalid JSON"},
    };
    for (const auto& [line, expect] : cases) {
        Result r = run("predict --model " + dir_ + "/model", ok + line + "\n");
        const std::string err = gk::fs::read_file(scratch("stdout.txt.err"));
        EXPECT_EQ(r.code, 2) << line << ": " << err;
        EXPECT_NE(err.find("<stdin>:2: "), std::string::npos) << err;
        EXPECT_NE(err.find(expect), std::string::npos) << err;
    }
}

// A tokenizer whose ids do not fit the model's embedding is refused before the model runs, naming
// both files (was LibTorch's "index out of range" mid-batch); ids that fit still work.
TEST(PredictVocab, ATokenizerLargerThanTheModelsVocabularyIsExit2NamingBothFiles) {
    const std::string model = scratch("vocab_model");
    stdfs::remove_all(model);
    stdfs::create_directories(model);
    const std::string fixture = std::string(GK_SOURCE_DIR) + "/tests/model/fixtures/ref-3layer";
    for (const char* f : {"config.json", "model.safetensors"}) {
        stdfs::copy_file(fixture + "/" + f, model + "/" + f);  // vocab_size 64
    }
    stdfs::copy_file(std::string(GK_SOURCE_DIR) + "/data/modernbert/tokenizer.json",
                     model + "/tokenizer.json");  // ids up to 50367
    Result r = run("predict --model " + model, "{\"text\": \"int x;\"}\n");
    const std::string err = gk::fs::read_file(scratch("stdout.txt.err"));
    EXPECT_EQ(r.code, 2) << err;
    EXPECT_NE(err.find(model + "/tokenizer.json"), std::string::npos) << err;
    EXPECT_NE(err.find(model + "/config.json has vocab_size 64"), std::string::npos) << err;
    EXPECT_NE(err.find("50367"), std::string::npos) << err;
    EXPECT_TRUE(r.out.empty());

    Result ids = run("predict --model " + model, "{\"input_ids\": [1, 5, 2]}\n");
    EXPECT_EQ(ids.code, 0) << gk::fs::read_file(scratch("stdout.txt.err"));
    EXPECT_TRUE(json::parse(ids.out.substr(0, ids.out.find('\n'))).contains("logits"));
}

// A masked LM's [MASK] id must be a row of its embedding, wherever the id came from.
TEST(PredictVocab, AMaskIdOutsideTheVocabularyIsExit2) {
    const std::string model = std::string(GK_SOURCE_DIR) + "/tests/model/fixtures/ref-mlm";
    Result r = run("predict --model " + model + " --mask-id 64", "{\"input_ids\": [1, 5, 2]}\n");
    const std::string err = gk::fs::read_file(scratch("stdout.txt.err"));
    EXPECT_EQ(r.code, 2) << err;
    EXPECT_NE(err.find("--mask-id: [MASK] id 64 is not below"), std::string::npos) << err;
    EXPECT_NE(err.find("ref-mlm/config.json's vocab_size 64"), std::string::npos) << err;

    Result ok = run("predict --model " + model + " --mask-id 5", "{\"input_ids\": [1, 5, 2]}\n");
    EXPECT_EQ(ok.code, 0) << gk::fs::read_file(scratch("stdout.txt.err"));
    EXPECT_EQ(json::parse(ok.out.substr(0, ok.out.find('\n')))["masks"].size(), 1u);
}

TEST_F(PipelineCli, CompleteRunIsNeverOverwrittenSilently) {
    std::string before = gk::fs::read_file(dir_ + "/run.json");
    Result r = run("-q train " + tiny_args() + " --out " + dir_);
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(gk::fs::read_file(dir_ + "/run.json"), before);
}

TEST(PipelineEnergy, ProcessScopeChargesTheRunsOwnProcessTree) {
    // The shared-machine setting: the CPU and RAM models follow this run's process tree, and the
    // record says so per source and per stage.
    const std::string dir = scratch("pipeline_process_scope");
    stdfs::remove_all(dir);
    Result r =
        run("-q train " + tiny_args() +
            " --set data.max_train_samples=32 --set train.epochs=1 --set energy.scope=process"
            " --out " +
            dir);
    ASSERT_EQ(r.code, 0) << r.out << gk::fs::read_file(scratch("stdout.txt.err"));
    const json rec = json::parse(gk::fs::read_file(dir + "/run.json"));
    EXPECT_EQ(rec["config"]["energy"]["scope"], "process");
    int models = 0;
    for (const auto& s : rec["energy"]["sources"]) {
        if (s["provenance"] == "modelled" && s["used"] == true) {
            EXPECT_EQ(s["scope"], "process-tree") << s;
            ++models;
        }
    }
    EXPECT_GE(models, 1) << rec["energy"]["sources"];  // the RAM model at least (CPU: unless RAPL)
    Result bad = run("train --set energy.scope=node --print-config");
    EXPECT_EQ(bad.code, 2);
    const std::string err = gk::fs::read_file(scratch("stdout.txt.err"));
    EXPECT_NE(err.find("energy.scope"), std::string::npos) << err;
}

TEST(PipelineBadInput, MissingColumnFailsWithExit2AndIsNotComplete) {
    std::string data = scratch("bad.csv");
    std::ofstream(data) << "func_before,label\n\"int x;\",1\n";
    std::string dir = scratch("bad_run");
    stdfs::remove_all(dir);
    Result r = run("train " + tiny_args() + " --set data.path=" + data + " --out " + dir);
    EXPECT_EQ(r.code, 2);
    std::string err = gk::fs::read_file(scratch("stdout.txt.err"));
    EXPECT_NE(err.find("bad.csv"), std::string::npos) << err;
    EXPECT_NE(err.find("vul"), std::string::npos) << err;
    json rec = json::parse(gk::fs::read_file(dir + "/run.json"));
    EXPECT_EQ(rec["status"], "failed");
    EXPECT_FALSE(rec["error"].is_null());
}

TEST(PipelineBadInput, UnknownKeyAndUnknownVariantAreExit2) {
    EXPECT_EQ(run("train --set train.nope=1 --print-config").code, 2);
    EXPECT_EQ(run("train --variant V99 --print-config").code, 2);
}

TEST(PipelineConfig, VariantResolvesAndHashIsStable) {
    Result a = run("train --variant V7 --print-config");
    Result b = run("train --variant V7 --print-config");
    ASSERT_EQ(a.code, 0) << a.out;
    EXPECT_EQ(a.out, b.out);
    EXPECT_NE(a.out.find("precision = \"bf16\""), std::string::npos) << a.out;
    Result c = run("train --print-config");
    EXPECT_NE(a.out.substr(a.out.find("config_hash")), c.out.substr(c.out.find("config_hash")));
}

}  // namespace
