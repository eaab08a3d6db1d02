// Whole tunes through the binary: with a fake trainer whose numbers follow the config (the search's
// decisions, resume after kill -9 replaying them exactly, settings checked on resume, the chosen
// TOML run by the real `greenknobs train`), one small tune of real training runs, and a tune of a
// command catalog (a fake command: its knobs, its metrics, its fidelity argument).
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/study/store.h"
#include "greenknobs/util/fs.h"

#include "../common/temp_dir.h"
#include "command_catalog_fixture.h"

namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

const char* kTinyConfig = R"(
[data]
path = "data/juliet/juliet_functions.csv"
max_train_samples = 160
max_eval_samples = 48

[tokenizer]
max_length = 64

[model]
preset = "test-tiny"

[train]
batch_size = 16

[energy]
sample_period_s = 0.05
)";

// A fresh subdirectory of this process's temp dir (the same name again: emptied first).
std::string tmp_dir(const std::string& name) {
    static const gk::testing::TempDir root("tune_cli");
    const std::string d = root / name;
    stdfs::remove_all(d);
    stdfs::create_directories(d);
    return d;
}

// Runs the binary from the source directory (bundled data paths are relative to it).
int run(const std::vector<std::string>& args, const std::string& env = "",
        std::string* output = nullptr) {
    std::string cmd = "cd " + std::string(GK_SOURCE_DIR) + " && " + env + " " + GK_BIN;
    for (const auto& a : args) {
        cmd += " '" + a + "'";
    }
    const std::string out = tmp_dir("out") + "/o.txt";
    cmd += " > " + out + " 2>&1";
    const int status = std::system(cmd.c_str());
    if (output != nullptr) {
        *output = gk::fs::read_file(out);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> fake_tune_args(const std::string& config, const std::string& out) {
    return {"tune",
            "--config",
            config,
            "--budget",
            "f1_drop=1.0",
            "--knobs",
            "max_length,precision,grad_checkpointing,threads",
            "--levels",
            "3",
            "--fidelities",
            "0.5",
            "--max-runs",
            "20",
            "--out",
            out,
            "--train-bin",
            GK_FAKE_TUNE_TRAIN,
            "--no-report"};
}

int count_lines(const std::string& path) {
    std::ifstream in(path);
    int n = 0;
    std::string line;
    while (std::getline(in, line)) {
        n += line.empty() ? 0 : 1;
    }
    return n;
}

int count_run_jsons(const std::string& dir) {
    int n = 0;
    if (!stdfs::exists(dir)) {
        return 0;
    }
    for (const auto& e : stdfs::recursive_directory_iterator(dir)) {
        if (e.path().filename() == "run.json") {
            ++n;
        }
    }
    return n;
}

class TuneCli : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        root_ = tmp_dir("suite");
        config_ = root_ + "/tiny.toml";
        gk::fs::write_file_atomic(config_, kTinyConfig);
        ref_ = root_ + "/ref";
        std::string out;
        ref_code_ = run(fake_tune_args(config_, ref_),
                        "GK_FAKE_SLEEP_MS=0 GK_FAKE_ORDER_LOG=" + root_ + "/ref-order.log", &out);
        ref_output_ = out;
    }
    static void TearDownTestSuite() {
        stdfs::remove_all(root_);
        stdfs::remove_all(tmp_dir("out"));
    }
    static std::string root_, config_, ref_, ref_output_;
    static int ref_code_;
};
std::string TuneCli::root_, TuneCli::config_, TuneCli::ref_, TuneCli::ref_output_;
int TuneCli::ref_code_ = -1;

TEST_F(TuneCli, FindsTheCombinationAndVerifiesIt) {
    ASSERT_EQ(ref_code_, 0) << ref_output_;
    const json s = json::parse(gk::fs::read_file(ref_ + "/search.json"));
    // bf16 (x0.6) and one thread (x0.8) save; max_length 32 costs 4 F1 points; checkpointing and
    // max_length 512 cost energy.
    ASSERT_EQ(s["verified"].size(), 2u) << s["steps"].dump(1);
    const json& chosen = s["verified"][0];
    EXPECT_TRUE(chosen["knobs"].contains("precision"));
    EXPECT_TRUE(chosen["knobs"].contains("threads"));
    EXPECT_NEAR(chosen["saving_pct"]["mean"].get<double>(), 52.0, 1.0);
    EXPECT_EQ(chosen["saving_pct"]["n"], 3);
    EXPECT_TRUE(chosen["holds_on_validation"].get<bool>());
    EXPECT_TRUE(chosen["holds_on_test"].get<bool>());
    EXPECT_EQ(s["picked"], chosen["id"]);
    bool checkpointing_dropped = false;
    for (const auto& st : s["steps"]) {
        if (st["label"] == "grad_checkpointing=true") {
            checkpointing_dropped = st["decision"] == "dropped";
        }
    }
    EXPECT_TRUE(checkpointing_dropped);
    // The space names what it left out and why (fp16 needs CUDA: precision keeps bf16 only).
    EXPECT_FALSE(s["space"]["moves"].empty());
    // The chosen configuration, runnable as written.
    const std::string toml = gk::fs::read_file(ref_ + "/chosen.toml");
    EXPECT_NE(toml.find("precision = \"bf16\""), std::string::npos);
    EXPECT_NE(toml.find("greenknobs train --config"), std::string::npos);
    // Accounting: every run's energy, and a break-even.
    EXPECT_GT(s["accounting"]["search_energy_j"].get<double>(), 0);
    EXPECT_GT(s["accounting"]["break_even_runs"].get<double>(), 0);
    EXPECT_EQ(s["accounting"]["runs"].get<int>(), count_lines(root_ + "/ref-order.log"));
}

TEST_F(TuneCli, ResumesAfterKill9WithTheSameDecisions) {
    ASSERT_EQ(ref_code_, 0) << ref_output_;
    const std::string out = root_ + "/killed";
    const std::string log = root_ + "/killed-order.log";
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::setenv("GK_FAKE_SLEEP_MS", "300", 1);
        ::setenv("GK_FAKE_ORDER_LOG", log.c_str(), 1);
        if (::chdir(GK_SOURCE_DIR) != 0) {
            ::_exit(127);
        }
        const int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
        std::vector<std::string> args = fake_tune_args(config_, out);
        std::vector<char*> argv = {const_cast<char*>(GK_BIN)};
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(GK_BIN, argv.data());
        ::_exit(127);
    }
    // Kill it mid-search: after a few runs completed and while another one runs.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (count_run_jsons(out + "/studies") < 4 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_FALSE(stdfs::exists(out + "/search.json"));

    // Other settings are refused; the same command finishes it.
    std::vector<std::string> other = fake_tune_args(config_, out);
    other[4] = "f1_drop=2.0";
    EXPECT_EQ(run(other, "GK_FAKE_SLEEP_MS=0"), 2);
    std::string output;
    ASSERT_EQ(
        run(fake_tune_args(config_, out), "GK_FAKE_SLEEP_MS=0 GK_FAKE_ORDER_LOG=" + log, &output),
        0)
        << output;
    const json a = json::parse(gk::fs::read_file(ref_ + "/search.json"));
    const json b = json::parse(gk::fs::read_file(out + "/search.json"));
    EXPECT_EQ(a["steps"], b["steps"]);
    EXPECT_EQ(a["points"], b["points"]);
    EXPECT_EQ(a["verified"], b["verified"]);
    // No complete run ran twice: at most the one killed in flight started again.
    const int ref_runs = count_lines(root_ + "/ref-order.log");
    const int starts = count_lines(log);
    EXPECT_GE(starts, ref_runs);
    EXPECT_LE(starts, ref_runs + 1);
    // Each batch is a study directory with one complete row per run.
    for (const auto& e : stdfs::directory_iterator(out + "/studies")) {
        gk::study::SqliteStore store((e.path() / "study.sqlite").string());
        const auto st = store.study();
        ASSERT_TRUE(st.has_value());
        EXPECT_EQ(static_cast<int>(store.complete_runs(st->id).size()),
                  static_cast<int>(st->variants.size()) * st->repeats)
            << e.path();
    }
}

TEST_F(TuneCli, ChosenTomlRunsWithTrain) {
    ASSERT_EQ(ref_code_, 0) << ref_output_;
    const std::string dir = root_ + "/train-chosen";
    std::string output;
    ASSERT_EQ(run({"-q", "train", "--config", ref_ + "/chosen.toml", "--out", dir}, "", &output), 0)
        << output;
    const json r = json::parse(gk::fs::read_file(dir + "/run.json"));
    EXPECT_EQ(r["status"], "complete");
    EXPECT_EQ(r["config"]["train"]["precision"], "bf16");
    EXPECT_EQ(r["config"]["system"]["threads"], 1);
    EXPECT_EQ(r["train"]["precision"], "bf16");  // what ran, not only what was asked
}

TEST_F(TuneCli, DryRunListsTheSpaceAndRunsNothing) {
    std::string output;
    ASSERT_EQ(run({"tune", "--config", config_, "--budget", "f1_drop=1", "--dry-run", "--out",
                   root_ + "/dry"},
                  "", &output),
              0)
        << output;
    EXPECT_NE(output.find("max_length=32"), std::string::npos) << output;
    EXPECT_NE(output.find("excluded early_stopping"), std::string::npos) << output;
    EXPECT_FALSE(stdfs::exists(root_ + "/dry"));
}

TEST_F(TuneCli, BadInputExitsTwo) {
    EXPECT_EQ(run({"tune", "--config", config_, "--budget", "speed=3", "--out", root_ + "/bad"}),
              2);
    EXPECT_EQ(run({"tune", "--config", config_, "--budget", "f1_drop=1", "--max-runs", "5", "--out",
                   root_ + "/bad2", "--train-bin", GK_FAKE_TUNE_TRAIN}),
              2);
    EXPECT_EQ(run({"tune", "--config", config_, "--budget", "f1_drop=1", "--knobs", "nope", "--out",
                   root_ + "/bad3"}),
              2);
}

// A small tune of real training runs (test-tiny preset, 160 samples): the search runs end to end,
// every run is metered, the report is written.
TEST(TuneRealRuns, SmallTuneEndToEnd) {
    const std::string root = tmp_dir("real");
    gk::fs::write_file_atomic(root + "/tiny.toml", kTinyConfig);
    std::string output;
    ASSERT_EQ(run({"tune", "--config", root + "/tiny.toml", "--budget", "f1_drop=100", "--knobs",
                   "max_length", "--levels", "3", "--fidelities", "0.5", "--max-runs", "14",
                   "--out", root + "/t"},
                  "", &output),
              0)
        << output;
    const json s = json::parse(gk::fs::read_file(root + "/t/search.json"));
    // max_length 512, 256 and 32 at half the samples, each beside a baseline run of its own
    // (three screening baselines, the default).
    ASSERT_EQ(s["points"].size(), 6u);
    int baselines = 0;
    for (const auto& p : s["points"]) {
        EXPECT_TRUE(p["ok"].get<bool>()) << p.dump();
        EXPECT_GT(p["energy_j"].get<double>(), 0);
        EXPECT_GT(p["reference_energy_j"].get<double>(), 0) << p.dump();
        EXPECT_EQ(p["group"], "rung-f0.5");
        baselines += p["id"] == "B" ? 1 : 0;
    }
    EXPECT_EQ(baselines, 3);
    // Every run scored its validation split through the evaluation path (what the search read),
    // and the search left that stage out of the run's energy.
    const json run =
        json::parse(gk::fs::read_file(root + "/t/studies/01-screen-f0.5/runs/B-r0/run.json"));
    ASSERT_TRUE(run["evaluation"].contains("validation_metrics")) << run["evaluation"];
    double stage_j = 0;
    for (const auto& st : run["energy"]["stages"]) {
        if (st["name"] == "evaluate_validation") {
            stage_j = st["energy_j"]["total"].get<double>();
        }
    }
    EXPECT_GT(stage_j, 0);
    for (const auto& p : s["points"]) {
        if (p["batch"] == "01-screen-f0.5" && p["id"] == "B") {
            EXPECT_NEAR(p["energy_j"].get<double>(),
                        run["energy"]["total"]["energy_j"]["total"].get<double>() - stage_j, 1e-6);
            EXPECT_DOUBLE_EQ(p["val_f1"].get<double>(),
                             run["evaluation"]["validation_metrics"]["f1_vul"].get<double>());
        }
    }
    EXPECT_TRUE(stdfs::exists(root + "/t/report/index.html"));
    const std::string html = gk::fs::read_file(root + "/t/report/index.html");
    EXPECT_NE(html.find("Every step and why"), std::string::npos);
    if (s["picked"].is_null()) {
        EXPECT_NE(s["pick_why"].get<std::string>().find("baseline"), std::string::npos);
    } else {
        EXPECT_TRUE(stdfs::exists(root + "/t/chosen.toml"));
        EXPECT_EQ(s["verified"][0]["saving_pct"]["n"], 3);
    }
    if (!HasFailure()) {
        stdfs::remove_all(root);
    }
}

std::string command_catalog(const std::string& tune_table) {
    return gk::testing::command_catalog(GK_FAKE_COMMAND, tune_table);
}

TEST(TuneCommand, TunesACommandCatalogsKnobsOnItsOwnMetrics) {
    const std::string root = tmp_dir("command");
    const std::string catalog = root + "/job.toml";
    gk::fs::write_file_atomic(catalog, command_catalog("[tune]\nvalidation_metric = \"val_score\"\n"
                                                       "fidelity_arg = \"--fidelity\"\n"));
    std::string output;
    ASSERT_EQ(run({"tune", "--catalog", catalog, "--budget", "f1_drop=1.0", "--fidelities", "0.5",
                   "--max-runs", "30", "--compare", "V1", "--out", root + "/t"},
                  "", &output),
              0)
        << output;
    const json s = json::parse(gk::fs::read_file(root + "/t/search.json"));
    // The space is the catalog's knobs; the tenth's 10-point validation loss drops it.
    ASSERT_EQ(s["space"]["moves"].size(), 3u) << s["space"];
    bool tenth_dropped = false;
    for (const auto& st : s["steps"]) {
        if (st["label"] == "tenth" && st["phase"] == "screen") {
            tenth_dropped = st["decision"] == "dropped";
        }
    }
    EXPECT_TRUE(tenth_dropped) << s["steps"];
    ASSERT_FALSE(s["picked"].is_null()) << s["pick_why"];
    json pick;
    for (const auto& v : s["verified"]) {
        pick = v["id"] == s["picked"] ? v : pick;
    }
    EXPECT_TRUE(pick["knobs"].contains("half")) << pick;
    EXPECT_FALSE(pick["knobs"].contains("tenth")) << pick;
    EXPECT_DOUBLE_EQ(pick["test_f1_drop_points"]["mean"].get<double>(), 0.0);  // test_score's
    // Screening runs were asked for half the work; verification runs are the command as it is.
    int screened = 0, verified = 0;
    for (const auto& e : stdfs::recursive_directory_iterator(root + "/t/studies")) {
        if (e.path().filename() != "run.json") {
            continue;
        }
        const json r = json::parse(gk::fs::read_file(e.path().string()));
        const std::string where = e.path().string();
        const double fidelity = r["metrics"]["fidelity"].get<double>();
        if (where.find("-screen-") != std::string::npos) {
            EXPECT_DOUBLE_EQ(fidelity, 0.5) << where;
            ++screened;
        } else if (where.find("-verify-") != std::string::npos) {
            EXPECT_DOUBLE_EQ(fidelity, 1.0) << where;
            ++verified;
        }
    }
    EXPECT_EQ(screened, 6);  // three knobs, three baselines
    // The baseline and every verified configuration (chosen, a runner-up if any, V1), 3 repeats.
    EXPECT_EQ(verified, 3 * (1 + static_cast<int>(s["verified"].size())));
    // The pick as a command spec that `greenknobs measure` runs.
    const std::string chosen = root + "/t/chosen.json";
    ASSERT_TRUE(stdfs::exists(chosen)) << output;
    EXPECT_NE(output.find("greenknobs measure --spec " + chosen), std::string::npos) << output;
    const json spec = json::parse(gk::fs::read_file(chosen));
    const auto argv = spec["argv"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(argv.begin(), argv.end(), "0.2"), argv.end()) << spec;
    EXPECT_EQ(std::find(argv.begin(), argv.end(), "--fidelity"), argv.end()) << spec;
    ASSERT_EQ(run({"measure", "--spec", chosen, "--out", root + "/m"}, "", &output), 0) << output;
    const json measured = json::parse(gk::fs::read_file(root + "/m/run.json"));
    EXPECT_DOUBLE_EQ(measured["metrics"]["val_score"].get<double>(), 0.80);
    const std::string html = gk::fs::read_file(root + "/t/report/index.html");
    EXPECT_NE(html.find("the catalog's [[knob]]s"), std::string::npos);
    if (!HasFailure()) {
        stdfs::remove_all(root);
    }
}

TEST(TuneCommand, RefusesACatalogItCannotTune) {
    const std::string root = tmp_dir("command-bad");
    const std::string plain = root + "/plain.toml";
    gk::fs::write_file_atomic(plain, command_catalog(""));
    std::string output;
    EXPECT_EQ(run({"tune", "--catalog", plain, "--budget", "f1_drop=1", "--out", root + "/t"}, "",
                  &output),
              2);
    EXPECT_NE(output.find("no [tune] table"), std::string::npos) << output;
    const std::string no_hook = root + "/no-hook.toml";
    gk::fs::write_file_atomic(no_hook,
                              command_catalog("[tune]\nvalidation_metric = \"val_score\"\n"));
    EXPECT_EQ(run({"tune", "--catalog", no_hook, "--budget", "f1_drop=1", "--fidelities", "0.3",
                   "--out", root + "/t"},
                  "", &output),
              2);
    EXPECT_NE(output.find("fidelity_arg"), std::string::npos) << output;
    EXPECT_FALSE(stdfs::exists(root + "/t/tune.json"));
    stdfs::remove_all(root);
}

}  // namespace
